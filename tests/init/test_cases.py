"""`moshu init` on the raw-file cases of tests/cases: each quirk is recognised and the drafted spec loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.errors import SourceError
from pipelines.init.draft import init_dataset, write

CASES = Path(__file__).resolve().parents[1] / "cases"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for d in ("dataset_specs", "quality_rules"):
        (tmp_path / d).mkdir()
    shutil.copytree(CASES, tmp_path / "raw")
    return tmp_path


def _spec(root: Path, name: str, glob: str) -> dict:
    draft = init_dataset(root, name, glob)
    write(root, draft)  # loads the project's new dataset as `moshu check` does
    return yaml.safe_load(draft.spec_text)


def _columns(spec: dict) -> dict[str, dict]:
    return {c["name"]: c for c in spec["columns"]}


def test_gbk_mes_export_gets_english_names(root: Path) -> None:
    spec = _spec(root, "mes", "raw/mes_gbk.csv")
    assert spec["source"]["csv"]["encoding"] == "gb18030"
    cols = _columns(spec)
    assert cols["machine_id"]["source"] == "设备编号" and cols["machine_id"]["role"] == "entity"
    assert (cols["spindle_speed"]["unit"], cols["temperature"]["unit"]) == ("rpm", "degC")


def test_lab_export_semicolon_and_decimal_comma(root: Path) -> None:
    spec = _spec(root, "lab", "raw/lab_decimal_comma.csv")
    assert spec["source"]["csv"] == {"delimiter": ";", "header": True, "decimal_comma": True}
    cols = _columns(spec)
    assert cols["zugfestigkeit"]["dtype"] == "float64" and cols["zugfestigkeit"]["unit"] == "MPa"
    assert cols["datum"]["dtype"] == "date" and cols["datum"]["format"] == "%d.%m.%Y"


def test_repeated_header_names_are_told_apart_by_position(root: Path) -> None:
    spec = _spec(root, "tightening", "raw/dup_header.csv")
    assert spec["source"]["csv"]["column_names"] == ["Station", "Torque [Nm]", "Angle [deg]", "Torque 2 [Nm]"]
    assert {"torque", "torque_2"} <= set(_columns(spec))


def test_workbook_header_below_a_title_and_a_text_null(root: Path) -> None:
    spec = _spec(root, "qc", "raw/qc_report.xlsx")
    assert spec["source"]["excel"] == {"header_row": 2, "null_values": ["", "n/a"]}
    cols = _columns(spec)
    assert cols["torque"]["dtype"] == "float64" and cols["inspected_at"]["dtype"] == "datetime"
    assert cols["inspector"]["sensitivity"] == "personal"


def test_files_whose_columns_drift_and_headers_in_another_case(root: Path) -> None:
    spec = _spec(root, "drifting", "raw/drift_parquet/*.parquet")
    assert spec["source"]["drift"] == "allow_new_nullable" and "nullable" not in _columns(spec)["vibration"]
    spec = _spec(root, "shifts", "raw/case_*.csv")
    assert "drift" not in spec["source"] and len(spec["columns"]) == 1 + 3  # the file-name column + the three headers


def test_jsonl_and_cr_only_and_time_encodings(root: Path) -> None:
    assert "meta" not in _columns(_spec(root, "hist", "raw/historian.jsonl"))  # nested: left out, noted
    assert _columns(_spec(root, "plc", "raw/plc_cr_only.csv"))
    cols = _columns(_spec(root, "epoch", "raw/time_historian_epoch_ms.csv"))
    assert any(c.get("time_encoding") == "epoch_ms" for c in cols.values())


@pytest.mark.parametrize(
    ("glob", "message"),
    [
        ("raw/ragged_row.csv", r"`raw/ragged_row\.csv`, line 6: 5 fields where the first line has 4"),
        ("raw/jsonl_bad_line.jsonl", r"`raw/jsonl_bad_line\.jsonl`, line 4: not a JSON object"),
        ("raw/gbk_invalid_bytes.csv", r"`raw/gbk_invalid_bytes\.csv`: cannot tell the text encoding"),
    ],
)
def test_unreadable_files_say_which_where_and_what_to_do(root: Path, glob: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        init_dataset(root, "broken", glob)
