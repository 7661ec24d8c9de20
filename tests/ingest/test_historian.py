"""Historian long format (`source.long`): pivot to one row per timestamp, OPC UA quality -> QARTOD flags."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from pydantic import ValidationError

from pipelines.errors import SourceError
from pipelines.ingest.historian import quality_flag
from pipelines.spec.loader import load_project
from pipelines.spec.models import DatasetSpec, Source
from pipelines.stages import ingest
from pipelines.warehouse import Warehouse
from tests.ingest.plant import CLASSIFICATION, spec_dict

CASES = Path(__file__).resolve().parents[1] / "cases"
TAGS = {"FIC101.PV": "flow", "TI202.PV": "temp", "PI303.PV": "pressure"}
LONG = {"tag": "TagName", "timestamp": "Timestamp", "value": "Value", "quality": "Quality", "tags": TAGS}


def _columns(tags: dict[str, str] = TAGS, quality: bool = True) -> list[dict[str, Any]]:
    cols: list[dict[str, Any]] = [{"name": "ts", "source": "Timestamp", "dtype": "datetime"}]
    for name in tags.values():
        cols.append({"name": name, "dtype": "float64"})
        if quality:
            cols.append({"name": f"{name}__quality", "dtype": "uint8"})
    return cols


def _ingest(tmp_path: Path, files: dict[str, str | Path], source: dict[str, Any], columns: list[dict[str, Any]]) -> pl.DataFrame:
    root = tmp_path / "p"
    (root / "dataset_specs").mkdir(parents=True)
    (root / "raw").mkdir()
    for name, content in files.items():
        if isinstance(content, Path):
            shutil.copy(content, root / "raw" / name)
        else:
            (root / "raw" / name).write_text(content, encoding="utf-8")
    spec = spec_dict(source, columns)
    (root / "dataset_specs" / "plant.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    ing = ingest(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))
    assert ing.staged is not None
    return pl.read_parquet(ing.staged)


def test_historian_export_is_pivoted_with_quality_flags(tmp_path: Path) -> None:
    src = {"format": "csv", "path": "raw/*.csv", "long": LONG}
    df = _ingest(tmp_path, {"historian_long.csv": CASES / "historian_long.csv"}, src, _columns())
    assert df.height == 10
    assert df["ts"][0] == datetime(2024, 3, 5, 14, 0) and df["ts"][-1] == datetime(2024, 3, 5, 14, 1, 30)
    # 14:00:20: FIC101 is 0x80340000 (Bad_SensorNotConnected): value null, flag 4
    assert df["flow"].to_list()[:4] == [12.5, 12.75, None, 13.1] and df["flow__quality"].to_list()[:4] == [1, 1, 4, 1]
    # TI202 0x408F0000 and `Uncertain_LastUsableValue` keep their value, flagged 3
    assert df["temp"][3] == 81.9 and df["temp__quality"].to_list() == [1, 1, 1, 3, 1, 1, 3, 1, 1, 3]
    # PI303: no row at 14:00:40 (flag 9), Bad_SensorFailure at 14:00:50 (the -999 is not published)
    assert df["pressure"].to_list()[4:6] == [None, None] and df["pressure__quality"].to_list()[4:6] == [9, 4]
    assert df.schema["flow__quality"] == pl.UInt8
    # lineage: the first long row that contributed to each pivoted row
    assert df["_source_row"].to_list() == [1, 4, 7, 10, 13, 15, 18, 21, 24, 27]
    assert set(df["_source_file"]) == {"raw/historian_long.csv"}


def test_parquet_long_with_keys_and_integer_status_codes(tmp_path: Path) -> None:
    raw = pl.DataFrame(
        {
            "line": ["L1", "L1", "L2", "L2", "L1"],
            "tag": ["A.PV", "B.PV", "A.PV", "B.PV", "A.PV"],
            "t": ["2024-01-01 00:00:00"] * 4 + ["2024-01-01 00:01:00"],
            "v": [1.0, 2.0, 3.0, 4.0, 5.0],
            "q": [0, 0x40000000, -2147483648, 0, 0],  # signed 32-bit Bad
        }
    )
    root_file = tmp_path / "h.parquet"
    raw.write_parquet(root_file)
    long = {"tag": "tag", "timestamp": "t", "value": "v", "quality": "q", "keys": ["line"], "tags": {"A.PV": "a", "B.PV": "b"}}
    cols = [{"name": "line", "dtype": "string"}, *_columns({"A.PV": "a", "B.PV": "b"})]
    cols[1]["source"] = "t"
    df = _ingest(tmp_path, {"h.parquet": root_file}, {"format": "parquet", "path": "raw/*.parquet", "long": long}, cols)
    assert df.select("line", "a", "a__quality", "b", "b__quality").rows() == [
        ("L1", 1.0, 1, 2.0, 3),
        ("L2", None, 4, 4.0, 1),
        ("L1", 5.0, 1, None, 9),
    ]


def test_quality_codes() -> None:
    codes = ["0x00000000", "0", "GOOD", "Good_LocalOverride", "0x408F0000", "1083113472", "Uncertain", "uncertain_x",
             "0x80340000", "Bad_SensorFailure", "-2147483648", "0xC0000000", "", None, "maybe", "0x1FFFFFFFF"]  # fmt: skip
    flags = pl.DataFrame({"q": codes}, schema={"q": pl.String}).select(quality_flag(pl.col("q")).alias("f"))["f"].to_list()
    assert flags == [1, 1, 1, 1, 3, 3, 3, 3, 4, 4, 4, 4, 2, 2, None, None]


def test_duplicate_tag_and_timestamp_is_refused_with_its_lines(tmp_path: Path) -> None:
    text = "TagName,Timestamp,Value,Quality\nA.PV,2024-01-01 00:00,1,0\nA.PV,2024-01-01 00:00 ,2,0\n"
    with pytest.raises(SourceError) as info:
        _ingest(tmp_path, {"d.csv": text}, {"format": "csv", "path": "raw/*.csv", "long": {**LONG, "tags": {"A.PV": "a"}}},
                _columns({"A.PV": "a"}))  # fmt: skip
    msg = str(info.value)
    assert "`raw/d.csv`, line 2 and line 3: tag `A.PV` has 2 values" in msg and "never dropped" in msg


def test_unmapped_tag_is_refused_unless_ignored(tmp_path: Path) -> None:
    text = "TagName,Timestamp,Value,Quality\nA.PV,2024-01-01 00:00,1,0\nZ.PV,2024-01-01 00:00,2,0\n"
    long = {**LONG, "tags": {"A.PV": "a"}}
    with pytest.raises(SourceError, match=r"`raw/d\.csv`: tags not in `source\.long\.tags`: `Z\.PV` \(line 3\)"):
        _ingest(tmp_path / "1", {"d.csv": text}, {"format": "csv", "path": "raw/*.csv", "long": long}, _columns({"A.PV": "a"}))
    long["ignore_tags"] = ["Z.PV"]
    df = _ingest(tmp_path / "2", {"d.csv": text}, {"format": "csv", "path": "raw/*.csv", "long": long}, _columns({"A.PV": "a"}))
    assert df["a"].to_list() == [1.0]


def test_unknown_quality_code_names_line(tmp_path: Path) -> None:
    text = "TagName,Timestamp,Value,Quality\nA.PV,2024-01-01 00:00,1,0\nA.PV,2024-01-01 00:01,2,OK?\n"
    with pytest.raises(SourceError, match=r"`raw/d\.csv`, line 3: quality `OK\?`.*not an OPC UA status code"):
        _ingest(tmp_path, {"d.csv": text}, {"format": "csv", "path": "raw/*.csv", "long": {**LONG, "tags": {"A.PV": "a"}}},
                _columns({"A.PV": "a"}))  # fmt: skip


def test_quality_columns_must_be_declared(tmp_path: Path) -> None:
    text = "TagName,Timestamp,Value,Quality\nA.PV,2024-01-01 00:00,1,0\n"
    with pytest.raises(SourceError, match=r"add `\{name: a__quality, dtype: uint8\}`"):
        _ingest(tmp_path, {"d.csv": text}, {"format": "csv", "path": "raw/*.csv", "long": {**LONG, "tags": {"A.PV": "a"}}},
                _columns({"A.PV": "a"}, quality=False))  # fmt: skip


def test_long_options_validation_and_hash_stability() -> None:
    with pytest.raises(ValidationError, match="not `format: xlsx`"):
        Source.model_validate({"format": "xlsx", "path": "x", "long": LONG})
    with pytest.raises(ValidationError, match="same column"):
        Source.model_validate({"format": "csv", "path": "x", "long": {**LONG, "tags": {"A": "a", "B": "a"}}})
    plain = Source.model_validate({"format": "csv", "path": "x"}).model_dump()
    assert "long" not in plain and "drift" not in plain  # existing specs keep their data hash
    spec = DatasetSpec.model_validate(
        {
            "name": "p",
            "title": "t",
            "description": "d",
            "owner": "o",
            "classification": CLASSIFICATION,
            "source": {"format": "csv", "path": "x", "long": LONG},
            "columns": _columns(),
        }
    )
    assert spec.source.long is not None and spec.source.long.tags == TAGS
