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
GENERATOR_VERSION = "3"
STATUSES = ("RUN", "IDLE", "SETUP", "ALARM", "OFF")
PROGRAMS = ("O1001", "O1002", "O2040", "O3100")
START = datetime(2026, 3, 2, 6, 0, 0)


@dataclass(frozen=True)
class Defect:
    """One injected defect: the data row it is in (1-based), what it is, and the rules meant to catch it."""

    row: int
    kind: str
    column: str
    rule_id: str
    severity: str
    also: tuple[str, ...] = ()  # other rules the same row legitimately fails (e.g. a malformed id is also unknown)


# kind -> (column, rule id, severity, other rules the row also fails)
DEFECT_KINDS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "null": ("coolant_temp_c", "cnc.coolant_temp.present", "error", ()),
    "out_of_range": ("spindle_speed_rpm", "cnc.spindle_speed.span", "error", ()),
    "duplicate_key": ("ts", "schema.primary_key", "error", ()),
    "broken_balance": ("total_count", "cnc.counts.balance", "error", ()),
    "invalid_status": ("status", "cnc.status.allowed", "error", ()),
    "unparseable": ("spindle_load_pct", "schema.dtype.spindle_load_pct", "error", ()),
    "bad_machine_id": ("machine_id", "cnc.machine_id.format", "error", ("cnc.machine_id.known",)),
    "unknown_machine": ("machine_id", "cnc.machine_id.known", "error", ()),
    "non_increasing_ts": ("ts", "cnc.ts.increasing", "error", ()),
    "high_vibration": ("vibration_mm_s", "cnc.vibration.operating", "warn", ("cnc.vibration.outliers",)),
    "spike": ("coolant_temp_c", "cnc.coolant_temp.spike", "warn", ()),
    "stuck_sensor": ("coolant_temp_c", "cnc.coolant_temp.flat_line", "warn", ()),
    "sampling_gap": ("ts", "cnc.ts.gap", "warn", ()),
}
STUCK_SAMPLES = 12  # length of an injected stuck-sensor run
GAP_SAMPLES = 6  # reports dropped to make a sampling gap
SPIKE_DEGC = 9.0  # height of an injected coolant-temperature spike


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
            # The operator logged on at the machine (personal data: pseudonymised at ingest). One per
            # machine and 8-hour shift, derived without the random generator so the other values keep their seeds.
            "operator_id": [
                f"OP-{1001 + (m * 37 + (t * period_s) // 28_800 * 11) % 90:04d}" for m, t in zip(machine, tick, strict=True)
            ],
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


def _anchors(rng: np.random.Generator, machines: int, ticks: int, n: int) -> list[tuple[int, int]]:
    """`n` distinct (machine, tick) places, away from series ends and at least 25 ticks from each other."""
    taken: dict[int, list[int]] = {}
    out: list[tuple[int, int]] = []
    lo, hi = 20, ticks - 20
    if hi - lo < 25:
        raise ValueError(f"{ticks} reports per machine are too few for injected defects; generate more rows")
    for _ in range(200 * n + 1000):
        if len(out) == n:
            break
        m, t = int(rng.integers(0, machines)), int(rng.integers(lo, hi))
        if all(abs(t - u) >= 25 for u in taken.get(m, [])):
            taken.setdefault(m, []).append(t)
            out.append((m, t))
    if len(out) < n:
        raise ValueError(f"cannot place {n} defects 25 reports apart in {machines} x {ticks} reports; generate more rows")
    return out


def generate(
    rows: int = 2400, *, machines: int = 6, period_s: int = 10, seed: int = 20260302, defects_per_kind: int = 0
) -> tuple[pl.DataFrame, list[Defect]]:
    """Generate about `rows` rows (whole ticks per machine), all as strings, plus the defects injected.

    Rows are ordered by machine, then time. With `defects_per_kind` > 0, that many defects of each
    kind in `DEFECT_KINDS` are injected at distinct places; a duplicated key adds a row, a sampling
    gap removes `GAP_SAMPLES` rows, and a non-increasing timestamp swaps two neighbouring rows.
    """
    rng = np.random.default_rng(seed)
    ticks = max(1, rows // machines)
    df = _clean(machines, ticks, period_s, rng)
    df = df.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S"), pl.exclude("ts").cast(pl.String))
    if defects_per_kind <= 0:
        return df, []
    kinds = list(DEFECT_KINDS) * defects_per_kind
    places = _anchors(rng, machines, ticks, len(kinds))
    cols = {c: df[c].to_list() for c in df.columns}
    order = list(range(df.height))  # original row index at each output position
    marks: list[tuple[int, str]] = []  # (original row index, kind)
    copies: dict[int, int] = {}  # original row -> row whose duplicate follows it
    dropped: set[int] = set()
    swapped: set[int] = set()
    unknown = 0
    for kind, (m, t) in zip(kinds, places, strict=True):
        r = m * ticks + t
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
        elif kind == "unknown_machine":  # a well-formed id missing from the equipment master, one per defect
            cols["machine_id"][r] = f"CNC-{machines + 1 + unknown % (99 - machines):02d}"
            unknown += 1
        elif kind == "high_vibration":
            cols["vibration_mm_s"][r] = str(round(float(rng.uniform(12, 20)), 2))
        elif kind == "spike":
            cols["coolant_temp_c"][r] = str(round(float(cols["coolant_temp_c"][r]) + SPIKE_DEGC, 2))
        elif kind == "stuck_sensor":
            for k in range(r - STUCK_SAMPLES + 1, r + 1):
                cols["coolant_temp_c"][k] = cols["coolant_temp_c"][r - STUCK_SAMPLES + 1]
        elif kind == "sampling_gap":
            dropped.update(range(r - GAP_SAMPLES, r))
        elif kind == "non_increasing_ts":
            swapped.add(r)
        elif kind == "duplicate_key":
            copies[r] = r
        marks.append((r, kind))
    out_order: list[int] = []
    for i in order:
        if i in dropped:
            continue
        out_order.append(i)
        if i in copies:
            out_order.append(-1 - i)  # the duplicate of row i
    for r in swapped:  # r comes before its predecessor: its timestamp goes backwards
        p = out_order.index(r)
        out_order[p - 1], out_order[p] = out_order[p], out_order[p - 1]
    rows_out = []
    for i in out_order:
        src = i if i >= 0 else -1 - i
        row = {c: cols[c][src] for c in cols}
        if i < 0:  # same machine and timestamp reported twice, with a different reading
            row["coolant_temp_c"] = str(round(float(row["coolant_temp_c"]) + 0.37, 2))
        rows_out.append(row)
    out = pl.DataFrame(rows_out, schema={c: pl.String for c in cols})
    position = {i: k for k, i in enumerate(out_order)}
    defects: list[Defect] = []
    for r, kind in marks:
        col, rule, sev, also = DEFECT_KINDS[kind]
        if kind == "duplicate_key":  # both copies fail the key; the second also repeats a timestamp
            defects.append(Defect(position[r] + 1, kind, col, rule, sev))
            defects.append(Defect(position[-1 - r] + 1, kind, col, rule, sev, ("cnc.ts.increasing",)))
        elif kind == "non_increasing_ts":  # the predecessor, now second, goes back in time
            defects.append(Defect(position[r - 1] + 1, kind, col, rule, sev, also))
        else:
            defects.append(Defect(position[r] + 1, kind, col, rule, sev, also))
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
