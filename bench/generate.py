"""Generate the benchmark's factory sensor data: deterministic, chunk by chunk, flat in memory at any size.

One reading per machine every 10 seconds, rows in time order, 15 columns, written as CSV (one file,
or one file per day with `--per-day`). Defects are injected at small known rates (see `defects.py`)
and counted in `defects.json` beside the data.

    python bench/generate.py --rows 1000000 --out data [--seed 7] [--machines 50] [--per-day]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import defects
import numpy as np
import polars as pl
from sensors import Fleet, FleetState, simulate

GENERATOR_VERSION = "1"
PERIOD_S = 10
START = datetime(2026, 1, 5)  # a Monday, plant local time
BLOCK_PERIODS = 2_880  # 8 hours at 10 s: a third of a day, so blocks never cross midnight
SIDECAR = "defects.json"
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
COLUMNS: tuple[str, ...] = (
    "ts", "machine_id", "line_id", "status", "spindle_speed_rpm", "spindle_load_pct", "feed_rate_mm_min",
    "coolant_temp_c", "hydraulic_pressure_bar", "vibration_mm_s", "power_kw", "tool_wear_min",
    "total_count", "good_count", "scrap_count",
)  # fmt: skip
PERIODS_PER_DAY = 86_400 // PERIOD_S


@dataclass
class Tally:
    """What was written: rows per file and defects per kind."""

    files: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=lambda: dict.fromkeys(defects.KINDS, 0))
    out_of_range_by_column: dict[str, int] = field(default_factory=lambda: dict.fromkeys(defects.OUT_OF_RANGE, 0))
    first_ts: str | None = None
    last_ts: str | None = None

    @property
    def rows(self) -> int:
        """Rows written in all files."""
        return sum(self.files.values())


def _blocks(rows: int, machines: int) -> Iterator[tuple[int, int]]:
    """(first period, periods) of each block: at most BLOCK_PERIODS, never across midnight, enough for `rows`."""
    period, needed = 0, -(-rows // machines)
    while needed > 0:
        to_midnight = PERIODS_PER_DAY - period % PERIODS_PER_DAY
        n = min(BLOCK_PERIODS, to_midnight, needed)
        yield period, n
        period, needed = period + n, needed - n


def _frame(block: dict[str, np.ndarray], machines: int) -> pl.DataFrame:
    """The block as a polars frame in the published column order (the `defect` code column last)."""
    ids = pl.Series([f"M-{i + 1:03d}" for i in range(machines)])
    lines = pl.Series([f"L-{i // 10 + 1}" for i in range(machines)])
    machine = pl.Series(block["machine"])
    cols: dict[str, pl.Series] = {
        "ts": pl.Series(block["ts"] * 1_000_000).cast(pl.Datetime("us")),
        "machine_id": ids.gather(machine),
        "line_id": lines.gather(machine),
        "status": pl.Series(defects.STATUS_NAMES).gather(pl.Series(block["status"])),
    }
    for name in COLUMNS[4:]:
        cols[name] = pl.Series(block[name], nan_to_null=name == "coolant_temp_c")
    cols["defect"] = pl.Series(block["defect"])
    return pl.DataFrame(cols)


def _block_rows(rng: np.random.Generator, fleet: Fleet, carry: FleetState, first: int, periods: int) -> dict[str, np.ndarray]:
    """One block, flat: rows ordered by period, then machine, with the defects injected."""
    machines = carry.state.shape[0]
    sim = simulate(rng, fleet, carry, periods, PERIOD_S)
    flat = {k: v.reshape(-1) for k, v in sim.items()}
    period = np.repeat(np.arange(first, first + periods, dtype=np.int64), machines)
    flat["ts"] = int(START.replace(tzinfo=UTC).timestamp()) + period * PERIOD_S
    flat["machine"] = np.tile(np.arange(machines, dtype=np.int64), periods)
    return defects.inject(rng, flat, period, PERIOD_S)


def _tally(tally: Tally, frame: pl.DataFrame, name: str, block: dict[str, np.ndarray]) -> None:
    codes = np.bincount(frame["defect"].to_numpy(), minlength=len(defects.KINDS) + 1)
    for code, kind in enumerate(defects.KINDS, start=1):
        tally.defects[kind] += int(codes[code])
    per_column = np.bincount(block["oor_column"][: frame.height], minlength=len(defects.OUT_OF_RANGE) + 1)
    for i, col in enumerate(defects.OUT_OF_RANGE, start=1):
        tally.out_of_range_by_column[col] += int(per_column[i])
    tally.files[name] = tally.files.get(name, 0) + frame.height
    ts = frame["ts"].dt.strftime(TS_FORMAT)
    tally.first_ts = tally.first_ts or ts[0]
    tally.last_ts = ts[-1]


def generate(rows: int, out: Path, *, seed: int = 7, machines: int = 50, per_day: bool = False) -> Tally:
    """Write `rows` rows into `out` (CSV, one file or one per day) and `defects.json`; return the tally."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    fleet = Fleet.draw(rng, machines, PERIOD_S)
    carry = FleetState.start(rng, machines)
    tally = Tally()
    handle: IO[bytes] | None = None
    current = ""
    try:
        for first, periods in _blocks(rows, machines):
            block = _block_rows(rng, fleet, carry, first, periods)
            frame = _frame(block, machines).head(rows - tally.rows)
            day = (START + timedelta(seconds=first * PERIOD_S)).strftime("%Y-%m-%d")
            name = f"sensors_{day}.csv" if per_day else "sensors.csv"
            if name != current:
                if handle is not None:
                    handle.close()
                handle, current = (out / name).open("wb"), name
            frame.drop("defect").write_csv(handle, include_header=tally.files.get(name) is None, datetime_format=TS_FORMAT)
            _tally(tally, frame, name, block)
    finally:
        if handle is not None:
            handle.close()
    _write_sidecar(out / SIDECAR, tally, rows=rows, seed=seed, machines=machines, per_day=per_day)
    return tally


