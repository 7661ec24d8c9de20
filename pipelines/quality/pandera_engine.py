"""Row-level rules through pandera's polars backend: one named check per rule, every failure collected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.config import ValidationDepth, config_context

from pipelines.errors import IntegrityError
from pipelines.quality.kinds import POLARS_DTYPES, Context
from pipelines.quality.registry import executor_for
from pipelines.spec.rules import RuleBase

ROW_ID = "_row_id"


def _check_fn(expr: pl.Expr) -> Callable[[PolarsData], pl.LazyFrame]:
    def fn(data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(expr.alias("passes"))

    return fn


def build_schema(rules: list[RuleBase], ctx: Context) -> pa.DataFrameSchema:
    """A pandera schema: the spec's column dtypes plus one DataFrame-level check per row-level rule."""
    columns = {c.name: pa.Column(POLARS_DTYPES[c.dtype], nullable=True) for c in ctx.spec.columns}
    checks = [pa.Check(_check_fn(executor_for(r).passes(r, ctx)), name=r.id, error=r.description or r.id) for r in rules]
    return pa.DataFrameSchema(columns=columns, checks=checks, strict=False, name=ctx.spec.name)


def run(lf: pl.LazyFrame, rules: list[RuleBase], ctx: Context) -> pl.DataFrame:
    """Validate `lf` (whose rows are numbered 0.. in `_row_id` order) against the row-level `rules`.

    Returns:
        One row per (failing row, rule): columns `_row_id`, `rule_id`.

    Raises:
        IntegrityError: if pandera reports a failure that is not one of our rules (a dtype mismatch
            after conversion means a bug, not bad data).
    """
    empty = pl.DataFrame(schema={ROW_ID: pl.UInt32, "rule_id": pl.String})
    if not rules:
        return empty
    schema = build_schema(rules, ctx)
    # The pandera polars backend checks a LazyFrame at schema level only unless told otherwise.
    with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        try:
            schema.validate(lf, lazy=True)
            return empty
        except pa.errors.SchemaErrors as e:
            fc: Any = e.failure_cases
    fc = fc if isinstance(fc, pl.DataFrame) else pl.from_pandas(fc)
    # DataFrame-level checks are numbered in the order given: check_number -> rule.
    frame_level = pl.col("schema_context") == "DataFrameSchema"
    unknown = fc.filter(~frame_level | pl.col("index").is_null())
    if unknown.height:
        raise IntegrityError(f"pandera reported failures outside the rule set (a moshu bug): {unknown.head(5)}")
    numbering = pl.DataFrame(
        {"check_number": list(range(len(rules))), "rule_id": [r.id for r in rules]},
        schema={"check_number": fc.schema["check_number"], "rule_id": pl.String},
    )
    return fc.join(numbering, on="check_number", how="left").select(pl.col("index").cast(pl.UInt32).alias(ROW_ID), "rule_id")
