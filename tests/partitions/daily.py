"""A daily-partitioned copy of the CNC line stream: one raw file per day, generated like the seed."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from pipelines.synthetic.cnc_line import generate
from tests.conftest import copy_project

NAME = "cnc_daily"
PARTITIONS = """\
partitions:
  column: ts
  granularity: daily
  start: "2026-03-01"
  path_pattern: 'cnc_(\\d{4}-\\d{2}-\\d{2})\\.csv$'
"""


def daily_project(dest: Path, *, days: int = 3) -> Path:
    """The example project plus `cnc_daily`: the CNC spec and rules, partitioned by day over `days` + 1 files."""
    root = copy_project(dest)
    spec = (root / "dataset_specs" / "cnc_line.yaml").read_text(encoding="utf-8")
    spec = re.sub(r"^name: cnc_line$", f"name: {NAME}", spec, flags=re.M)
    spec = spec.replace("path: seeds/cnc_line/*.csv", f"path: seeds/{NAME}/*.csv")
    spec = re.sub(r"^schedule: .*$", lambda _: PARTITIONS.rstrip(), spec, flags=re.M)
    spec = spec.replace("rules: [quality_rules/cnc_line.yaml]", f"rules: [quality_rules/{NAME}.yaml]")
    (root / "dataset_specs" / f"{NAME}.yaml").write_text(spec, encoding="utf-8")
    rules = (root / "quality_rules" / "cnc_line.yaml").read_text(encoding="utf-8")
    (root / "quality_rules" / f"{NAME}.yaml").write_text(_every_minute(rules), encoding="utf-8")
    df, _ = generate(6 * days * 1440, period_s=60, defects_per_kind=2)  # from 06:00 on 2026-03-02
    out = root / "seeds" / NAME
    out.mkdir()
    for (day,), part in df.group_by(pl.col("ts").str.slice(0, 10), maintain_order=True):
        part.write_csv(out / f"cnc_{day}.csv", null_value="")
    return root


def day_file(root: Path, day: str) -> Path:
    """The raw file of one day."""
    return root / "seeds" / NAME / f"cnc_{day}.csv"


def _every_minute(rules: str) -> str:
    """The CNC rules with their sampling-period parameters scaled from 10 s to 60 s reports."""
    for a, b in (("period_s: 10", "period_s: 60"), ("suspect_s: 50", "suspect_s: 300"), ("fail_s: 100", "fail_s: 600")):
        assert a in rules, a
        rules = rules.replace(a, b)
    return rules
