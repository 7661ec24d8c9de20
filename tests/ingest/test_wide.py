"""Wide sensor matrices read through column groups: the headerless export, and the headed one run to a published version."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.errors import SourceError
from pipelines.ingest.readers import scan_file, temp_files
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.stages.ingest import ingest
from pipelines.warehouse import Warehouse
from tests.spec.wide import CASES, headerless_project, wide_project


def test_headerless_whitespace_matrix_reads_by_position(tmp_path: Path) -> None:
    spec = load_project(headerless_project(tmp_path)).datasets["fab_raw"].spec
    with temp_files():
        df = scan_file(tmp_path / "raw" / "wide_headerless.txt", spec, "raw/wide_headerless.txt").collect()
    assert df.height == 60 and df.columns[:3] == ["1", "2", "3"] and df.columns[519] == "520"  # raw, under source names
    first = (CASES / "wide_headerless.txt").read_text("ascii").splitlines()[0].split(" ")
    assert first[0] == "NaN" and df["1"][0] is None  # `NaN` is a null value
    assert df["2"][0] == first[1] and df["520"][0] == first[519]


@pytest.mark.slow
def test_wide_matrix_runs_to_a_published_version(tmp_path: Path) -> None:
    root = wide_project(tmp_path / "p")
    ld = load_project(root).datasets["fab"]
    wh = Warehouse(tmp_path / "wh")
    pub = run_dataset(ld, root, wh)
    assert (pub.version, pub.rows_in, pub.rows_published, pub.rows_quarantined) == (1, 200, 200, 0)
    df = pl.read_parquet(wh.data_files("fab", 1))
    sensors = [f"s{i:03d}" for i in range(520)]
    assert [c for c in df.columns if c.startswith("s") and c[1:].isdigit()] == sensors
    assert df.schema["s000"] == pl.Float64 and df["s007"][150:].null_count() == 50  # dead from row 150
    raw = pl.read_csv(CASES / "wide_sensors.csv", infer_schema=False)
    assert df["s519"].to_list() == raw["519"].cast(pl.Float64).to_list()

    m = wh.manifest("fab", 1)
    assert len(m["schema"]) == 522 and m["schema"][2]["source"] == "0"
    (group,) = m["column_groups"]
    assert group["id"] == "sensors" and group["columns"] == sensors
    by_rule = {r["rule_id"]: r for r in m["rules"]}
    complete = by_rule["fab.sensors.complete"]
    assert len(complete["columns"]) == 519 and "s007" not in complete["columns"]
    assert complete["failed"] > 0 and pub.rows_warned == complete["failed"]  # warn: rows with an empty sensor stay
    assert {s["where"] for s in m["column_selections"]} == {
        "fab.sensors.complete.columns", "fab.no_repeats.columns", "fab.sensors.informative.columns", "fab_yield.features"
    }  # fmt: skip
    informative = by_rule["fab.sensors.informative"]  # 520 sensors compared by hash, not pair by pair
    assert informative["passed"] and len(informative["columns"]) == 520
    (demand,) = m["demands"]
    assert (demand["demand"], demand["rows"]) == ("fab_yield", 200)
    assert demand["classes"] == {"-1": 185, "1": 15}


def test_headerless_matrix_paired_with_its_label_file_by_position(tmp_path: Path) -> None:
    """A 520-sensor matrix with no header and its labels in another file of the same row order (SECOM's layout)."""
    root = headerless_project(tmp_path / "p")
    (root / "labels").mkdir()
    shutil.copy(CASES / "wide_headerless_labels.data", root / "labels" / "wide_headerless_labels.data")
    spec = (root / "dataset_specs" / "fab_raw.yaml").read_text(encoding="utf-8")
    pairing = """enrich:
  - path: labels/{stem}_labels.data
    by: position
    csv: {delimiter: " ", header: false, column_names: [verdict, stamp]}
    columns:
      - {name: verdict, dtype: int8, role: label}
      - {name: ts, source: stamp, dtype: datetime, format: "%d/%m/%Y %H:%M:%S", role: timestamp}
"""
    (root / "dataset_specs" / "fab_raw.yaml").write_text(spec + pairing, encoding="utf-8")
    ld = load_project(root).datasets["fab_raw"]
    assert len(ld.spec.columns) == 520 and [c.name for c in ld.spec.declared_columns][-2:] == ["verdict", "ts"]
    ing = ingest(ld, root, Warehouse(tmp_path / "wh"))
    assert ing.staged is not None
    df = pl.read_parquet(ing.staged)
    assert df.height == 60 and df["verdict"].to_list() == [1 if i % 14 == 3 else -1 for i in range(60)]
    assert df["ts"][1] == datetime(2008, 7, 19, 12, 12)
    assert df["s001"][0] is None and df["s520"].null_count() < 60  # `NaN` is null; the last sensor is read
    assert [(f["path"], f["rows"], f["paired_with"]) for f in ing.lookup_files] == [
        ("labels/wide_headerless_labels.data", 60, "raw/wide_headerless.txt")
    ]

    short = b"".join((CASES / "wide_headerless_labels.data").read_bytes().splitlines(keepends=True)[:59])
    (root / "labels" / "wide_headerless_labels.data").write_bytes(short)
    with pytest.raises(SourceError, match=r"`raw/wide_headerless.txt` has 60 rows but its paired file"):
        ingest(load_project(root).datasets["fab_raw"], root, Warehouse(tmp_path / "wh2"))
