"""Row-level rules through pandera's polars backend: named checks per rule, every failure collected lazily.

Each rule gives a QARTOD flag per row. All the rules' flags (and which rows each rule evaluates) are
computed in one polars pass over the data, so a rule that looks at neighbouring rows (a window per
machine) is computed once, not once per check; the pass is written to a narrow Parquet file when a
path is given. pandera then validates that flag frame: one check "flag is not 4" per rule and, for
rules that can flag suspect values, one check "flag is not 3", each reading one small column. The
failure cases it collects become (`_row_id`, `rule_id`, `flag`) rows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.config import ValidationDepth, config_context

from pipelines.errors import IntegrityError
from pipelines.quality.kinds import FAIL, SUSPECT, Context
from pipelines.quality.registry import executor_for
from pipelines.spec.rules import RuleBase

ROW_ID = "_row_id"
FAILURES_SCHEMA = {ROW_ID: pl.UInt32, "rule_id": pl.String, "flag": pl.UInt8}
CHUNK_ROWS = 1_000_000  # rows of a flag frame pandera validates at a time


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


def flag_column(rule: RuleBase) -> str:
    """Column of the flag frame holding `rule`'s QARTOD flag."""
    return f"flag:{rule.id}"


def evaluated_column(rule: RuleBase) -> str:
    """Column of the flag frame that is true where `rule` evaluated the row (counted in its measure's B)."""
    return f"evaluated:{rule.id}"


def flag_frame(lf: pl.LazyFrame, rules: list[RuleBase], ctx: Context) -> pl.LazyFrame:
    """One pass over `lf`: `_row_id`, then each rule's flag (UInt8) and evaluated mark (Boolean)."""
    anchor = pl.col(ROW_ID).is_not_null()  # anchored to a column so that literal predicates broadcast to every row
    exprs: list[pl.Expr] = []
    for r in rules:
        ex = executor_for(r)
        exprs += [
            ex.flags(r, ctx).cast(pl.UInt8).alias(flag_column(r)),
            (anchor & ex.evaluated(r, ctx)).alias(evaluated_column(r)),
        ]
    # `with_columns` then `select`, not `select(expr)`: see `_check_fn`.
    names = [n for r in rules for n in (flag_column(r), evaluated_column(r))]
    return lf.with_columns(exprs).select(ROW_ID, *names)


def build_schema(rules: list[RuleBase], ctx: Context) -> tuple[pa.DataFrameSchema, list[tuple[RuleBase, int]]]:
    """A pandera schema of the flag frame: one flag column per rule, and a check per flag value a rule must not take."""
    checks = _checks(rules, ctx)
    columns = {flag_column(r): pa.Column(pl.UInt8, nullable=False) for r in rules}
    pa_checks = [
        pa.Check(
            _check_fn(pl.col(flag_column(r)) != flag),
            name=f"{r.id}{'' if flag == FAIL else '#suspect'}",
            error=r.description or r.id,
        )
        for r, flag in checks
    ]
    return pa.DataFrameSchema(columns=columns, checks=pa_checks, strict=False, name=ctx.spec.name), checks


def _passes(rules: list[RuleBase]) -> list[list[RuleBase]]:
    """The rules in passes: those a row decides alone (one streamed pass), then each rule that reads other rows
    in a pass of its own over just its columns, so memory holds one window's work at a time."""
    local = [r for r in rules if not executor_for(r).windowed]
    return ([local] if local else []) + [[r] for r in rules if executor_for(r).windowed]


def flag_files(flags_dir: Path) -> list[Path]:
    """The flag frames a run wrote into `flags_dir`, in pass order."""
    return sorted(flags_dir.glob("flags-*.parquet"), key=lambda p: int(p.stem.split("-")[1]))


