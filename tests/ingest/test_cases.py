"""Raw files as factories really export them (`tests/cases/`): encodings, line endings, Excel, JSON Lines, headers.

Each good case is read with a small spec and its exact values checked; each broken case must fail with a
message naming the file, where in it (line, row or byte offset), what was expected, and the fix.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest
import yaml

from pipelines.errors import SourceError
from pipelines.ingest import encoding
from pipelines.ingest.readers import release_temp_files, scan_file, temp_files
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.spec.models import DatasetSpec
from pipelines.stages import ingest
from pipelines.warehouse import Warehouse
from tests.ingest.plant import spec_dict

CASES = Path(__file__).resolve().parents[1] / "cases"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_cases", CASES / "make_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spec_dict(source: dict[str, Any], columns: list[dict[str, Any]]) -> dict[str, Any]:
    return spec_dict(source, columns)


def _spec(source: dict[str, Any], columns: list[dict[str, Any]]) -> DatasetSpec:
    return DatasetSpec.model_validate(_spec_dict({"path": "unused", **source}, columns))


def _scan(case: str, source: dict[str, Any], columns: list[dict[str, Any]]) -> pl.DataFrame:
    """`scan_file` on a case file, collected, with its temporary copies released."""
    with temp_files():
        return scan_file(CASES / case, _spec(source, columns), f"tests/cases/{case}").collect()


def _error(case: str, source: dict[str, Any], columns: list[dict[str, Any]]) -> str:
    with pytest.raises(SourceError) as info:
        _scan(case, source, columns)
    return str(info.value)


def _project(root: Path, cases: list[str], source: dict[str, Any], columns: list[dict[str, Any]]) -> Path:
    """A tmp project whose `raw/` holds copies of the case files."""
    (root / "dataset_specs").mkdir(parents=True)
    (root / "raw").mkdir()
    for c in cases:
        shutil.copy(CASES / c, root / "raw" / c)
    spec = _spec_dict(source, columns)
    (root / "dataset_specs" / "plant.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), "utf-8")
    return root


def _ingested(tmp_path: Path, cases: list[str], source: dict[str, Any], columns: list[dict[str, Any]]) -> pl.DataFrame:
    """The typed rows the ingest stage stages for the case files."""
    root = _project(tmp_path / "p", cases, source, columns)
    with temp_files():
        ing = ingest(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))
    assert ing.staged is not None
    return pl.read_parquet(ing.staged)


MES_COLUMNS = [
    {"name": "machine", "source": "设备编号", "dtype": "string"},
    {"name": "ts", "source": "时间", "dtype": "datetime", "format": "%Y-%m-%d %H:%M:%S"},
    {"name": "spindle_rpm", "source": "主轴转速[rpm]", "dtype": "int32", "unit": "rpm"},
    {"name": "temp_c", "source": "温度 [°C]", "dtype": "float64"},
    {"name": "shift", "source": "班组", "dtype": "string"},
    {"name": "note", "source": "备注", "dtype": "string"},
]


# ------------------------------------------------------------------------------------------------ good cases


def test_committed_cases_are_what_the_generator_writes(tmp_path: Path) -> None:
    for p in _generator().write_cases(tmp_path):
        rel = p.relative_to(tmp_path).as_posix()
        assert p.read_bytes() == (CASES / rel).read_bytes(), f"tests/cases/{rel} is stale: run make_cases.py"


def test_gbk_mes_export_keeps_chinese_headers_and_values(tmp_path: Path) -> None:
    df = _ingested(tmp_path, ["mes_gbk.csv"], {"format": "csv", "path": "raw/*.csv", "csv": {"encoding": "gbk"}}, MES_COLUMNS)
    assert df.height == 12 and df["_source_row"].to_list() == list(range(1, 13))
    assert df["machine"].to_list()[:3] == ["CNC-01", "CNC-02", "CNC-03"]
    assert df["shift"].to_list()[:4] == ["甲班", "乙班", "丙班", "甲班"]
    assert df["note"].to_list()[:3] == [None, "正常", "主轴异响"]
    assert df["spindle_rpm"].to_list()[:2] == [1200, 1215] and df["temp_c"][0] == 35.5 and df["temp_c"][11] == 39.9
    assert df["ts"][1] == datetime(2024, 3, 1, 8, 5)


def test_gbk_file_is_read_from_a_temporary_copy_that_is_released() -> None:
    spec = _spec({"format": "csv", "csv": {"encoding": "gbk"}}, MES_COLUMNS)
    before = set(encoding.pending_temp_files())
    lf = scan_file(CASES / "mes_gbk.csv", spec, "mes_gbk.csv")
    made = [p for p in encoding.pending_temp_files() if p not in before]
    assert len(made) == 1 and made[0].is_file()
    assert lf.collect()["班组"][1] == "乙班"  # the copy is read when the frame is collected
    assert release_temp_files() >= 1 and not made[0].exists()


def test_auto_detects_gbk() -> None:
    df = _scan("mes_gbk.csv", {"format": "csv", "csv": {"encoding": "auto"}}, MES_COLUMNS)
    assert df["班组"].to_list()[:3] == ["甲班", "乙班", "丙班"] and df["备注"][5] == "冷却液不足"


def test_gb18030_reads_gbk_files() -> None:
    df = _scan("mes_gbk.csv", {"format": "csv", "csv": {"encoding": "gb18030"}}, MES_COLUMNS)
    assert df["温度 [°C]"][0] == "35.5" and df["设备编号"][0] == "CNC-01"


@pytest.mark.parametrize("enc", ["utf8", "utf8-sig", "auto", "utf8-lossy"])
def test_bom_never_ends_up_in_the_first_column_name(enc: str) -> None:
    cols = [
        {"name": "batch", "source": "Batch", "dtype": "string"},
        {"name": "material", "source": "物料", "dtype": "string"},
        {"name": "weight_kg", "source": "Weight [kg]", "dtype": "float64"},
    ]
    df = _scan("bom_utf8.csv", {"format": "csv", "csv": {"encoding": enc}}, cols)
    assert df.columns[0] == "Batch"  # matched exactly: a BOM would not even match case-insensitively
    assert df["Batch"].to_list() == ["B-0301", "B-0302", "B-0303", "B-0304", "B-0305"]
    assert df["物料"].to_list()[:2] == ["冷轧钢板", "镀锌板"]


def test_cr_only_line_endings_are_split_into_rows(tmp_path: Path) -> None:
    cols = [
        {"name": "ts", "source": "Timestamp", "dtype": "datetime", "format": "%Y-%m-%d %H:%M:%S"},
        {"name": "station", "source": "Station", "dtype": "string"},
        {"name": "cycle_s", "source": "Cycle time [s]", "dtype": "float64"},
        {"name": "pressure_bar", "source": "Pressure [bar]", "dtype": "float64"},
    ]
    df = _ingested(tmp_path, ["plc_cr_only.csv"], {"format": "csv", "path": "raw/*.csv"}, cols)
    assert df.height == 20 and df["_source_row"].to_list() == list(range(1, 21))
    assert df["station"].to_list()[:5] == ["ST10", "ST11", "ST12", "ST13", "ST10"]
    assert df["cycle_s"].to_list()[:6] == [41.8, 41.9, 42.0, 42.1, 42.2, 41.8]
    assert df["pressure_bar"][19] == 6.25 and df["ts"][19] == datetime(2024, 3, 4, 6, 13, 18)


LAB_COLUMNS = [
    {"name": "sample", "source": "Probe", "dtype": "string"},
    {"name": "day", "source": "Datum", "dtype": "date", "format": "%d.%m.%Y"},
    {"name": "hardness_hrc", "source": "Härte [HRC]", "dtype": "float64"},
    {"name": "tensile_mpa", "source": "Zugfestigkeit [MPa]", "dtype": "float32"},
    {"name": "remark", "source": "Bemerkung", "dtype": "string"},
]


def test_decimal_comma_with_semicolons_and_quotes(tmp_path: Path) -> None:
    source = {"format": "csv", "path": "raw/*.csv", "csv": {"delimiter": ";", "decimal_comma": True}}
    df = _ingested(tmp_path, ["lab_decimal_comma.csv"], source, LAB_COLUMNS)
    assert df["hardness_hrc"].to_list() == [58.5, 12.5, 61.0, 59.75, None, 60.1]
    assert df["tensile_mpa"].to_list() == pytest.approx([1210.0, 980.25, 1302.5, 1255.0, 1198.0, 1240.4])
    assert df["remark"][2] == "Riss; Kante" and df["sample"][0] == "P-2024-001"


def test_decimal_comma_refuses_a_thousands_separator(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "p", [], {"format": "csv", "path": "raw/*.csv", "csv": {"delimiter": ";", "decimal_comma": True}}, LAB_COLUMNS
    )
    (root / "raw" / "lab.csv").write_text(
        "Probe;Datum;Härte [HRC];Zugfestigkeit [MPa];Bemerkung\nP-1;04.03.2024;1.234,5;1.210;\n", encoding="utf-8"
    )
    with temp_files():
        ing = ingest(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))
    assert ing.staged is not None
    df = pl.read_parquet(ing.staged)
    assert df["hardness_hrc"].to_list() == [None] and df["tensile_mpa"].to_list() == [None]  # never a silent 1.21


EXCEL_COLUMNS = [
    {"name": "batch", "source": "Batch", "dtype": "string"},
    {"name": "inspected_at", "source": "Inspected at", "dtype": "datetime", "format": "%Y-%m-%d %H:%M:%S"},
    {"name": "torque_nm", "source": "Torque [Nm]", "dtype": "float64"},
    {"name": "parts", "source": "Parts", "dtype": "int32"},
    {"name": "result", "source": "Result", "dtype": "string"},
    {"name": "inspector", "source": "检验员", "dtype": "string"},
]


def test_excel_sheet_with_a_title_row_and_a_spacer_row(tmp_path: Path) -> None:
    source = {"format": "xlsx", "path": "raw/*.xlsx", "excel": {"sheet": "Inspection", "header_row": 2}}
    df = _ingested(tmp_path, ["qc_report.xlsx"], source, EXCEL_COLUMNS)
    assert df["_source_row"].to_list() == [4, 5, 6, 8, 9]  # Excel's row numbers; row 7 is the empty spacer
    assert df["batch"].to_list() == ["B-1001", "B-1002", "B-1003", "B-1004", "B-1005"]
    assert df["torque_nm"].to_list() == [24.5, 23.75, 26.0, 24.25, None] and df["__raw__torque_nm"][4] == "n/a"
    assert df["parts"].to_list() == [120, 118, 120, 121, 0]
    assert df["inspected_at"][0] == datetime(2024, 3, 4, 8, 15) and df["inspector"].to_list()[:2] == ["王芳", "李伟"]


def test_excel_sheet_by_position_and_null_values() -> None:
    source = {"format": "xlsx", "excel": {"sheet": 0, "header_row": 2, "null_values": ["n/a"]}}
    df = _scan("qc_report.xlsx", source, EXCEL_COLUMNS)
    assert df["Torque [Nm]"].to_list() == ["24.5", "23.75", "26", "24.25", None]


def test_jsonl_values_as_text(tmp_path: Path) -> None:
    cols = [
        {"name": "ts", "dtype": "datetime", "format": "%Y-%m-%dT%H:%M:%S"},
        {"name": "tag", "dtype": "string"},
        {"name": "value", "dtype": "float64"},
        {"name": "quality", "dtype": "string"},
        {"name": "meta", "dtype": "string"},
    ]
    df = _ingested(tmp_path, ["historian.jsonl"], {"format": "jsonl", "path": "raw/*.jsonl"}, cols)
    assert df.height == 10 and df["_source_row"].to_list() == list(range(1, 11))
    assert df["value"].to_list() == [12.5, 81.0, 12.75, 80.5, 13.0, 80.25, None, 80.0, 12.25, 79.5]
    assert df["tag"][1] == "TIC-204.PV" and df["quality"][6] == "BAD" and df["ts"][9] == datetime(2024, 3, 5, 14, 1, 30)
    assert df["meta"].to_list()[2:4] == [None, '{"unit": "°C", "source": "OPC-UA"}']


def test_jsonl_with_a_bom_and_crlf_endings(tmp_path: Path) -> None:
    f = tmp_path / "h.jsonl"
    f.write_bytes(b'\xef\xbb\xbf{"Tag": "FIC-101.PV", "value": 12.5}\r\n{"Tag": "\xe6\xb8\xa9\xe5\xba\xa6", "value": 7}\r\n')
    with temp_files():
        df = scan_file(f, _spec({"format": "jsonl"}, [{"name": "tag", "dtype": "string"}]), "raw/h.jsonl").collect()
    assert df["tag"].to_list() == ["FIC-101.PV", "温度"]  # `Tag` matched case-insensitively


def test_bad_utf8_byte_far_into_a_big_file_is_located(tmp_path: Path) -> None:
    f = tmp_path / "big.csv"
    body = "".join(f"{i},{i % 7}.5\n" for i in range(20_000)).encode()
    f.write_bytes(b"unit,temp\n" + body + b"20000,\xb5C\n")
    cols = [{"name": "unit", "dtype": "int32"}, {"name": "temp", "dtype": "string"}]
    with pytest.raises(SourceError) as info, temp_files():
        scan_file(f, _spec({"format": "csv"}, cols), "raw/big.csv")
    offset = 10 + len(body) + 6
    assert f"`raw/big.csv`: cannot decode byte offset {offset} (line 20002) as utf-8 (declared as `utf8`)" in str(info.value)


def test_header_names_match_after_stripping_spaces() -> None:
    cols = [
        {"name": "station", "source": "Station", "dtype": "string"},
        {"name": "torque", "source": "Torque", "dtype": "float64"},
        {"name": "angle", "source": "angle [DEG]", "dtype": "int32"},
    ]
    df = _scan("trailing_space_header.csv", {"format": "csv"}, cols)
    assert df["Torque"].to_list()[:3] == ["24.0", "24.3", "24.6"] and df["Station"][1] == "TS-2"
    assert df["angle [DEG]"].to_list()[:2] == ["85", "86"]


def test_case_differences_across_files_of_one_dataset(tmp_path: Path) -> None:
    cols: list[dict[str, Any]] = [
        {"name": "machine", "source": "Machine", "dtype": "string", "nullable": False},
        {"name": "spindle_rpm", "source": "Spindle Speed [rpm]", "dtype": "int32"},
        {"name": "ts", "source": "Timestamp", "dtype": "datetime", "format": "%Y-%m-%d %H:%M:%S"},
    ]
    root = _project(tmp_path / "p", ["case_a.csv", "case_b.csv"], {"format": "csv", "path": "raw/case_*.csv"}, cols)
    with temp_files():
        pub = run_dataset(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))
    assert pub.rows_in == 10 and pub.rows_published == 10
    df = pl.read_parquet(Warehouse(tmp_path / "wh").data_files("plant", pub.version))
    assert df["spindle_rpm"].to_list() == [3000, 3050, 3100, 3150, 3200, 3100, 3150, 3200, 3250, 3300]
    assert df["ts"][5] == datetime(2024, 3, 6, 15, 0)


def test_duplicate_header_renamed_by_position() -> None:
    cols = [
        {"name": "torque_first", "source": "Torque first [Nm]", "dtype": "float64"},
        {"name": "torque_final", "source": "Torque [Nm]", "dtype": "float64"},
    ]
    names = ["Station", "Torque first [Nm]", "Angle [deg]", "Torque [Nm]"]
    df = _scan("dup_header.csv", {"format": "csv", "csv": {"column_names": names}}, cols)
    assert df["Torque first [Nm]"].to_list()[:2] == ["18.0", "19.0"] and df["Torque [Nm]"].to_list()[:2] == ["24.0", "24.5"]


def test_transcoding_is_the_same_in_tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _scan("mes_gbk.csv", {"format": "csv", "csv": {"encoding": "gbk"}}, MES_COLUMNS)
    cr_whole = _scan("plc_cr_only.csv", {"format": "csv"}, [{"name": "station", "source": "Station", "dtype": "string"}])
    monkeypatch.setattr(encoding, "CHUNK_BYTES", 3)  # every multi-byte character and CR/LF pair split somewhere
    assert _scan("mes_gbk.csv", {"format": "csv", "csv": {"encoding": "gbk"}}, MES_COLUMNS).equals(whole)
    cr_tiny = _scan("plc_cr_only.csv", {"format": "csv"}, [{"name": "station", "source": "Station", "dtype": "string"}])
    assert cr_tiny.equals(cr_whole)
    msg = _error("gbk_invalid_bytes.csv", {"format": "csv", "csv": {"encoding": "gbk"}}, MES_COLUMNS)
    assert "byte offset 233 (line 5)" in msg


# ------------------------------------------------------------------------------------------------ broken cases


def test_gbk_invalid_bytes_names_the_offset_and_the_fix() -> None:
    offset = (CASES / "gbk_invalid_bytes.csv").read_bytes().index(_generator().GBK_BAD_BYTES)
    assert offset == 233  # as README.md says
    before = encoding.pending_temp_files()
    msg = _error("gbk_invalid_bytes.csv", {"format": "csv", "csv": {"encoding": "gbk"}}, MES_COLUMNS)
    assert "`tests/cases/gbk_invalid_bytes.csv`" in msg and f"byte offset {offset} (line 5)" in msg
    assert "gbk (declared as `gbk`)" in msg and "bytes `ff`" in msg and "`auto`" in msg and "repair" in msg
    assert encoding.pending_temp_files() == before  # the half-written copy is gone


def test_gbk_file_declared_utf8_names_the_offset_and_the_likely_encoding() -> None:
    msg = _error("mes_gbk.csv", {"format": "csv"}, MES_COLUMNS)
    data = (CASES / "mes_gbk.csv").read_bytes()
    first_bad = next(i for i, b in enumerate(data) if b >= 0x80)
    assert "`tests/cases/mes_gbk.csv`" in msg and f"byte offset {first_bad} (line 1)" in msg
    assert "looks like gb18030" in msg and "`source.csv.encoding`" in msg and "utf8-lossy" in msg


def test_bom_with_gbk_declared_is_refused() -> None:
    msg = _error(
        "bom_utf8.csv", {"format": "csv", "csv": {"encoding": "gbk"}}, [{"name": "batch", "source": "Batch", "dtype": "string"}]
    )
    assert "`tests/cases/bom_utf8.csv`" in msg and "byte offset 0" in msg and "utf8-sig" in msg


def test_jsonl_bad_line_names_the_line() -> None:
    msg = _error("jsonl_bad_line.jsonl", {"format": "jsonl"}, [{"name": "tag", "dtype": "string"}])
    assert "`tests/cases/jsonl_bad_line.jsonl`, line 4, column" in msg and "not valid JSON" in msg
    assert "fix or remove the line" in msg


def test_xlsx_missing_sheet_lists_the_sheets() -> None:
    msg = _error("qc_report.xlsx", {"format": "xlsx", "excel": {"sheet": "Sheet1"}}, EXCEL_COLUMNS)
    assert "`tests/cases/qc_report.xlsx`: no sheet 'Sheet1'" in msg and "0: `Inspection`, 1: `Notes`" in msg
    assert "set `source.excel.sheet`" in msg
    assert "no sheet 5" in _error("qc_report.xlsx", {"format": "xlsx", "excel": {"sheet": 5}}, EXCEL_COLUMNS)


def test_xlsx_wrong_header_row_names_the_excel_row() -> None:
    msg = _error("qc_report.xlsx", {"format": "xlsx", "excel": {"sheet": "Inspection"}}, EXCEL_COLUMNS)
    assert "`tests/cases/qc_report.xlsx` (sheet 'Inspection', header in Excel row 1)" in msg
    assert "no column `Batch` (for `batch`)" in msg
    msg = _error("qc_report.xlsx", {"format": "xlsx", "excel": {"header_row": 40}}, EXCEL_COLUMNS)
    assert "no header in row 41" in msg and "`source.excel.header_row`" in msg


def test_row_with_too_many_fields_names_the_line() -> None:
    cols = [
        {"name": "work_order", "source": "Work order", "dtype": "string"},
        {"name": "hours", "source": "Hours", "dtype": "float64"},
    ]
    msg = _error("ragged_row.csv", {"format": "csv"}, cols)
    assert "`tests/cases/ragged_row.csv`, line 6: 5 fields where the header has 4" in msg
    assert "must be quoted" in msg


def test_duplicate_header_is_refused_with_the_positions_and_the_fix() -> None:
    msg = _error("dup_header.csv", {"format": "csv"}, [{"name": "torque", "source": "Torque [Nm]", "dtype": "float64"}])
    assert "`tests/cases/dup_header.csv`" in msg and "field 2 (`Torque [Nm]`), field 4 (`Torque [Nm]`)" in msg
    assert 'set `source.csv.column_names` to name every column in file order, e.g. ["Station", "Torque [Nm]", ' in msg


def test_case_insensitive_duplicate_offers_the_exact_name(tmp_path: Path) -> None:
    f = tmp_path / "two_temps.csv"
    f.write_text("TEMP,Temp\n1,2\n")
    with pytest.raises(SourceError) as info, temp_files():
        scan_file(f, _spec({"format": "csv"}, [{"name": "temp", "dtype": "float64"}]), "raw/two_temps.csv")
    msg = str(info.value)
    assert "matches 2 header fields case-insensitively: field 1 (`TEMP`), field 2 (`Temp`)" in msg
    assert "set `source:` of column `temp` to the exact header name" in msg


def test_excel_options_only_for_xlsx() -> None:
    with pytest.raises(ValueError, match=r"`excel` options apply to `format: xlsx`"):
        _spec({"format": "csv", "excel": {"sheet": 0}}, [{"name": "a", "dtype": "string"}])


def test_copies_left_by_ended_processes_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    stale = tmp_path / f"moshu-ingest-{int(ended.stdout)}-abc123"
    stale.mkdir()
    (stale / "mes_gbk-x.csv").write_text("left behind by `os._exit`")
    mine = tmp_path / f"moshu-ingest-{os.getpid()}-def456"
    mine.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(encoding, "_dir", None)  # as in a fresh process
    _scan("mes_gbk.csv", {"format": "csv", "csv": {"encoding": "gbk"}}, MES_COLUMNS)
    assert not stale.exists() and mine.exists()
