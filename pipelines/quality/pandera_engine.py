"""Row-level rules through pandera's polars backend: named checks per rule, every failure collected lazily.

Each rule gives a QARTOD flag per row. pandera runs one check "flag is not 4" per rule and, for rules
that can flag suspect values, one check "flag is not 3"; the failure cases it collects become
(`_row_id`, `rule_id`, `flag`) rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.config import ValidationDepth, config_context

from pipelines.errors import IntegrityError
from pipelines.quality.kinds import FAIL, POLARS_DTYPES, SUSPECT, Context
from pipelines.quality.registry import executor_for
from pipelines.spec.rules import RuleBase

ROW_ID = "_row_id"
FAILURES_SCHEMA = {ROW_ID: pl.UInt32, "rule_id": pl.String, "flag": pl.UInt8}


def _check_fn(expr: pl.Expr) -> Callable[[PolarsData], pl.LazyFrame]:
    def fn(data: PolarsData) -> pl.LazyFrame:
        # `with_columns` then `select`, not `select(expr)`: polars 2.1 returns a lazy `select` of
        # when/then expressions in the wrong row order, and pandera locates failures by position.
        return data.lazyframe.with_columns(expr.alias("__passes")).select(pl.col("__passes").alias("passes"))

    return fn


def _checks(rules: list[RuleBase], ctx: Context) -> list[tuple[RuleBase, int]]:
    """(rule, flag) for every pandera check, in the order the checks are declared."""
    out: list[tuple[RuleBase, int]] = []
    for r in rules:
        out.append((r, FAIL))
        if executor_for(r).can_suspect(r, ctx):
            out.append((r, SUSPECT))
    return out


def build_schema(rules: list[RuleBase], ctx: Context) -> tuple[pa.DataFrameSchema, list[tuple[RuleBase, int]]]:
    """A pandera schema: the spec's column dtypes plus the rules' flag checks, and what each check means."""
    columns = {c.name: pa.Column(POLARS_DTYPES[c.dtype], nullable=True) for c in ctx.spec.columns}
    checks = _checks(rules, ctx)
    pa_checks = [
        pa.Check(
            _check_fn(executor_for(r).flags(r, ctx) != flag),
            name=f"{r.id}{'' if flag == FAIL else '#suspect'}",
            error=r.description or r.id,
        )
        for r, flag in checks
    ]
    return pa.DataFrameSchema(columns=columns, checks=pa_checks, strict=False, name=ctx.spec.name), checks


def run(lf: pl.LazyFrame, rules: list[RuleBase], ctx: Context) -> pl.DataFrame:
    """Validate `lf` (rows numbered 0.. in `_row_id` order) against the row-level `rules`.

    Returns:
        One row per flagged (row, rule): `_row_id`, `rule_id`, `flag` (4 fail or 3 suspect).

    Raises:
        IntegrityError: if pandera reports a failure that is not one of our checks (a dtype mismatch
            after conversion means a bug, not bad data).
    """
    empty = pl.DataFrame(schema=FAILURES_SCHEMA)
    if not rules:
        return empty
    schema, checks = build_schema(rules, ctx)
    # The pandera polars backend checks a LazyFrame at schema level only unless told otherwise.
    with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        try:
            schema.validate(lf, lazy=True)
            return empty
        except pa.errors.SchemaErrors as e:
            fc: Any = e.failure_cases
    fc = fc if isinstance(fc, pl.DataFrame) else pl.from_pandas(fc)
    # DataFrame-level checks are numbered in the order given: check_number -> (rule, flag).
    frame_level = pl.col("schema_context") == "DataFrameSchema"
    unknown = fc.filter(~frame_level | pl.col("index").is_null())
    if unknown.height:
        raise IntegrityError(f"pandera reported failures outside the rule set (a moshu bug): {unknown.head(5)}")
    numbering = pl.DataFrame(
        {"check_number": list(range(len(checks))), "rule_id": [r.id for r, _ in checks], "flag": [f for _, f in checks]},
        schema={"check_number": fc.schema["check_number"], "rule_id": pl.String, "flag": pl.UInt8},
    )
    return fc.join(numbering, on="check_number", how="left").select(
        pl.col("index").cast(pl.UInt32).alias(ROW_ID), "rule_id", "flag"
    )