def evaluated_counts(flags: list[pl.LazyFrame], rules: list[RuleBase]) -> dict[str, int]:
    """How many rows each rule evaluated, from the flag frames."""
    out: dict[str, int] = {}
    for f in flags:
        names = set(f.collect_schema().names())
        cols = [evaluated_column(r) for r in rules if evaluated_column(r) in names]
        if cols:
            row = f.select([pl.col(c).sum() for c in cols]).collect().row(0)
            out.update({c.removeprefix("evaluated:"): int(n or 0) for c, n in zip(cols, row, strict=True)})
    return out


def run(lf: pl.LazyFrame, rules: list[RuleBase], ctx: Context, flags_dir: Path | None = None) -> pl.DataFrame:
    """Validate `lf` (rows numbered 0.. in `_row_id` order) against the row-level `rules`.

    The flags are computed in passes: the rules a row decides alone, streamed over every column; then
    each rule that reads other rows, over only the columns it uses (so at 10M rows a window pass holds
    a few columns, not the whole frame). With `flags_dir`, each pass is written there
    (`flags-<n>.parquet`) and read back by pandera; otherwise they are held in memory.

    Returns:
        One row per flagged (row, rule): `_row_id`, `rule_id`, `flag` (4 fail or 3 suspect).

    Raises:
        IntegrityError: if pandera reports a failure that is not one of our checks (a dtype mismatch
            after conversion means a bug, not bad data).
    """
    found = [pl.DataFrame(schema=FAILURES_SCHEMA)]
    for i, group in enumerate(_passes(rules)):
        frame = flag_frame(lf, group, ctx)
        if flags_dir is not None:
            path = flags_dir / f"flags-{i}.parquet"
            frame.sink_parquet(path)
            flags = pl.scan_parquet(path)
        else:
            flags = frame.collect().lazy()
        found.append(_validate(flags, group, ctx))
    return pl.concat(found)


def _validate(flags: pl.LazyFrame, rules: list[RuleBase], ctx: Context) -> pl.DataFrame:
    """pandera over one flag frame, `CHUNK_ROWS` rows at a time; its failure cases as (`_row_id`, `rule_id`, `flag`).

    pandera holds what it validates in memory; flags are final per row, so validating them in slices is exact.
    """
    schema, checks = build_schema(rules, ctx)
    numbering = {i: (r.id, f) for i, (r, f) in enumerate(checks)}
    frame = flags.select([flag_column(r) for r in rules])
    rows = flags.select(pl.len()).collect().item()
    found = [pl.DataFrame(schema=FAILURES_SCHEMA)]
    for offset in range(0, rows, CHUNK_ROWS):
        fc = _failure_cases(schema, frame.slice(offset, CHUNK_ROWS))
        if fc is None:
            continue
        # DataFrame-level checks are numbered in the order given: check_number -> (rule, flag).
        unknown = fc.filter((pl.col("schema_context") != "DataFrameSchema") | pl.col("index").is_null())
        if unknown.height:
            raise IntegrityError(f"pandera reported failures outside the rule set (a moshu bug): {unknown.head(5)}")
        # A flag frame holds every row in `_row_id` order, so the position in the frame is the `_row_id`.
        found.append(
            pl.DataFrame(
                {
                    ROW_ID: (fc["index"].cast(pl.Int64) + offset).cast(pl.UInt32),
                    "rule_id": [numbering[int(c)][0] for c in fc["check_number"]],
                    "flag": [numbering[int(c)][1] for c in fc["check_number"]],
                },
                schema=FAILURES_SCHEMA,
            )
        )
    return pl.concat(found)


def _failure_cases(schema: pa.DataFrameSchema, frame: pl.LazyFrame) -> pl.DataFrame | None:
    # The pandera polars backend checks a LazyFrame at schema level only unless told otherwise.
    with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        try:
            schema.validate(frame, lazy=True)
            return None
        except pa.errors.SchemaErrors as e:
            fc: Any = e.failure_cases
    return fc if isinstance(fc, pl.DataFrame) else pl.from_pandas(fc)
