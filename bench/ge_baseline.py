"""Baseline: the benchmark's rules as a Great Expectations 1.x suite on pandas, the common hand-built way.

pandas reads every CSV file (declared types, timestamps parsed), then an ephemeral GE context with a
pandas data source validates one expectation per rule of `project/quality_rules/sensor_bench.yaml`
plus the spec's implied ones (not-null keys, the (machine_id, ts) primary key). GE has no equivalent
for three of them, so they get the closest construction (documented in bench/README.md):

* `increasing` per machine: one `ExpectColumnValuesToBeIncreasing(strictly=True)` per machine, each
  with a `row_condition` selecting that machine (GE has no group-by for column map expectations);
* `expression` (`total_count = good_count + scrap_count`): a derived pandas column of the difference,
  expected to be 0; the non-negative counts rule is three `ExpectColumnValuesToBeBetween(min 0)`;
* `gap` per machine: a derived pandas column of the interval to the machine's previous sample (in
  time order), expected at most period x 3 = 30 s (moshu's fail factor).

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
from great_expectations.expectations.row_conditions import Column

FLOATS = (
    "spindle_speed_rpm", "spindle_load_pct", "feed_rate_mm_min", "coolant_temp_c", "hydraulic_pressure_bar",
    "vibration_mm_s", "power_kw", "tool_wear_min",
)  # fmt: skip
COUNTS = ("total_count", "good_count", "scrap_count")
SPANS = {
    "spindle_speed_rpm": (0, 24_000), "spindle_load_pct": (0, 150), "feed_rate_mm_min": (0, 20_000),
    "coolant_temp_c": (-10, 90), "hydraulic_pressure_bar": (0, 250), "vibration_mm_s": (0, 100),
    "power_kw": (0, 60), "tool_wear_min": (0, 600),
}  # fmt: skip
STATES = ["RUN", "IDLE", "SETUP", "ALARM", "OFF"]
GAP_FAIL_S = 30.0


def read(folder: Path) -> pd.DataFrame:
    """Every CSV file of the folder, with the spec's types, in file order."""
    dtypes: dict[str, Any] = {"machine_id": "string", "line_id": "string", "status": "string"}
    dtypes |= dict.fromkeys(FLOATS, "float64") | dict.fromkeys(COUNTS, "int32")
    frames = [
        pd.read_csv(p, dtype=dtypes, parse_dates=["ts"], date_format="%Y-%m-%d %H:%M:%S") for p in sorted(folder.glob("*.csv"))
    ]
    return pd.concat(frames, ignore_index=True)


def derive(df: pd.DataFrame) -> pd.DataFrame:
    """Add the derived columns of the rules GE cannot express: count balance and per-machine gap."""
    df["_balance"] = df["total_count"] - df["good_count"] - df["scrap_count"]
    ordered = df[["machine_id", "ts"]].sort_values(["machine_id", "ts"], kind="stable")
    df["_gap_s"] = ordered.groupby("machine_id")["ts"].diff().dt.total_seconds()  # aligned back by index
    return df


def expectations(machines: list[str]) -> list[Any]:
    """One expectation per rule (several where GE needs them)."""
    e = gx.expectations
    out: list[Any] = [
        e.ExpectTableRowCountToBeBetween(min_value=1000),
        e.ExpectColumnValuesToNotBeNull(column="ts"),
        e.ExpectColumnValuesToNotBeNull(column="machine_id"),
        e.ExpectCompoundColumnsToBeUnique(column_list=["machine_id", "ts"]),
        e.ExpectColumnValuesToMatchRegex(column="machine_id", regex=r"^M-[0-9]{3}$"),
        e.ExpectColumnValuesToMatchRegex(column="line_id", regex=r"^L-[0-9]{1,2}$"),
        e.ExpectColumnValuesToBeInSet(column="status", value_set=STATES),
        e.ExpectColumnValuesToNotBeNull(column="coolant_temp_c"),
        *(e.ExpectColumnValuesToBeBetween(column=c, min_value=lo, max_value=hi) for c, (lo, hi) in SPANS.items()),
        *(e.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in COUNTS),
        e.ExpectColumnValuesToBeBetween(column="_balance", min_value=0, max_value=0),
        e.ExpectColumnValuesToBeBetween(column="_gap_s", max_value=GAP_FAIL_S),
    ]
    out += [
        e.ExpectColumnValuesToBeIncreasing(column="ts", strictly=True, row_condition=Column("machine_id") == m) for m in machines
    ]
    return out


def validate(df: pd.DataFrame) -> dict[str, Any]:
    """Run the suite on the frame in an ephemeral context; return a summary per expectation."""
    context = gx.get_context(mode="ephemeral")
    batch = context.data_sources.add_pandas("bench").add_dataframe_asset("sensors").add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name="sensor_bench"))
    for exp in expectations(sorted(df["machine_id"].dropna().unique().tolist())):
        suite.add_expectation(exp)
    vd = context.validation_definitions.add(gx.ValidationDefinition(name="bench", data=batch, suite=suite))
    result = vd.run(batch_parameters={"dataframe": df}, result_format="BASIC")
    rows = []
    for r in result.results:
        cfg = r.expectation_config
        assert cfg is not None, "a validation result always names its expectation"
        rows.append({
            "type": cfg.type, "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"),
            "condition": str(cfg.kwargs.get("row_condition") or "") or None,
            "success": r.success, "unexpected_count": r.result.get("unexpected_count"),
        })  # fmt: skip
    return {"success": result.success, "expectations": len(rows), "results": rows}


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
