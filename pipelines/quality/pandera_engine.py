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
BUCKET_ROWS = 2_000_000  # rows a windowed rule's pass holds at a time (about half a GB for a series rule)


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
    """The flag frames a run wrote into `flags_dir`, in pass order (`flags-<pass>-<bucket>.parquet`)."""
    return sorted(flags_dir.glob("flags-*.parquet"), key=lambda p: tuple(int(x) for x in p.stem.split("-")[1:]))


def evaluated_counts(flags: list[pl.LazyFrame], rules: list[RuleBase]) -> dict[str, int]:
    """How many rows each rule evaluated, summed over the flag frames (a windowed rule's buckets add up)."""
    out = {r.id: 0 for r in rules}
    for f in flags:
        names = set(f.collect_schema().names())
        cols = [evaluated_column(r) for r in rules if evaluated_column(r) in names]
        if cols:
            row = f.select([pl.col(c).sum() for c in cols]).collect().row(0)
            for c, n in zip(cols, row, strict=True):
                out[c.removeprefix("evaluated:")] += int(n or 0)
    return out


def _frames(lf: pl.LazyFrame, group: list[RuleBase], ctx: Context, rows: int) -> list[pl.LazyFrame]:
    """The flag frames of one pass: one for row-local rules; a windowed rule's rows split in buckets by a hash of
    the columns its windows are partitioned by (its series' entity, its key, its groups), so every series, key
    or group lies whole in one bucket and the result is exact, while each bucket holds about `BUCKET_ROWS` rows."""
    ex = executor_for(group[0])
    cols = ex.bucket_columns(group[0], ctx) if len(group) == 1 and ex.windowed else []
    k = max(1, -(-rows // BUCKET_ROWS)) if cols else 1
    if k == 1:
        return [flag_frame(lf, group, ctx)]
    bucket = pl.struct(cols).hash(seed=0) % k
    return [flag_frame(lf.filter(bucket == b), group, ctx) for b in range(k)]


def run(lf: pl.LazyFrame, rules: list[RuleBase], ctx: Context, flags_dir: Path | None = None) -> pl.DataFrame:
    """Validate `lf` (rows numbered 0.. in `_row_id` order) against the row-level `rules`.

    The flags are computed in passes: the rules a row decides alone, streamed over every column; then
    each rule that reads other rows, over only the columns it uses and, on large data, in buckets of
    whole series, keys or groups (`_frames`), so memory holds a few columns of a few million rows at
    any size. With `flags_dir`, each pass is written there (`flags-<pass>-<bucket>.parquet`) and read
    back by pandera; otherwise (small data, tests) it is held in memory in one piece.

    Returns:
        One row per flagged (row, rule): `_row_id`, `rule_id`, `flag` (4 fail or 3 suspect).

    Raises:
        IntegrityError: if pandera reports a failure that is not one of our checks (a dtype mismatch
            after conversion means a bug, not bad data).
    """
    found = [pl.DataFrame(schema=FAILURES_SCHEMA)]
    rows = lf.select(pl.len()).collect().item() if flags_dir is not None else 0
    for i, group in enumerate(_passes(rules)):
        for b, frame in enumerate(_frames(lf, group, ctx, rows)):
            if flags_dir is not None:
                path = flags_dir / f"flags-{i}-{b}.parquet"
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
    row_ids = flags.select(ROW_ID)
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
        # pandera reports positions in the slice; the slice's `_row_id` column says which rows they are.
        ids = row_ids.slice(offset, CHUNK_ROWS).collect().to_series()
        found.append(
            pl.DataFrame(
                {
                    ROW_ID: ids.gather(fc["index"].cast(pl.UInt32)),
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
