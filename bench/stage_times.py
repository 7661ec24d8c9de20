"""Seconds spent in each step of the latest Dagster run of a warehouse (moshu's stages: raw, validated, ...).

Read from the run's event log in `<warehouse>/.dagster` after the run, so timing it costs the run nothing.

    python bench/stage_times.py WAREHOUSE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import dagster as dg


def stage_times(warehouse: Path) -> dict[str, float]:
    """Step key -> seconds from STEP_START to STEP_SUCCESS (or STEP_FAILURE), in start order."""
    instance = dg.DagsterInstance.from_config(str(warehouse / ".dagster"))
    runs = instance.get_runs(limit=1)
    if not runs:
        return {}
    starts: dict[str, float] = {}
    out: dict[str, float] = {}
    for entry in instance.all_logs(runs[0].run_id):
        ev = entry.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type_value == "STEP_START":
            starts[ev.step_key] = entry.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in starts:
            out[ev.step_key] = round(entry.timestamp - starts[ev.step_key], 3)
    return out


if __name__ == "__main__":
    print(json.dumps(stage_times(Path(sys.argv[1]))))
