"""The one place rule kinds are registered: kind name -> executor."""

from __future__ import annotations

from pipelines.errors import SpecError, SpecIssue
from pipelines.quality.kinds import (
    DTypeExec,
    ExpressionExec,
    InRangeExec,
    InSetExec,
    KindExecutor,
    NotNullExec,
    RegexExec,
    RowCountExec,
    UniqueExec,
)
from pipelines.spec.rules import RuleBase

EXECUTORS: dict[str, KindExecutor] = {
    e.kind: e
    for e in (
        NotNullExec(),
        DTypeExec(),
        InRangeExec(),
        InSetExec(),
        UniqueExec(),
        RegexExec(),
        ExpressionExec(),
        RowCountExec(),
    )
}


def executor_for(rule: RuleBase) -> KindExecutor:
    """Return the executor registered for the rule's kind."""
    kind = getattr(rule, "kind", None)
    try:
        return EXECUTORS[str(kind)]
    except KeyError:
        raise SpecError([SpecIssue("<rules>", None, None, rule.id, f"no executor registered for kind `{kind}`")]) from None
