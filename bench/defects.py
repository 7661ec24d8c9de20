"""Defects injected into the benchmark's data at known, small rates, each on rows of its own.

Every defect is one a rule of `project/quality_rules/sensor_bench.yaml` (or the spec's primary key)
must catch, so the rows moshu quarantines can be checked against the counts the generator records.
"""

from __future__ import annotations

import numpy as np
from sensors import STATES

UNKNOWN_STATES: tuple[str, ...] = ("MAINT", "run", "E-STOP")
"""Status values outside the controller's five states (a new firmware state, a lower-case export, a typo)."""
STATUS_NAMES: tuple[str, ...] = STATES + UNKNOWN_STATES

KINDS: tuple[str, ...] = (
    "out_of_range",  # a measurement outside its instrument span (in_range)
    "null_required",  # coolant_temp_c missing (not_null)
    "duplicate_key",  # a second row with the same (machine_id, ts) right after the first (primary key, increasing)
    "ts_backwards",  # a timestamp earlier than the machine's previous one (increasing)
    "unknown_status",  # a status outside the five states (in_set)
    "count_balance",  # total_count != good_count + scrap_count (expression)
)
"""Defect kinds; a row's `defect` code is its index here plus one (0: clean)."""

RATES: dict[str, float] = {
    "out_of_range": 1e-4,
    "null_required": 1e-4,
    "duplicate_key": 5e-5,
    "ts_backwards": 5e-5,
    "unknown_status": 5e-5,
    "count_balance": 1e-4,
}
"""Expected share of rows of each kind."""

OUT_OF_RANGE: dict[str, tuple[float, float]] = {
    "spindle_speed_rpm": (30_000, 60_000),
    "spindle_load_pct": (160, 400),
    "feed_rate_mm_min": (-500, -1),
    "coolant_temp_c": (95, 150),
    "hydraulic_pressure_bar": (260, 900),
    "vibration_mm_s": (120, 500),
    "power_kw": (-5, -0.5),
    "tool_wear_min": (700, 9_999),
}
"""Values drawn for an out-of-range defect, per column: all outside the rules' instrument spans."""

Block = dict[str, np.ndarray]


def _pick(rng: np.random.Generator, rows: int, eligible_backwards: np.ndarray) -> dict[str, np.ndarray]:
    """Row positions of each kind, disjoint; `ts_backwards` only where `eligible_backwards` holds."""
    counts = {k: int(rng.binomial(rows, RATES[k])) for k in KINDS}
    candidates = np.flatnonzero(eligible_backwards)
    back = rng.choice(candidates, size=min(counts["ts_backwards"], candidates.size), replace=False)
    others = [k for k in KINDS if k != "ts_backwards"]
    wanted = sum(counts[k] for k in others)
    pool = rng.choice(rows, size=min(rows, wanted + back.size), replace=False)
    pool = pool[~np.isin(pool, back)][:wanted]
    picked, start = {"ts_backwards": np.sort(back)}, 0
    for k in others:
        picked[k] = np.sort(pool[start : start + counts[k]])
        start += counts[k]
    return picked


def inject(rng: np.random.Generator, block: Block, period_index: np.ndarray, period_s: int) -> Block:
    """Apply every defect kind to a flat block (one row per machine and period, in time order).

    `block` holds `ts` (epoch seconds), `status` (codes), the measurements and counts; `period_index`
    is each row's global period number. Returns the block with a `defect` code column, an
    `oor_column` code column and the duplicated rows inserted right after their originals.
    """
    rows = block["ts"].shape[0]
    # Never on the first period (no predecessor to go back from) nor on two consecutive periods of a machine.
    picked = _pick(rng, rows, (period_index > 0) & (period_index % 2 == 0))
    defect = np.zeros(rows, dtype=np.int8)
    for code, kind in enumerate(KINDS, start=1):
        if kind != "duplicate_key":  # the copy carries that code, not its original
            defect[picked[kind]] = code

    rows_oor = picked["out_of_range"]
    columns = list(OUT_OF_RANGE)
    which = rng.integers(0, len(columns), rows_oor.size)
    for i, col in enumerate(columns):
        at = rows_oor[which == i]
        lo, hi = OUT_OF_RANGE[col]
        block[col][at] = rng.uniform(lo, hi, at.size).round(1)
    block["oor_column"] = np.zeros(rows, dtype=np.int8)  # which column is out of range: index in OUT_OF_RANGE + 1
    block["oor_column"][rows_oor] = which + 1
    block["coolant_temp_c"][picked["null_required"]] = np.nan
    block["ts"][picked["ts_backwards"]] -= int(2.5 * period_s)  # off the period grid: no duplicate key
    block["status"][picked["unknown_status"]] = rng.integers(len(STATES), len(STATUS_NAMES), picked["unknown_status"].size)
    block["good_count"][picked["count_balance"]] += 1

    src = picked["duplicate_key"]
    order = np.insert(np.arange(rows), src + 1, src)  # each copy right after its original
    copies = src + 1 + np.arange(src.size)  # positions of the copies in the new order
    out = {k: v[order] for k, v in block.items()}
    out["defect"] = defect[order]
    out["defect"][copies] = KINDS.index("duplicate_key") + 1
    out["vibration_mm_s"][copies] = (out["vibration_mm_s"][copies] * rng.uniform(0.97, 1.03, src.size)).round(3)
    return out
