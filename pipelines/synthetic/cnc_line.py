"""A multi-machine CNC line sensor stream, generated deterministically, with optional injected defects.

Each machine reports every `period_s` seconds: spindle speed and load, feed rate, coolant
temperature, vibration, the parts made in the interval (total = good + scrap) and a status code.
Defects are injected at positions drawn from the same seed and returned with the rule meant to catch
each, so tests can check that every defect lands where it should. Any size, same bytes for the
same arguments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

GENERATOR = "moshu.synthetic.cnc_line"
GENERATOR_VERSION = "1"
STATUSES = ("RUN", "IDLE", "SETUP", "ALARM", "OFF")
PROGRAMS = ("O1001", "O1002", "O2040", "O3100")
START = datetime(2026, 3, 2, 6, 0, 0)


@dataclass(frozen=True)
class Defect:
    """One injected defect: the data row it is in (1-based), what it is, and the rule meant to catch it."""

    row: int
    kind: str
    column: str
    rule_id: str
    severity: str


# kind -> (column, rule id, severity)
DEFECT_KINDS: dict[str, tuple[str, str, str]] = {
    "null": ("coolant_temp_c", "cnc.coolant_temp.present", "error"),
    "out_of_range": ("spindle_speed_rpm", "cnc.spindle_speed.span", "error"),
    "duplicate_key": ("ts", "schema.primary_key", "error"),
    "broken_balance": ("total_count", "cnc.counts.balance", "error"),
    "invalid_status": ("status", "cnc.status.allowed", "error"),
    "unparseable": ("spindle_load_pct", "schema.dtype.spindle_load_pct", "error"),
    "bad_machine_id": ("machine_id", "cnc.machine_id.format", "error"),
    "high_vibration": ("vibration_mm_s", "cnc.vibration.operating", "warn"),
}


def _clean(n_machines: int, ticks: int, period_s: int, rng: np.random.Generator) -> pl.DataFrame:
    n = n_machines * ticks
    machine = np.repeat(np.arange(n_machines), ticks)
    tick = np.tile(np.arange(ticks), n_machines)
    # Each machine has its own nominal speed; the status follows a sticky random walk.
    nominal = rng.uniform(6000, 12000, n_machines)[machine]
    status_idx = np.zeros(n, dtype=np.int64)
    change = rng.random(n) < 0.03
    new_state = rng.choice(4, size=n, p=[0.80, 0.12, 0.06, 0.02])
    for m in range(n_machines):
        s, e = m * ticks, (m + 1) * ticks
        idx = np.where(change[s:e], np.arange(ticks), 0)
        np.maximum.accumulate(idx, out=idx)
        status_idx[s:e] = new_state[s:e][idx]
    running = status_idx == 0
    speed = np.where(running, nominal + rng.normal(0, 120, n), rng.uniform(0, 50, n))
    load = np.where(running, np.clip(rng.normal(55, 12, n), 5, 98), rng.uniform(0, 5, n))
    feed = np.where(running, np.clip(rng.normal(1200, 150, n), 200, 4000), 0.0)
    coolant = 22 + 8 * np.sin(tick / 180.0) + rng.normal(0, 0.6, n)
    vibration = np.where(running, np.abs(rng.normal(2.8, 0.9, n)), np.abs(rng.normal(0.4, 0.2, n)))
    total = np.where(running, rng.poisson(1.2, n), 0)
    scrap = rng.binomial(total, 0.04)
    start_us = int(START.timestamp() * 1_000_000)
    ts_us = start_us + tick.astype(np.int64) * period_s * 1_000_000
    return pl.DataFrame(
        {
            "ts": pl.Series(ts_us).cast(pl.Datetime("us")),
            "machine_id": [f"CNC-{m + 1:02d}" for m in machine],
            "line_id": ["LINE-A" if m < n_machines / 2 else "LINE-B" for m in machine],
            "program": np.array(PROGRAMS)[rng.integers(0, len(PROGRAMS), n_machines)[machine]],
            "spindle_speed_rpm": np.round(speed, 1),
            "spindle_load_pct": np.round(load, 1),
            "feed_rate_mm_min": np.round(feed, 0),
            "coolant_temp_c": np.round(coolant, 2),
            "vibration_mm_s": np.round(vibration, 2),
            "total_count": total.astype(np.int64),
            "good_count": (total - scrap).astype(np.int64),
            "scrap_count": scrap.astype(np.int64),
            "status": np.array(STATUSES)[status_idx],
        }
    )


def generate(
    rows: int = 2400, *, machines: int = 6, period_s: int = 10, seed: int = 20260302, defects_per_kind: int = 0
) -> tuple[pl.DataFrame, list[Defect]]:
    """Generate about `rows` rows (rounded to whole ticks per machine), all as strings, plus the defects injected.

    Rows are ordered by machine, then time. With `defects_per_kind` > 0, that many defects of each
    kind in `DEFECT_KINDS` are injected at distinct rows; a duplicated key adds one row.
    """
    rng = np.random.default_rng(seed)
    ticks = max(1, rows // machines)
    df = _clean(machines, ticks, period_s, rng)
    df = df.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S"), pl.exclude("ts").cast(pl.String))
    if defects_per_kind <= 0:
        return df, []
    kinds = list(DEFECT_KINDS)
    # Distinct rows, kept away from each other so one row carries one defect (and keys stay distinct).
    picks = rng.choice(df.height // 3, size=len(kinds) * defects_per_kind, replace=False) * 3 + 1
    cols = {c: df[c].to_list() for c in df.columns}
    injected: list[tuple[int, str]] = []
    dup_rows: list[int] = []
    for i, kind in enumerate(kinds * defects_per_kind):
        r = int(picks[i])
        if kind == "null":
            cols["coolant_temp_c"][r] = None
        elif kind == "out_of_range":
            cols["spindle_speed_rpm"][r] = str(float(rng.choice([-250.0, 64000.0])))
        elif kind == "broken_balance":
            cols["total_count"][r] = str(int(cols["good_count"][r]) + int(cols["scrap_count"][r]) + 2)
        elif kind == "invalid_status":
            cols["status"][r] = str(rng.choice(["RUNN", "E-STOP", "run?"]))
        elif kind == "unparseable":
            cols["spindle_load_pct"][r] = str(rng.choice(["n/a", "#VALUE!", "12,5%"]))
        elif kind == "bad_machine_id":
            cols["machine_id"][r] = cols["machine_id"][r].replace("CNC-", "CNC_")
        elif kind == "high_vibration":
            cols["vibration_mm_s"][r] = str(round(float(rng.uniform(12, 20)), 2))
        elif kind == "duplicate_key":
            dup_rows.append(r)
        injected.append((r, kind))
    out = pl.DataFrame(cols)
    # A duplicate key: the same machine and timestamp reported twice, with different readings.
    order = list(range(out.height))
    for r in sorted(dup_rows, reverse=True):
        order.insert(r + 1, r)
    out = out[order]
    shift = [sum(1 for d in dup_rows if d < r) for r in range(df.height)]
    dup_positions = {r + shift[r] + 1 for r in dup_rows}  # 0-based position of each inserted copy
    out = out.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(list(dup_positions)))
        .then((pl.col("coolant_temp_c").cast(pl.Float64, strict=False) + 0.37).round(2).cast(pl.String))
        .otherwise(pl.col("coolant_temp_c"))
        .alias("coolant_temp_c")
    )
    defects: list[Defect] = []
    for r, kind in injected:
        col, rule, sev = DEFECT_KINDS[kind]
        pos = r + shift[r]
        defects.append(Defect(pos + 1, kind, col, rule, sev))
        if kind == "duplicate_key":
            defects.append(Defect(pos + 2, kind, col, rule, sev))
    return out, sorted(defects, key=lambda d: d.row)


def write_sample(out_dir: Path, *, rows: int = 2400, seed: int = 20260302, defects_per_kind: int = 3) -> tuple[Path, Path]:
    """Write the committed seed sample (`cnc_line_sample.csv`) and its defect list (`defects.json`)."""
    import json

    df, defects = generate(rows, seed=seed, defects_per_kind=defects_per_kind)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "cnc_line_sample.csv"
    df.write_csv(csv, null_value="")
    meta = out_dir / "defects.json"
    meta.write_text(
        json.dumps(
            {
                "generator": GENERATOR,
                "generator_version": GENERATOR_VERSION,
                "seed": seed,
                "rows": df.height,
                "defects_per_kind": defects_per_kind,
                "defects": [asdict(d) for d in defects],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return csv, meta
