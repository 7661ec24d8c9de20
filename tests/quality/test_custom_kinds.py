"""A project's own rule kind, exactly as docs/custom_rules.md shows it, loads and runs like a built-in one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from pipelines.errors import SpecError
from pipelines.quality import registry
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.conftest import build

DOC = Path(__file__).resolve().parents[2] / "docs" / "custom_rules.md"

SPEC = """\
name: press_line
title: Press line counters
description: Part counters of two presses.
owner: stamping
classification: {grade: general, domain: production, cdo: plant-cdo, retention: P5Y, default_sensitivity: confidential}
source: {format: csv, path: raw/*.csv}
columns:
  - {name: ts, dtype: int64, role: timestamp}
  - {name: press_id, dtype: string, role: entity}
  - {name: parts_total, dtype: int64, role: measurement}
rules: [quality_rules/press.yaml]
"""
RAW = "ts,press_id,parts_total\n1,P1,10\n1,P2,5\n2,P1,12\n2,P2,4\n3,P1,0\n3,P2,9\n4,P1,3\n"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    yaml = re.search(r"```yaml\n(rules:.*?)```", DOC.read_text(), re.S)
    assert code and yaml
    root = tmp_path / "p"
    (root / "quality_rules" / "kinds").mkdir(parents=True)
    (root / "dataset_specs").mkdir()
    (root / "raw").mkdir()
    (root / "quality_rules" / "kinds" / "counters.py").write_text(code.group(1))
    (root / "quality_rules" / "press.yaml").write_text(yaml.group(1))
    (root / "dataset_specs" / "press_line.yaml").write_text(SPEC)
    (root / "raw" / "counters.csv").write_text(RAW)
    before = dict(registry.EXECUTORS), dict(registry.MODELS)
    yield root
    registry.EXECUTORS.clear(), registry.EXECUTORS.update(before[0])
    registry.MODELS.clear(), registry.MODELS.update(before[1])


def test_documented_custom_kind_quarantines_a_decreasing_counter(project: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    pub = build(project, wh, ["press_line"])["press_line"]
    q = pl.read_parquet(wh.quarantine_files("press_line", 1))
    # P2 goes 5 -> 4 (a decrease); P1 goes 12 -> 0 (a reset, allowed) and 0 -> 3.
    assert q.select("press_id", "ts", "_failed_rules").rows() == [("P2", 2, ["press.parts.monotonic"])]
    assert q["_reasons"].to_list() == [["press.parts.monotonic: `parts_total` went down to 4"]]
    assert (pub.rows_published, pub.rows_quarantined) == (6, 1)
    m = wh.manifest("press_line", 1)
    rule = next(r for r in m["rules"] if r["rule_id"] == "press.parts.monotonic")
    assert rule["measures"][0]["clause"] == "K-3" and rule["failed"] == 1


def test_a_broken_custom_kind_is_a_spec_error_with_its_line(project: Path) -> None:
    bad = project / "quality_rules" / "kinds" / "broken.py"
    bad.write_text("x = 1\nraise RuntimeError('oops')\n")
    with pytest.raises(SpecError) as info:
        load_project(project)
    issue = info.value.issues[0]
    assert issue.file == "quality_rules/kinds/broken.py" and issue.line == 2 and "oops" in issue.message


@pytest.mark.slow  # starts a Great Expectations worker of its own
def test_a_custom_kind_runs_in_the_great_expectations_worker(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Rules of a project's own kind reach the worker (which loads the same kind files): no fallback to this process."""
    import logging

    from pipelines.quality import ge_worker

    monkeypatch.setattr(ge_worker, "_pool", None)
    monkeypatch.setattr(ge_worker, "_warmed", None)
    monkeypatch.setattr(ge_worker, "_allowed", True)
    ge_worker.start(project)
    try:
        with caplog.at_level(logging.DEBUG, logger=ge_worker.__name__):
            pub = build(project, Warehouse(tmp_path / "wh"), ["press_line"])["press_line"]
    finally:
        ge_worker.stop()
    assert (pub.rows_published, pub.rows_quarantined) == (6, 1)
    assert not [r for r in caplog.records if r.name == ge_worker.__name__], [r.getMessage() for r in caplog.records]
