"""Baseline: the benchmark's rules by hand in polars and pandera, as a polars user would write them.

A typed lazy scan of every CSV file, collected once by polars' streaming engine; a pandera polars
schema holding the spec's types, its not-null keys and primary key and the row-local rules of
`project/quality_rules/sensor_bench.yaml`, validated with `lazy=True` at validation depth
`SCHEMA_AND_DATA` (on a LazyFrame pandera's polars backend runs the schema-level checks only,
otherwise); the two windowed rules as polars window expressions (`over("machine_id")`). Every
failing row's position comes from pandera's failure cases and the window flags; then `sink_parquet`
streams the failing rows with their rule ids to `quarantine.parquet` and the rest to `clean.parquet`.
The `gap` rule is a warning, as in the rule file: counted, never quarantined. No versioning, catalog
or report.

With `--lazy` nothing is collected first: pandera, the windows and both sinks each run on the scan,
so the CSV files are parsed again for every query pandera collects (one or more per check).

    python bench/polars_pandera.py 'data/*.csv' out/pp/ [--lazy]   (writes clean.parquet, quarantine.parquet, summary.json)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl
from baseline_rules import COUNTS, GAP_FAIL_S, GAP_SUSPECT_S, SPANS, STATUSES
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaErrors

STRINGS = ("machine_id", "line_id", "status")
TYPES: dict[str, Any] = (
    {"ts": pl.Datetime("us")}
    | dict.fromkeys(STRINGS, pl.String)
    | dict.fromkeys(SPANS, pl.Float64)
    | dict.fromkeys(COUNTS, pl.Int32)
)
NOT_NULL = {"ts": "schema.not_null.ts", "machine_id": "schema.not_null.machine_id", "coolant_temp_c": "sb.coolant_temp.present"}
INDEX = "_row"
RULE_IDS: tuple[str, ...] = (
    "schema.not_null.ts", "schema.not_null.machine_id", "schema.primary_key", "sb.machine_id.format", "sb.line_id.format",
    "sb.status.allowed", "sb.coolant_temp.present", *(rule for rule, _, _ in SPANS.values()), "sb.counts.non_negative",
    "sb.counts.balance", "sb.row_count", "sb.ts.increasing", "sb.ts.gap",
)  # fmt: skip
"""Every rule this baseline checks: the spec's not-null keys and primary key (its dtypes are the scan's), the 17 rules."""


def _row_count(data: pa.PolarsData) -> bool:
    return bool(data.lazyframe.select(pl.len()).collect().item() >= 1000)


def schema() -> pa.DataFrameSchema:
    """The spec's types, not-null keys and primary key, and the 15 row-local rules; each check reports its rule id.

    pandera names a failure case by the check's `error`, else its `name`: built-in checks get the rule id as `error`.
    """
    columns: dict[str, pa.Column] = {
        "ts": pa.Column(pl.Datetime("us"), nullable=False),
        "machine_id": pa.Column(pl.String, pa.Check.str_matches(r"^M-[0-9]{3}$", error="sb.machine_id.format"), nullable=False),
        "line_id": pa.Column(pl.String, pa.Check.str_matches(r"^L-[0-9]{1,2}$", error="sb.line_id.format"), nullable=True),
        "status": pa.Column(pl.String, pa.Check.isin(STATUSES, error="sb.status.allowed"), nullable=True),
    }
    for col, (rule, lo, hi) in SPANS.items():
        columns[col] = pa.Column(pl.Float64, pa.Check.in_range(lo, hi, error=rule), nullable=col not in NOT_NULL)
    columns |= {col: pa.Column(pl.Int32, nullable=True) for col in COUNTS}
    checks = [
        pa.Check(lambda d: d.lazyframe.select(pl.min_horizontal(*COUNTS) >= 0), name="sb.counts.non_negative"),
        pa.Check(
            lambda d: d.lazyframe.select(pl.col("total_count") == pl.col("good_count") + pl.col("scrap_count")),
            name="sb.counts.balance",
        ),
        pa.Check(_row_count, name="sb.row_count"),
    ]
    return pa.DataFrameSchema(columns, checks=checks, unique=["machine_id", "ts"], strict=True)


def _rule_of(column: str | None, check: str) -> str:
    """The rule id of one pandera failure case (checks are named by rule id; pandera names its own)."""
    if check == "not_nullable" and column is not None:
        return NOT_NULL.get(column, f"schema.not_null.{column}")
    if check == "multiple_fields_uniqueness":
        return "schema.primary_key"
    if check.startswith("dtype("):
        return f"schema.dtype.{column}"
    return check


def pandera_failures(lf: pl.LazyFrame) -> tuple[pl.DataFrame, list[str]]:
    """(row position, rule id) of every failing row, and the rules that failed without rows (row count)."""
    with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        try:
            schema().validate(lf, lazy=True)
        except SchemaErrors as exc:
            cases = exc.failure_cases
        else:
            return pl.DataFrame(schema={INDEX: pl.UInt32, "rule_id": pl.String}), []
    rules = [_rule_of(c, k) for c, k in cases.select("column", "check").iter_rows()]
    cases = cases.with_columns(rule_id=pl.Series(rules, dtype=pl.String))
    whole = cases.filter(pl.col("index").is_null())["rule_id"].unique().to_list()
    rows = cases.filter(pl.col("index").is_not_null()).select(pl.col("index").cast(pl.UInt32).alias(INDEX), "rule_id")
    return rows.unique(), whole


def window_flags(lf: pl.LazyFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """(row position, rule id) of rows failing `increasing`, and the gap rule's suspect and fail counts (warn)."""
    step = pl.col("ts").diff().over("machine_id")  # file order: each report after the machine's previous one
    gap = pl.col("ts").diff().over("machine_id", order_by="ts").dt.total_seconds()  # time order
    flags = (
        lf.with_row_index(INDEX)
        .select(INDEX, increasing=step <= pl.duration(), gap_s=gap)
        .filter(pl.col("increasing") | (pl.col("gap_s") > GAP_SUSPECT_S))
        .collect(engine="streaming")
    )
    gap_counts = {
        "suspect": flags.filter(pl.col("gap_s").is_between(GAP_SUSPECT_S, GAP_FAIL_S, closed="right")).height,
        "failed": flags.filter(pl.col("gap_s") > GAP_FAIL_S).height,
    }
    rows = flags.filter("increasing").select(INDEX, rule_id=pl.lit("sb.ts.increasing"))
    return rows, gap_counts


