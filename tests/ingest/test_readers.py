"""Readers: headerless and Parquet sources, and clear errors for files that do not match their spec."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from pipelines.errors import SourceError
from pipelines.spec.loader import load_project
from pipelines.stages import ingest
from pipelines.warehouse import Warehouse
from tests.ingest.plant import CLASSIFICATION


def _project(root: Path, source: dict[str, object], columns: list[dict[str, object]]) -> Path:
    (root / "dataset_specs").mkdir(parents=True)
    spec = {
        "name": "plant",
        "title": "t",
        "description": "d",
        "owner": "o",
        "source": source,
        "classification": CLASSIFICATION,
        "columns": columns,
    }
    (root / "dataset_specs" / "plant.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return root


COLS = [
    {"name": "unit", "dtype": "int32"},
    {"name": "cycle", "dtype": "int32"},
    {"name": "temp", "source": "T [K]", "dtype": "float64"},
]


def _staged(tmp_path: Path, root: Path) -> pl.DataFrame:
    loaded = load_project(root).datasets["plant"]
    ing = ingest(loaded, root, Warehouse(tmp_path / "wh"))
    assert ing.staged is not None
    return pl.read_parquet(ing.staged)


def test_headerless_csv_takes_names_from_the_spec(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "p",
        {
            "format": "csv",
            "path": "raw/*.txt",
            "csv": {"delimiter": ";", "header": False, "column_names": ["unit", "cycle", "T [K]"]},
        },
        COLS,
    )
    (root / "raw").mkdir()
    (root / "raw" / "a.txt").write_text("1;1;300.5\n1;2;x\n")
    df = _staged(tmp_path, root)
    assert df["temp"].to_list() == [300.5, None]
    assert df["__raw__temp"].to_list() == ["300.5", "x"]
    assert df["_source_file"].to_list() == ["raw/a.txt", "raw/a.txt"] and df["_source_row"].to_list() == [1, 2]


def test_parquet_source_and_several_files(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", {"format": "parquet", "path": "raw/*.parquet"}, COLS)
    (root / "raw").mkdir()
    pl.DataFrame({"unit": [1, 2], "cycle": [1, 1], "T [K]": [300.0, 301.0]}).write_parquet(root / "raw" / "a.parquet")
    pl.DataFrame({"unit": [3], "cycle": [1], "T [K]": [302.0], "extra": ["ignored"]}).write_parquet(root / "raw" / "b.parquet")
    df = _staged(tmp_path, root)
    assert df["unit"].to_list() == [1, 2, 3] and df["_row_id"].to_list() == [0, 1, 2]
    assert df.schema["unit"] == pl.Int32 and "extra" not in df.columns


def test_missing_column_names_the_file_and_suggests(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", {"format": "csv", "path": "raw/*.csv"}, COLS)
    (root / "raw").mkdir()
    (root / "raw" / "a.csv").write_text("unit,cycle,T[K]\n1,1,300\n")
    with pytest.raises(SourceError) as info:
        _staged(tmp_path, root)
    msg = str(info.value)
    assert "`raw/a.csv`" in msg and "no column `T [K]` (for `temp`)" in msg and "did you mean `T[K]`?" in msg


def test_no_matching_files(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", {"format": "csv", "path": "raw/*.csv"}, COLS)
    with pytest.raises(SourceError, match=r"no files match `raw/\*\.csv`"):
        _staged(tmp_path, root)


def test_undecodable_file_is_named(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", {"format": "csv", "path": "raw/*.csv"}, COLS)
    (root / "raw").mkdir()
    (root / "raw" / "gbk.csv").write_bytes(b"unit,cycle,T [K]\n1,1,300\n" + "2,1,温度\n".encode("gbk"))
    with pytest.raises(SourceError, match=r"`raw/gbk\.csv`.*utf8-lossy"):
        _staged(tmp_path, root)


def test_headerless_field_count_mismatch(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "p",
        {"format": "csv", "path": "raw/*.txt", "csv": {"header": False, "column_names": ["unit", "cycle", "T [K]"]}},
        COLS,
    )
    (root / "raw").mkdir()
    (root / "raw" / "a.txt").write_text("1,1,300,7\n")
    with pytest.raises(SourceError, match=r"has 4 fields but `source\.csv\.column_names` names 3"):
        _staged(tmp_path, root)


def test_parquet_files_with_different_types_are_each_converted(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", {"format": "parquet", "path": "raw/*.parquet"}, COLS)
    (root / "raw").mkdir()
    pl.DataFrame({"unit": [1], "cycle": [1], "T [K]": [300.5]}).write_parquet(root / "raw" / "a.parquet")
    pl.DataFrame({"unit": ["2"], "cycle": ["1"], "T [K]": ["301.5"]}).write_parquet(root / "raw" / "b.parquet")
    df = _staged(tmp_path, root)
    assert df["temp"].to_list() == [300.5, 301.5] and df["unit"].to_list() == [1, 2]


def test_headerless_file_starting_with_a_comment(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "p",
        {
            "format": "csv",
            "path": "raw/*.csv",
            "csv": {"header": False, "comment_prefix": "#", "column_names": ["unit", "cycle", "T [K]"]},
        },
        COLS,
    )
    (root / "raw").mkdir()
    (root / "raw" / "a.csv").write_text("# exported by MES\n1,1,300\n")
    assert _staged(tmp_path, root)["temp"].to_list() == [300.0]
