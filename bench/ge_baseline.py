"""Baseline: the benchmark's rules as a Great Expectations 1.x suite on pandas, each in its cheapest form.

pandas reads every CSV file (declared types, timestamps parsed), then an ephemeral GE context with a
pandas data source validates one expectation per rule of `project/quality_rules/sensor_bench.yaml`
plus the spec's implied ones (not-null keys, the (machine_id, ts) primary key). GE 1.24 has no
expectation for three of them, so each becomes one derived pandas column (computed once, vectorised)
checked by one `ExpectColumnValuesToBeBetween`; no expectation uses a `row_condition`:

* `increasing` per machine: `_ts_step_s`, the interval to the machine's previous row in file
  order (`groupby("machine_id")["ts"].diff()`), expected strictly above 0 (a machine's first row
  has none, and GE skips missing values);
* `expression` (`total_count = good_count + scrap_count`): `_balance`, the difference, expected 0;
  the non-negative counts rule: `_min_count`, the least of the three counts, expected at least 0;
* `gap` per machine (warn): `_gap_s`, the interval to the machine's previous sample in time order,
  expected at most period x 3 = 30 s (moshu's fail factor) and, as the suspect band, at most
  period x 1.5 = 15 s; both with GE's `severity="warning"`.

It validates only: it writes no Parquet, no quarantine, no catalog; a JSON summary goes to the given file.

    python bench/ge_baseline.py data/ out/ge.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from baseline_rules import COUNTS, GAP_FAIL_S, GAP_SUSPECT_S, SPANS, STATUSES

FLOATS = (
    "spindle_speed_rpm", "spindle_load_pct", "feed_rate_mm_min", "coolant_temp_c", "hydraulic_pressure_bar",
    "vibration_mm_s", "power_kw", "tool_wear_min",
)  # fmt: skip


def read(folder: Path) -> pd.DataFrame:
    """Every CSV file of the folder, with the spec's types, in file order."""
    dtypes: dict[str, Any] = {"machine_id": "string", "line_id": "string", "status": "string"}
    dtypes |= dict.fromkeys(FLOATS, "float64") | dict.fromkeys(COUNTS, "int32")
    frames = [
        pd.read_csv(p, dtype=dtypes, parse_dates=["ts"], date_format="%Y-%m-%d %H:%M:%S") for p in sorted(folder.glob("*.csv"))
    ]
    return pd.concat(frames, ignore_index=True)


def derive(df: pd.DataFrame) -> pd.DataFrame:
    """Add the derived columns: step in file order, count balance, least count, gap in time order."""
    df["_ts_step_s"] = df.groupby("machine_id", sort=False)["ts"].diff().dt.total_seconds()
    df["_balance"] = df["total_count"] - df["good_count"] - df["scrap_count"]
    df["_min_count"] = df[list(COUNTS)].min(axis=1)
    ordered = df[["machine_id", "ts"]].sort_values(["machine_id", "ts"], kind="stable")
    df["_gap_s"] = ordered.groupby("machine_id", sort=False)["ts"].diff().dt.total_seconds()  # aligned back by index
    return df


def expectations() -> list[Any]:
    """One expectation per rule, its rule id in `meta` (the gap rule has two: its fail and suspect bands)."""
    e = gx.expectations

    def rule(rule_id: str, band: str = "fail") -> dict[str, Any]:
        return {"meta": {"rule_id": rule_id, "band": band}}

    return [
        e.ExpectTableRowCountToBeBetween(min_value=1000, **rule("sb.row_count")),
        e.ExpectColumnValuesToNotBeNull(column="ts", **rule("schema.not_null.ts")),
        e.ExpectColumnValuesToNotBeNull(column="machine_id", **rule("schema.not_null.machine_id")),
        e.ExpectCompoundColumnsToBeUnique(column_list=["machine_id", "ts"], **rule("schema.primary_key")),
        e.ExpectColumnValuesToMatchRegex(column="machine_id", regex=r"^M-[0-9]{3}$", **rule("sb.machine_id.format")),
        e.ExpectColumnValuesToMatchRegex(column="line_id", regex=r"^L-[0-9]{1,2}$", **rule("sb.line_id.format")),
        e.ExpectColumnValuesToBeInSet(column="status", value_set=STATUSES, **rule("sb.status.allowed")),
        e.ExpectColumnValuesToNotBeNull(column="coolant_temp_c", **rule("sb.coolant_temp.present")),
        *(e.ExpectColumnValuesToBeBetween(column=c, min_value=lo, max_value=hi, **rule(r)) for c, (r, lo, hi) in SPANS.items()),
        e.ExpectColumnValuesToBeBetween(column="_min_count", min_value=0, **rule("sb.counts.non_negative")),
        e.ExpectColumnValuesToBeBetween(column="_balance", min_value=0, max_value=0, **rule("sb.counts.balance")),
        e.ExpectColumnValuesToBeBetween(column="_ts_step_s", min_value=0, strict_min=True, **rule("sb.ts.increasing")),
        e.ExpectColumnValuesToBeBetween(column="_gap_s", max_value=GAP_FAIL_S, severity="warning", **rule("sb.ts.gap")),
        e.ExpectColumnValuesToBeBetween(
            column="_gap_s", max_value=GAP_SUSPECT_S, severity="warning", **rule("sb.ts.gap", "suspect")
        ),
    ]


def validate(df: pd.DataFrame) -> dict[str, Any]:
    """Run the suite on the frame in an ephemeral context; return a summary per expectation."""
    context = gx.get_context(mode="ephemeral")
    batch = context.data_sources.add_pandas("bench").add_dataframe_asset("sensors").add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name="sensor_bench"))
    for exp in expectations():
        suite.add_expectation(exp)
    vd = context.validation_definitions.add(gx.ValidationDefinition(name="bench", data=batch, suite=suite))
    result = vd.run(batch_parameters={"dataframe": df}, result_format="BASIC")
    rows = []
    for r in result.results:
        cfg = r.expectation_config
        assert cfg is not None, "a validation result always names its expectation"
        rows.append({
            "rule_id": cfg.meta["rule_id"], "band": cfg.meta["band"], "type": cfg.type,
            "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"), "severity": str(cfg.severity.value),
            "success": r.success, "unexpected_count": r.result.get("unexpected_count"),
        })  # fmt: skip
    failed = {r["rule_id"]: r["unexpected_count"] for r in rows if r["band"] == "fail"}
    suspect = {r["rule_id"]: r["unexpected_count"] for r in rows if r["band"] == "suspect"}
    return {"success": result.success, "expectations": len(rows), "failed_rows": failed, "suspect_rows": suspect, "results": rows}


def main() -> None:
    """Read, derive, validate; write a JSON summary with the time of each step."""
    t0 = time.perf_counter()
    df = read(Path(sys.argv[1]))
    t1 = time.perf_counter()
    df = derive(df)
    t2 = time.perf_counter()
    summary = validate(df)
    t3 = time.perf_counter()
    summary |= {"rows": len(df), "timings_s": {"read_csv": t1 - t0, "derive": t2 - t1, "validate": t3 - t2}}
    Path(sys.argv[2]).write_text(json.dumps(summary, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
