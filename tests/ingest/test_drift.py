"""Schema drift between files of one dataset (`source.drift`), on the `tests/cases/drift_*/` folders."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from pipelines.errors import SourceError
from pipelines.spec.loader import load_project
from pipelines.stages import ingest
from pipelines.stages.ingest import Ingested
from pipelines.warehouse import Warehouse
from tests.ingest.plant import CLASSIFICATION

CASES = Path(__file__).resolve().parents[1] / "cases"
COLS = [
    {"name": "unit", "dtype": "int32"},
    {"name": "cycle", "dtype": "int32"},
    {"name": "temp", "source": "T [K]", "dtype": "float64"},
]


def _run(tmp_path: Path, case: str, fmt: str, drift: str | None) -> tuple[Ingested, pl.DataFrame | None]:
    root = tmp_path / "p"
    (root / "dataset_specs").mkdir(parents=True)
    shutil.copytree(CASES / case, root / "raw")
    source: dict[str, Any] = {"format": fmt, "path": f"raw/*.{fmt}"}
    if drift:
        source["drift"] = drift
    spec = {"name": "plant", "title": "t", "description": "d", "owner": "o", "classification": CLASSIFICATION,
            "source": source, "columns": COLS}  # fmt: skip
    (root / "dataset_specs" / "plant.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    ing = ingest(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))
    return ing, (pl.read_parquet(ing.staged) if ing.staged else None)


def test_fail_names_the_file_the_rename_and_the_policy(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        _run(tmp_path, "drift_renamed", "csv", None)
    msg = str(info.value)
    assert "`raw/line1_2024-03-02.csv`" in msg and "no column `T [K]` (for `temp`)" in msg
    assert "`T [K]` looks renamed to `Temp [K]`" in msg and "`source.drift: fail`" in msg
    assert "source.drift: quarantine_file" in msg


def test_quarantine_file_sets_the_file_aside_with_its_rows(tmp_path: Path) -> None:
    ing, df = _run(tmp_path, "drift_renamed", "csv", "quarantine_file")
    assert df is not None and df["unit"].to_list() == [1, 1, 3]
    sha = hashlib.sha256((CASES / "drift_renamed" / "line1_2024-03-02.csv").read_bytes()).hexdigest()
    assert ing.quarantined_files == [
        {"path": "raw/line1_2024-03-02.csv", "sha256": sha, "rows": 3, "reason": "schema drift: `T [K]` renamed to `Temp [K]`?"}
    ]
    assert ing.rows_in == 3 and [f.rows for f in ing.files] == [2, 0, 1]  # 3 staged + 3 quarantined = 6 raw rows
    by_path = {d["path"]: d for d in ing.drift}
    assert by_path["raw/line1_2024-03-02.csv"]["action"] == "quarantined"
    assert by_path["raw/line1_2024-03-03.csv"] == {
        "path": "raw/line1_2024-03-03.csv", "new_columns": ["operator"], "missing": [], "renamed": [], "retyped": [],
        "action": "read",
    }  # fmt: skip
    assert "raw/line1_2024-03-01.csv" not in by_path


def test_allow_new_nullable_reads_a_missing_column_as_null(tmp_path: Path) -> None:
    ing, df = _run(tmp_path, "drift_added", "csv", "allow_new_nullable")
    assert df is not None and df["temp"].to_list() == [None, None, 301.2, 301.0]
    assert df["__raw__temp"].to_list() == [None, None, "301.2", "301.0"]
    assert ing.drift == [
        {
            "path": "raw/2023-12.csv",
            "new_columns": [],
            "missing": ["T [K]"],
            "renamed": [],
            "retyped": [],
            "action": "read_missing_as_null",
        }
    ]
    with pytest.raises(SourceError, match=r"(?s)no column `T \[K\]`.*`source.drift: fail`"):
        _run(tmp_path / "again", "drift_added", "csv", None)


def test_allow_new_nullable_still_fails_on_a_rename(tmp_path: Path) -> None:
    with pytest.raises(
        SourceError,
        match=r"(?s)looks renamed to `Temp \[K\]`.*`source.drift: allow_new_nullable`, which reads a missing column as null, but not one that looks renamed",
    ):
        _run(tmp_path, "drift_renamed", "csv", "allow_new_nullable")


def test_parquet_retype_is_listed_or_quarantined(tmp_path: Path) -> None:
    ing, df = _run(tmp_path / "fail", "drift_parquet", "parquet", None)
    assert df is not None and df["unit"].to_list() == [1, 1, 2, 2, None, 3]  # each file converted from its own types
    retyped = {d["path"]: d["retyped"] for d in ing.drift}
    assert retyped["raw/b_2024-03-02.parquet"] == [{"column": "unit", "type": "String", "expected": "Int64"}]
    assert {d["path"]: d["new_columns"] for d in ing.drift}["raw/c_2024-03-03.parquet"] == ["vibration"]

    ing, df = _run(tmp_path / "q", "drift_parquet", "parquet", "quarantine_file")
    assert df is not None and df["unit"].to_list() == [1, 1, 3] and ing.rows_in == 3
    assert [(q["path"], q["rows"]) for q in ing.quarantined_files] == [("raw/b_2024-03-02.parquet", 3)]
    assert "`unit` is String where the other files have Int64" in ing.quarantined_files[0]["reason"]


def test_every_file_quarantined_is_an_error(tmp_path: Path) -> None:
    root_case = tmp_path / "cases" / "drift_all"
    root_case.mkdir(parents=True)
    (root_case / "a.csv").write_text("unit,cycle,Temp\n1,1,300\n")
    root = tmp_path / "p"
    (root / "dataset_specs").mkdir(parents=True)
    shutil.copytree(root_case, root / "raw")
    spec = {"name": "plant", "title": "t", "description": "d", "owner": "o", "classification": CLASSIFICATION,
            "source": {"format": "csv", "path": "raw/*.csv", "drift": "quarantine_file"}, "columns": COLS}  # fmt: skip
    (root / "dataset_specs" / "plant.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    with pytest.raises(SourceError, match=r"every file was quarantined \(`raw/a\.csv`: schema drift"):
        ingest(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))


def test_a_quarantined_file_is_in_the_published_manifest_and_the_counts_add_up(tmp_path: Path) -> None:
    from pipelines.runner import run_dataset

    _run(tmp_path, "drift_renamed", "csv", "quarantine_file")  # writes the project
    root = tmp_path / "p"
    wh = Warehouse(tmp_path / "wh2")
    pub = run_dataset(load_project(root).datasets["plant"], root, wh)
    m = wh.manifest("plant", pub.version)
    assert [(f["path"], f["rows"]) for f in m["quarantined_files"]] == [("raw/line1_2024-03-02.csv", 3)]
    assert "renamed" in m["quarantined_files"][0]["reason"]
    assert m["counts"]["rows_in"] == m["counts"]["rows_published"] + m["counts"]["rows_quarantined"] == 3
    assert {d["path"]: d["action"] for d in m["drift"]}["raw/line1_2024-03-03.csv"] == "read"
