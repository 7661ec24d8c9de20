"""Internal rule kind `enrich_match`: a row's key found its row in an `enrich` file (`on_missing: quarantine`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from pipelines.quality.kinds import Context, KindExecutor, _flag, _keyed
from pipelines.spec.rules import RuleBase

if TYPE_CHECKING:
    from pipelines.spec.models import DatasetSpec

MATCHED_PREFIX = "__enrich__"  # staged boolean column per keyed `enrich` file: the row's key has a row in the file


def matched_column(label: str) -> str:
    """The staged column saying whether a row found its row in the `enrich` file called `label`."""
    return MATCHED_PREFIX + label


class EnrichMatch(RuleBase):
    """Internal kind: the row's key has a row in an `enrich` file (generated per keyed file). Clause C-1."""

    kind: Literal["enrich_match"]
    lookup: str
    path: str
    keys: tuple[str, ...]

    def columns_used(self) -> tuple[str, ...]:
        return self.keys


class EnrichMatchExec(KindExecutor):
    kind = "enrich_match"
    clause = "C-1"

    def flags(self, rule: EnrichMatch, ctx: Context) -> pl.Expr:
        return _flag(pl.col(matched_column(rule.lookup)))

    def evaluated(self, rule: EnrichMatch, ctx: Context) -> pl.Expr:
        return pl.lit(True)

    def reason(self, rule: EnrichMatch, ctx: Context) -> pl.Expr:
        return _keyed(rule.keys, f"no row of `{rule.path}` has ", "")

    def expectation(self, rule: EnrichMatch, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=f'SELECT * FROM {{batch}} WHERE NOT "{matched_column(rule.lookup)}"',
            description=rule.description or f"every row's key has a row in `{rule.path}`",
        )


def enrich_rules(spec: DatasetSpec) -> list[RuleBase]:
    """One `enrich.<name>.missing` rule per keyed `enrich` file with `on_missing: quarantine`."""
    return [
        EnrichMatch(
            kind="enrich_match",
            id=f"enrich.{e.label}.missing",
            lookup=e.label,
            path=e.path,
            keys=tuple(e.keys),
            description=f"Each row's {', '.join(e.keys)} has a row in `{e.path}`.",
        )
        for e in spec.enrich
        if e.by == "key" and e.on_missing == "quarantine"
    ]


__all__ = ["MATCHED_PREFIX", "EnrichMatch", "EnrichMatchExec", "enrich_rules", "matched_column"]
