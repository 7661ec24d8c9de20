"""The one place rule kinds are registered: kind name -> (parse model, executor).

A project can add its own kinds without touching the engine: put a Python file in
`quality_rules/kinds/` that calls `register_kind(Model, Executor())` (see docs/custom_rules.md).
"""

from __future__ import annotations

from pipelines.errors import SpecError, SpecIssue
from pipelines.quality import dataset_kinds as dk
from pipelines.quality import enrich_kind as ek
from pipelines.quality import field_count as fc
from pipelines.quality import kinds as rk
from pipelines.quality import ts_kinds as tk
from pipelines.spec.rules import RULE_KINDS, RuleBase

EXECUTORS: dict[str, rk.KindExecutor] = {
    e.kind: e
    for e in (
        rk.NotNullExec(), rk.DTypeExec(), rk.InRangeExec(), rk.InSetExec(), rk.UniqueExec(), rk.DuplicateRecordsExec(),
        rk.RegexExec(), rk.ExpressionExec(), rk.RecordCompletenessExec(), rk.OutlierShareExec(), rk.ReferenceExec(),
        rk.LatencyExec(), tk.IncreasingExec(), tk.GapExec(), tk.SpikeExec(), tk.RateOfChangeExec(), tk.FlatLineExec(),
        tk.AttenuatedSignalExec(), dk.RowCountExec(), dk.TimeCoverageExec(), dk.FreshnessExec(), dk.ClassBalanceExec(),
        dk.LabelCoverageExec(), dk.ClassMinCountExec(), dk.InformativeFeaturesExec(), dk.UnitConsistencyExec(),
        ek.EnrichMatchExec(),
        fc.FieldCountExec(),
    )
}  # fmt: skip
MODELS: dict[str, type[RuleBase]] = {m.model_fields["kind"].annotation.__args__[0]: m for m in RULE_KINDS}  # type: ignore[union-attr]


def register_kind(model: type[RuleBase], executor: rk.KindExecutor) -> None:
    """Add a rule kind: its parse model (with `kind: Literal["..."]`) and its executor."""
    kind = executor.kind
    declared = model.model_fields["kind"].annotation.__args__[0]  # type: ignore[union-attr]
    if declared != kind:
        raise ValueError(f"model `{model.__name__}` declares kind `{declared}` but its executor says `{kind}`")
    MODELS[kind] = model
    EXECUTORS[kind] = executor


def executor_for(rule: RuleBase) -> rk.KindExecutor:
    """Return the executor registered for the rule's kind."""
    try:
        return EXECUTORS[rule.kind]
    except KeyError:
        raise SpecError([SpecIssue("<rules>", None, None, rule.id, f"no executor registered for kind `{rule.kind}`")]) from None
