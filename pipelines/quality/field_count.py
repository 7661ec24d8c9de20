"""Built-in rule `schema.fields`: a row with fewer fields than the header goes to quarantine, never padded."""

from __future__ import annotations

from typing import Any, Literal

import polars as pl

from pipelines.ingest.shape import SHORT_EXPECTED, SHORT_FIELDS, SHORT_LINE
from pipelines.quality.kinds import Context, KindExecutor, _flag
from pipelines.spec.rules import RuleBase

RULE_ID = "schema.fields"


class FieldCount(RuleBase):
    """Internal kind: the row has as many fields as the header (generated when a file has short rows). Clause N-1."""

    kind: Literal["field_count"]


class FieldCountExec(KindExecutor):
    kind = "field_count"
    clause = "N-1"

    def flags(self, rule: FieldCount, ctx: Context) -> pl.Expr:
        return _flag(pl.col(SHORT_FIELDS).is_null())

    def evaluated(self, rule: FieldCount, ctx: Context) -> pl.Expr:
        return pl.lit(True)

    def reason(self, rule: FieldCount, ctx: Context) -> pl.Expr:
        n = pl.col(SHORT_FIELDS)
        got = (
            pl.when(n == 0)
            .then(pl.lit("an empty line"))
            .when(n == 1)
            .then(pl.lit("1 field"))
            .otherwise(pl.format("{} fields", n))
        )
        return pl.format("line {}: {} where {} expected", pl.col(SHORT_LINE), got, pl.col(SHORT_EXPECTED))

    def expectation(self, rule: FieldCount, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectColumnValuesToBeNull(column=SHORT_FIELDS)


def field_count_rule() -> FieldCount:
    """The `schema.fields` rule, added to a run whose staged rows came from a file with short rows."""
    return FieldCount(
        kind="field_count",
        id=RULE_ID,
        description="Each row has as many fields as the file's header; a shorter row is quarantined, not padded with nulls.",
    )


__all__ = ["RULE_ID", "FieldCount", "FieldCountExec", "field_count_rule"]
