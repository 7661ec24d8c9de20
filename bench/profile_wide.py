"""Wide-table benchmark: the baseline profile and `informative_features` over many columns, time and peak memory.

    .venv/bin/python bench/profile_wide.py --columns 1000 --rows 100000

Writes a wide Parquet (numeric features, 5 % empty cells, 10 % constant and 8 % duplicated columns,
a label) to a temporary folder (not timed), then runs each step as its own process through
`measure.py`: the profile (`pipelines.quality.profile.profile`, what every version gets), the
D-3 measure (`pipelines.quality.informative.informative`, what an `informative_features` rule runs),
and a whole `moshu run` of the table read by a minimal spec (one column group, one rule on the label).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

_STEP = """
import sys, polars as pl
from pipelines.quality.{module} import {func}
lf = pl.scan_parquet(sys.argv[1])
cols = [c for c in lf.collect_schema().names() if c != "label"]
out = {call}
print({show})
"""
STEPS = {
    "profile": dict(
        module="profile", func="profile", call='profile(lf, [*cols, "label"], labels=["label"])',
        show='out["rows"], out["duplicate_rows"], sum(c["constant"] for c in out["columns"]), sum(1 for c in out["columns"] if c["duplicate_of"] and not c["constant"])',
    ),
    "informative_features": dict(module="informative", func="informative", call="informative(lf, cols)", show="out[0], out[1]"),
}  # fmt: skip


_SPEC = """name: wide
title: Wide benchmark table
description: Anonymous numeric features, 5 % empty cells, constant and copied columns, a label.
owner: bench
classification: {grade: general, domain: production, cdo: bench, retention: P1Y, default_sensitivity: public}
source: {format: parquet, path: raw/wide.parquet}
columns:
  - {name: label, dtype: string, role: label}
columns_from:
  - {id: features, pattern: '^f\\d+$', name: '{}', dtype: float64, role: measurement}
rules: [quality_rules/wide.yaml]
"""
_RULES = """rules:
  - {id: wide.label.set, kind: in_set, column: label, values: [ok, worn, broken]}
"""


def run_project(folder: Path, data: Path) -> Path:
    """A project whose only dataset reads the wide table with one column group and one rule (the minimal spec)."""
    root = folder / "project"
    for d in ("dataset_specs", "quality_rules", "raw"):
        (root / d).mkdir(parents=True)
    (root / "raw" / "wide.parquet").symlink_to(data)
    (root / "dataset_specs" / "wide.yaml").write_text(_SPEC, encoding="utf-8")
    (root / "quality_rules" / "wide.yaml").write_text(_RULES, encoding="utf-8")
    return root


def write_wide(path: Path, rows: int, columns: int, seed: int = 11) -> None:
    """The wide table, written column block by column block (memory stays near one block)."""
    import numpy as np
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_const, n_copy = columns // 10, columns * 8 // 100
    data: dict[str, np.ndarray] = {}
    for i in range(columns):
        if i < n_const:
            x = np.full(rows, 1.5)
        elif i < n_const + n_copy:
            x = None
        else:
            x = rng.normal(size=rows).round(4)
            x[rng.random(rows) < 0.05] = np.nan
        if x is not None:
            data[f"f{i:04d}"] = x
    for i in range(n_const, n_const + n_copy):
        data[f"f{i:04d}"] = data[f"f{i + n_copy:04d}"].copy()
    df = pl.DataFrame({k: data[k] for k in sorted(data)}).fill_nan(None)
    df = df.with_columns(label=pl.Series(rng.choice(["ok", "worn", "broken"], size=rows)))
    pq.write_table(pa.Table.from_batches(df.to_arrow().to_batches()), path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--columns", type=int, default=1_000)
    args = ap.parse_args()
    from measure import measure

    with tempfile.TemporaryDirectory(prefix="moshu-wide-") as tmp:
        folder = Path(tmp)
        data = folder / "wide.parquet"
        write_wide(data, args.rows, args.columns)
        results = {"rows": args.rows, "columns": args.columns, "parquet_mb": round(data.stat().st_size / 2**20, 1)}
        for name, step in STEPS.items():
            script = folder / f"{name}.py"
            script.write_text(_STEP.format(**step), encoding="utf-8")
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            m = measure([sys.executable, str(script), str(data)], cwd=REPO, env=env, log=folder / f"{name}.log")
            results[name] = {**m.as_dict(), "output": (folder / f"{name}.log").read_text().strip()}
            results[name].pop("log")
        root = run_project(folder, data)  # end to end: `moshu run` through Dagster, profile and level included
        cmd = [sys.executable, "-m", "pipelines.cli", "run", "wide", "--project", str(root), "--warehouse", str(folder / "wh")]
        m = measure(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, log=folder / "run.log")
        log = (folder / "run.log").read_text()
        results["moshu_run"] = {
            **m.as_dict(),
            "output": next((x for x in log.splitlines() if x.startswith("wide v")), log[-400:]),
        }
        results["moshu_run"].pop("log")
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