def expected_quarantine(counts: dict[str, int]) -> int:
    """Rows an error rule must quarantine: one per defect, two per duplicated key (both copies fail the key)."""
    return sum(counts.values()) + counts["duplicate_key"]


def _write_sidecar(path: Path, tally: Tally, **params: object) -> None:
    doc = {
        "generator": "bench/generate.py",
        "generator_version": GENERATOR_VERSION,
        **params,
        "period_s": PERIOD_S,
        "columns": list(COLUMNS),
        "rows_written": tally.rows,
        "first_ts": tally.first_ts,
        "last_ts": tally.last_ts,
        "files": [{"path": k, "rows": v} for k, v in tally.files.items()],
        "rates": defects.RATES,
        "defects": tally.defects,
        "out_of_range_by_column": tally.out_of_range_by_column,
        "expected_quarantined_rows": expected_quarantine(tally.defects),
        "notes": {
            "duplicate_key": "count of copies; each copy follows its original, so both rows fail the primary key",
            "ts_backwards": "timestamp moved 2.5 periods back; fails `increasing`, and is flagged by `gap` (warn)",
        },
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, required=True, help="rows to write (duplicated rows included)")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--machines", type=int, default=50)
    ap.add_argument("--per-day", action="store_true", help="one CSV file per day (sensors_YYYY-MM-DD.csv)")
    a = ap.parse_args()
    t0 = time.perf_counter()
    tally = generate(a.rows, a.out, seed=a.seed, machines=a.machines, per_day=a.per_day)
    secs = time.perf_counter() - t0
    print(f"wrote {tally.rows:,} rows in {len(tally.files)} file(s) to {a.out} in {secs:.1f} s; defects: {tally.defects}")


if __name__ == "__main__":
    main()
