"""End to end as a user runs it: the installed `moshu` command in a fresh project copy (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipelines.report.card import split_front_matter
from pipelines.synthetic.cnc_line import write_sample
from pipelines.warehouse import Warehouse
from tests.conftest import build, copy_project

MOSHU = str(Path(sys.executable).parent / "moshu")
pytestmark = pytest.mark.slow


def _moshu(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MOSHU, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_run_is_quiet_outside_a_terminal_and_the_catalog_answers(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    first = _moshu("run", cwd=project)
    assert first.returncode == 0, first.stderr
    assert first.stderr == "", "no logs or third-party progress bars leak into a non-terminal run"
    assert "ai4i2020" in first.stdout and "cnc_line" in first.stdout
    sql = (
        "select name, version, status, level, rows_in, rows_published, rows_quarantined, rows_warned from versions order by name"
    )
    q = _moshu("sql", sql, "-f", "json", cwd=project)
    keys = ("name", "version", "status", "level", "rows_in", "rows_published", "rows_quarantined", "rows_warned")
    assert [tuple(r[k] for k in keys) for r in json.loads(q.stdout)] == [  # the README's summary of `make run`
        ("ai4i2020", 1, "published", "silver", 10_000, 10_000, 0, 27),
        ("cmapss", 1, "published", "bronze", 160_359, 160_359, 0, 0),
        ("cnc_line", 1, "published", "silver", 2_385, 2_355, 30, 39),
        ("steel_plates_faults", 1, "published", "gold", 1_941, 1_941, 0, 7),
    ]
    again = _moshu("run", cwd=project)
    assert again.returncode == 0 and again.stdout.count("unchanged") == 4
    # one version; its two Delta tables; beside them the derived files (dataset cards, model pages, splits per demand)
    assert sorted(p.name for p in (project / "warehouse" / "datasets" / "cnc_line").iterdir()) == [
        "cards",
        "models",
        "published",
        "quarantine",
        "splits",
        "v1",
    ]
    for name in ("ai4i2020", "cmapss", "cnc_line", "steel_plates_faults"):  # every seed dataset has its card
        card = project / "warehouse" / "datasets" / name / "cards" / "v1.md"
        meta, _ = split_front_matter(card.read_text(encoding="utf-8"))
        assert meta["pretty_name"] and meta["moshu"]["dataset"] == name, name
    verify = _moshu("verify", cwd=project)
    assert verify.returncode == 0 and verify.stdout.startswith("ok: 4 versions"), verify.stdout + verify.stderr


def test_defects_at_a_larger_scale_all_land_in_quarantine(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    seeds = project / "seeds" / "cnc_line"
    write_sample(seeds, rows=240_000, seed=7, defects_per_kind=40)
    defects = json.loads((seeds / "defects.json").read_text())["defects"]
    wh = Warehouse(tmp_path / "wh")
    pub = build(project, wh, ["cnc_line"])["cnc_line"]
    q = pl.read_parquet(wh.quarantine_files("cnc_line", 1))
    expected = {d["row"]: sorted({d["rule_id"], *d["also"]}) for d in defects if d["severity"] == "error"}
    got = dict(zip(q["_source_row"].to_list(), q["_failed_rules"].to_list(), strict=True))
    assert got == expected
    flagged = pl.read_parquet(wh.data_files("cnc_line", 1)).filter(pl.col("_qc_flag") > 1)
    warn_rows = {d["row"] for d in defects if d["severity"] == "warn"}
    assert warn_rows <= set(flagged["_source_row"].to_list())
    dropped, added = 40 * 6, 40  # each sampling gap drops 6 reports; each duplicated key adds one
    assert pub.rows_in == pub.rows_published + pub.rows_quarantined == 240_000 - dropped + added
