"""False-alarm rate of the cross-version anomaly detector (clause K-6) on the seeds' own history.

Each history is a sequence of batches of one steady process; every batch after the first is compared
with the batches before it (up to `window`), as a new version or partition would be. A batch with at
least one flagged comparison counts as an alarm. Run: `.venv/bin/python bench/anomalies.py [--days 30]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from pipelines.quality.anomalies import detect, watched_columns
from pipelines.spec.anomalies import SENSITIVITY, Anomalies
from pipelines.spec.loader import load_project
from pipelines.synthetic.cnc_line import generate

REPO = Path(__file__).resolve().parents[1]
PL_TYPES = {"int8": pl.Int8, "int32": pl.Int32, "int64": pl.Int64, "float64": pl.Float64, "string": pl.String}


def _typed(df: pl.DataFrame, spec: object) -> pl.DataFrame:
    cols = [c for c in spec.columns if c.source_name in df.columns]  # type: ignore[attr-defined]
    return df.select(pl.col(c.source_name).cast(PL_TYPES.get(c.dtype, pl.String), strict=False).alias(c.name) for c in cols)


def cnc_days(days: int) -> list[tuple[str, pl.DataFrame]]:
    """The CNC line stream without injected defects, one batch per whole day (the first, partial day left out)."""
    spec = load_project(REPO).datasets["cnc_line"].spec
    df, _ = generate(6 * (days + 1) * 1440, period_s=60)
    df = _typed(df, spec).with_columns(pl.col("ts").str.to_datetime())
    out = []
    for (day,), part in df.group_by(pl.col("ts").dt.date(), maintain_order=True):
        out.append((str(day), part))
    return [(d, p) for d, p in sorted(out)[1:] if p.height == max(x.height for _, x in out)]


def cmapss_groups() -> list[tuple[str, pl.DataFrame]]:
    """FD001's 100 engines in four groups of 25: four releases of the same fleet and condition."""
    spec = load_project(REPO).datasets["cmapss"].spec
    names = spec.source.csv.column_names
    df = pl.read_csv(REPO / "seeds/cmapss/train_FD001.txt", separator=" ", has_header=False, truncate_ragged_lines=True)
    df = df.select(df.columns[: len(names)]).rename(dict(zip(df.columns, names, strict=False)))
    df = _typed(df, spec)
    return [(f"units {25 * g + 1}-{25 * g + 25}", df.filter((pl.col("unit") - 1) // 25 == g)) for g in range(4)]


def cmapss_files() -> list[tuple[str, pl.DataFrame]]:
    """FD001..FD004 as successive versions (different conditions and fault modes: real changes, not false alarms)."""
    spec = load_project(REPO).datasets["cmapss"].spec
    names = spec.source.csv.column_names
    out = []
    for i in range(1, 5):
        df = pl.read_csv(REPO / f"seeds/cmapss/train_FD00{i}.txt", separator=" ", has_header=False, truncate_ragged_lines=True)
        df = df.select(df.columns[: len(names)]).rename(dict(zip(df.columns, names, strict=False)))
        out.append((f"FD00{i}", _typed(df, spec)))
    return out


def ai4i_blocks() -> list[tuple[str, pl.DataFrame]]:
    """AI4I 2020 in ten successive blocks of 1,000 processes (in UDI order)."""
    spec = load_project(REPO).datasets["ai4i2020"].spec
    df = _typed(pl.read_csv(REPO / "seeds/ai4i2020/ai4i2020.csv"), spec)
    return [(f"udi {1000 * b + 1}-", df.slice(1000 * b, 1000)) for b in range(10)]


def alarms(name: str, batches: list[tuple[str, pl.DataFrame]], sensitivity: str) -> tuple[int, int, dict[str, int]]:
    """(batches compared, batches with an alarm, flagged comparisons by metric)."""
    spec = load_project(REPO).datasets[name].spec
    cfg = Anomalies(sensitivity=sensitivity)  # type: ignore[arg-type]
    cols = {c: k for c, k in watched_columns(spec, cfg).items() if c in batches[0][1].columns}
    compared, alarmed, by_metric = 0, 0, {}
    for i in range(1, len(batches)):
        found = detect(batches[i][1].lazy(), [b.lazy() for _, b in batches[:i]], cols, cfg, batches[i - 1][0])
        flagged = [f for f in found if f.flagged]
        compared += 1
        alarmed += bool(flagged)
        for f in flagged:
            by_metric[f.metric] = by_metric.get(f.metric, 0) + 1
    return compared, alarmed, by_metric


def main() -> None:
    """Print the alarm counts per history and sensitivity."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=30, help="days of CNC line stream (one partition each)")
    args = ap.parse_args()
    histories = [
        ("cnc_line", f"CNC line, {args.days} daily partitions", cnc_days(args.days)),
        ("cmapss", "C-MAPSS FD001, 4 groups of 25 engines", cmapss_groups()),
        ("ai4i2020", "AI4I 2020, 10 blocks of 1,000 rows", ai4i_blocks()),
        ("cmapss", "C-MAPSS FD001 -> FD004 (real changes)", cmapss_files()),
    ]
    print("| history | sensitivity | batches compared | batches with an alarm | flagged comparisons |")
    print("|---|---|---|---|---|")
    for name, label, batches in histories:
        for s in SENSITIVITY:
            n, a, m = alarms(name, batches, s)
            what = ", ".join(f"{k} {v}" for k, v in sorted(m.items())) or "none"
            print(f"| {label} | {s} | {n} | {a} | {what} |")


if __name__ == "__main__":
    main()