def write(lf: pl.LazyFrame, failures: pl.DataFrame, out: Path) -> None:
    """Stream the rows from the scan: failing rows with their sorted rule ids to quarantine, the rest to clean."""
    per_row = failures.group_by(INDEX).agg(rule_ids=pl.col("rule_id").unique().sort())
    rows = lf.with_row_index(INDEX).join(per_row.lazy(), on=INDEX, how="left", maintain_order="left")
    rows.filter(pl.col("rule_ids").is_not_null()).sink_parquet(out / "quarantine.parquet")
    rows.filter(pl.col("rule_ids").is_null()).drop(INDEX, "rule_ids").sink_parquet(out / "clean.parquet")


def main() -> None:
    """Scan, validate, flag the windows, write; a JSON summary with the rows each rule failed and each step's time."""
    glob, out, lazy = sys.argv[1], Path(sys.argv[2]), "--lazy" in sys.argv[3:]
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    scan = pl.scan_csv(glob, schema=TYPES)
    lf = scan if lazy else scan.collect(engine="streaming").lazy()
    t0 = time.perf_counter()
    rows_pa, whole = pandera_failures(lf)
    t1 = time.perf_counter()
    rows_win, gap = window_flags(lf)
    t2 = time.perf_counter()
    failures = pl.concat([rows_pa, rows_win])
    write(lf, failures, out)
    t3 = time.perf_counter()
    failed = dict.fromkeys(RULE_IDS, 0) | dict(failures.group_by("rule_id").len().iter_rows()) | {"sb.ts.gap": gap["failed"]}
    summary = {
        "lazy": lazy,
        "failed_rows": failed,
        "suspect_rows": {"sb.ts.gap": gap["suspect"]},
        "failed_without_rows": whole,
        "quarantined_rows": failures[INDEX].n_unique(),
        "timings_s": {"collect": t0 - t_start, "pandera": t1 - t0, "windows": t2 - t1, "write": t3 - t2},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
