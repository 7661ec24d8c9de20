"""Time and units at ingest: local times to UTC, epochs, Excel serials, detected formats, pint conversions."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from pydantic import ValidationError

from pipelines.errors import SourceError, SpecError
from pipelines.ingest.cast import conversion_text, detect_format, detected_formats
from pipelines.ingest.readers import scan_file
from pipelines.runner import run_dataset
from pipelines.spec.column_checks import check_columns, unit_conversion
from pipelines.spec.issues import validate_model
from pipelines.spec.loader import load_project
from pipelines.spec.models import Column, DatasetSpec
from pipelines.spec.yaml_marks import Located
from pipelines.stages import ingest
from pipelines.warehouse import Warehouse

CASES = Path(__file__).resolve().parents[1] / "cases"
CLASSIFICATION = {"grade": "general", "domain": "production", "cdo": "c", "retention": "P1Y", "default_sensitivity": "public"}


def _project(root: Path, case: str, columns: list[dict[str, Any]], **extra: Any) -> Path:
    """A one-dataset project `plant` reading a copy of `tests/cases/<case>`."""
    (root / "dataset_specs").mkdir(parents=True)
    (root / "raw").mkdir()
    shutil.copy(CASES / case, root / "raw" / case)
    spec = {
        "name": "plant", "title": "t", "description": "d", "owner": "o", "classification": CLASSIFICATION,
        "source": {"format": "csv", "path": "raw/*.csv"}, "columns": columns, **extra,
    }  # fmt: skip
    (root / "dataset_specs" / "plant.yaml").write_text(
        yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return root


def _staged(tmp_path: Path, root: Path) -> pl.DataFrame:
    ing = ingest(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))
    assert ing.staged is not None
    return pl.read_parquet(ing.staged)


def test_shanghai_mes_local_times_become_utc_and_keep_their_text(tmp_path: Path) -> None:
    cols: list[dict[str, Any]] = [
        {"name": "ts", "source": "采集时间", "dtype": "datetime", "format": "%Y/%m/%d %H:%M:%S",
         "timezone": "Asia/Shanghai", "keep_original": True},
        {"name": "press_id", "source": "设备编号", "dtype": "string"},
        {"name": "count", "source": "产量", "dtype": "int32"},
    ]  # fmt: skip
    df = _staged(tmp_path, _project(tmp_path / "p", "time_mes_shanghai.csv", cols))
    assert df.schema["ts"] == pl.Datetime("us")  # naive, holding UTC
    assert df["ts"].to_list() == [
        datetime(2026, 3, 2, 6, 0), datetime(2026, 3, 2, 6, 5), datetime(2026, 3, 2, 6, 10), None,
        datetime(2026, 3, 2, 23, 30),
    ]  # fmt: skip
    assert df["ts_original"].to_list()[:2] == ["2026/03/02 14:00:00", "2026/03/02 14:05:00"]
    assert df["__raw__ts"][3] == "2026/03/02 25:10:00"  # hour 25: null, flagged by schema.dtype.ts


def test_historian_epoch_milliseconds(tmp_path: Path) -> None:
    cols: list[dict[str, Any]] = [
        {"name": "tag", "source": "TagName", "dtype": "string"},
        {"name": "ts", "source": "TimeStamp", "dtype": "datetime", "time_encoding": "epoch_ms"},
        {"name": "value", "source": "Value", "dtype": "float64"},
    ]
    df = _staged(tmp_path, _project(tmp_path / "p", "time_historian_epoch_ms.csv", cols))
    assert df["ts"].to_list() == [
        datetime(2026, 3, 2, 14, 0), datetime(2026, 3, 2, 14, 0, 1, 500_000), datetime(2026, 3, 2, 14, 0, 3), None, None,
    ]  # fmt: skip
    assert df["__raw__ts"].to_list()[3:] == ["#ERR", "17724600030000000"]  # text, and a year beyond 9999


def test_excel_serial_dates(tmp_path: Path) -> None:
    cols: list[dict[str, Any]] = [
        {"name": "ts", "source": "Datum", "dtype": "datetime", "time_encoding": "excel_serial"},
        {"name": "day", "source": "Datum", "dtype": "date", "time_encoding": "excel_serial"},
        {"name": "line", "source": "Linie", "dtype": "string"},
    ]
    with pytest.raises(SpecError, match="two columns read the same source column"):
        load_project(_project(tmp_path / "dup", "time_excel_serial.csv", cols))
    df = _staged(tmp_path, _project(tmp_path / "p", "time_excel_serial.csv", [cols[0], cols[2]]))
    assert df["ts"].to_list() == [
        datetime(2026, 3, 2, 6, 0), datetime(2026, 3, 2, 14, 0), datetime(2026, 3, 2, 22, 0), None,  # serial 60: 1900-02-29
    ]  # fmt: skip
    day = _staged(tmp_path / "d", _project(tmp_path / "q", "time_excel_serial.csv", [cols[1], cols[2]]))["day"]
    assert day.to_list()[:3] == [date(2026, 3, 2)] * 3


def test_excel_serial_in_local_time_and_serials_before_the_1900_leap_bug() -> None:
    from pipelines.ingest.cast import _convert

    raw = pl.DataFrame({"r": ["46083.25", "59", "61", "0.5"]})
    berlin = Column(name="ts", dtype="datetime", time_encoding="excel_serial", timezone="Europe/Berlin")
    assert raw.select(_convert(berlin, pl.col("r"), pl.String(), None))["r"][0] == datetime(2026, 3, 2, 5, 0)  # 06:00 CET
    col = Column(name="ts", dtype="datetime", time_encoding="excel_serial")
    out = raw.select(_convert(col, pl.col("r"), pl.String(), None))["r"].to_list()
    assert out[1:] == [datetime(1900, 2, 28), datetime(1900, 3, 1), None]


def test_auto_detects_each_columns_format(tmp_path: Path) -> None:
    names = ["iso_t", "iso_space", "ymd_slash", "dotted", "us", "chinese", "offset"]
    cols = [{"name": n, "dtype": "datetime", "format": "auto"} for n in names]
    root = _project(tmp_path / "p", "time_auto_formats.csv", cols)
    spec = load_project(root).datasets["plant"].spec
    raw = scan_file(root / "raw" / "time_auto_formats.csv", spec, "raw/time_auto_formats.csv")
    assert detected_formats(raw, spec, dict(raw.collect_schema())) == {
        "iso_t": "%Y-%m-%dT%H:%M:%S%.f", "iso_space": "%Y-%m-%d %H:%M:%S%.f", "ymd_slash": "%Y/%m/%d %H:%M:%S%.f",
        "dotted": "%d.%m.%Y %H:%M:%S%.f", "us": "%m/%d/%Y %H:%M", "chinese": "%Y年%m月%d日 %H:%M:%S",
        "offset": "%Y-%m-%dT%H:%M:%S%.f%#z",
    }  # fmt: skip
    df = _staged(tmp_path, root)
    first, second = datetime(2026, 3, 2, 14, 0), datetime(2026, 3, 17, 9, 30)
    for n in names[1:-1]:
        assert df[n].to_list() == [first, second], n
    assert df["iso_t"].to_list() == [first, datetime(2026, 3, 17, 9, 30, 0, 250_000)]
    assert df["offset"].to_list() == [datetime(2026, 3, 2, 6, 0), datetime(2026, 3, 17, 1, 30)]  # offsets to UTC


def test_ambiguous_day_month_file_asks_for_a_format(tmp_path: Path) -> None:
    cols: list[dict[str, Any]] = [{"name": "shift_start", "source": "Shift start", "dtype": "datetime", "format": "auto"},
            {"name": "line", "source": "Line", "dtype": "string"}]  # fmt: skip
    with pytest.raises(SourceError) as info:
        _staged(tmp_path, _project(tmp_path / "p", "time_auto_ambiguous.csv", cols))
    msg = str(info.value)
    assert "`raw/time_auto_ambiguous.csv`: column `shift_start` (`Shift start`)" in msg
    assert "day and month cannot be told apart" in msg and "`03/02/2026 06:00`" in msg
    assert "`%d/%m/%Y %H:%M`" in msg and "`%m/%d/%Y %H:%M`" in msg and "declare the format on column `shift_start`" in msg


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2026-03-02"], "%Y-%m-%d"),
        (["02/03/2026", "25/03/2026"], "%d/%m/%Y"),
        (["2026年3月2日"], "%Y年%m月%d日"),
    ],
)
def test_detect_date_formats(values: list[str], expected: str) -> None:
    assert detect_format(values, "date") == expected


def test_detect_format_errors_and_12_hour_clock() -> None:
    assert detect_format(["3/8/2026 2:30 PM", "3/9/2026 11:15 am"], "datetime") == "%m/%d/%Y %I:%M %p"
    with pytest.raises(ValueError, match="values such as `yesterday` match none of the formats"):
        detect_format(["yesterday"], "datetime")


def test_us_rig_units_and_time_zone_through_a_whole_run(tmp_path: Path) -> None:
    cols: list[dict[str, Any]] = [
        {"name": "ts", "source": "Date/Time", "dtype": "datetime", "format": "auto", "timezone": "America/Chicago",
         "keep_original": True, "role": "timestamp", "nullable": False},
        {"name": "rig_id", "source": "Rig", "dtype": "string", "role": "entity"},
        {"name": "oil_temp", "source": "Oil Temp (F)", "dtype": "float64", "source_unit": "degF", "unit": "degC",
         "role": "measurement"},
        {"name": "supply_pressure", "source": "Supply Pressure (psi)", "dtype": "float64", "source_unit": "psi",
         "unit": "bar", "role": "measurement"},
        {"name": "feed_rate", "source": "Feed Rate (mm/min)", "dtype": "float64", "source_unit": "mm/min", "unit": "m/s"},
    ]  # fmt: skip
    root = _project(tmp_path / "p", "units_test_rig_us.csv", cols)
    loaded = load_project(root).datasets["plant"]
    wh = Warehouse(tmp_path / "wh")
    pub = run_dataset(loaded, root, wh)
    assert (pub.rows_in, pub.rows_published, pub.rows_quarantined) == (5, 3, 2)
    data = pl.read_parquet(wh.data_files("plant", pub.version))
    assert data["ts"].to_list() == [datetime(2026, 3, 2, 14, 0), datetime(2026, 3, 2, 14, 1), datetime(2026, 3, 2, 14, 2)]
    assert data["oil_temp"].to_list() == [100.0, 0.0, -40.0]  # 212, 32, -40 degF
    assert data["supply_pressure"].to_list() == pytest.approx([1.0, 0.0, 2.0], abs=1e-6)
    assert data["feed_rate"].to_list() == pytest.approx([0.01, 0.0, 0.02], abs=1e-12)
    q = pl.read_parquet(wh.quarantine_files("plant", pub.version)).sort("_source_row")
    assert q["_source_row"].to_list() == [4, 5]
    assert "schema.dtype.ts" in q["_failed_rules"][0].to_list()  # 02:30 on 2026-03-08 does not exist in Chicago
    assert q["_failed_rules"][1].to_list() == ["schema.dtype.oil_temp"]  # `---`
    assert q["ts"][1] == datetime(2026, 3, 9, 18, 15)  # 13:15 CDT, after the switch
    assert [conversion_text(c) for c in loaded.spec.columns] == [
        None, None, "degF -> degC: x * 5/9 - 160/9", "psi -> bar: x * 0.0689475729317", "mm/min -> m/s: x * 1/60000",
    ]  # fmt: skip


def test_an_incompatible_unit_is_a_spec_error_at_its_line(tmp_path: Path) -> None:
    cols: list[dict[str, Any]] = [
        {"name": "ts", "source": "Date/Time", "dtype": "string"},
        {"name": "oil_temp", "source": "Supply Pressure (psi)", "dtype": "float64", "source_unit": "psi", "unit": "degC"},
    ]
    root = _project(tmp_path / "p", "units_test_rig_us.csv", cols)
    lines = (root / "dataset_specs" / "plant.yaml").read_text(encoding="utf-8").splitlines()
    line = next(i for i, t in enumerate(lines, 1) if t == "- name: oil_temp")
    with pytest.raises(SpecError) as info:
        load_project(root)
    msg = str(info.value)
    assert f"dataset_specs/plant.yaml:{line}:" in msg and "columns[1]" in msg
    assert "column `oil_temp`: cannot convert `source_unit: psi` to `unit: degC`" in msg and "[temperature]" in msg


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dtype": "float64", "source_unit": "degFF", "unit": "degC"}, "`source_unit` `degFF` is not a unit"),
        ({"dtype": "float64", "source_unit": "degF"}, "needs `unit:`"),
        ({"dtype": "int32", "source_unit": "degF", "unit": "degC"}, "declare `dtype: float64`"),
        ({"dtype": "float64", "timezone": "Asia/Shanghai"}, "`timezone` only applies to date/datetime columns"),
        ({"dtype": "datetime", "timezone": "Asia/Shangai"}, "did you mean `Asia/Shanghai`?"),
        ({"dtype": "datetime", "time_encoding": "epoch_s", "timezone": "UTC"}, "epoch values are UTC instants"),
        ({"dtype": "datetime", "time_encoding": "epoch_s", "format": "auto"}, "declare only one"),
        ({"dtype": "date", "timezone": "UTC"}, "a date has no time of day"),
        ({"dtype": "datetime", "format": "%Y-%m-%dT%H:%M:%S%z", "timezone": "UTC"}, "remove `timezone`"),
    ],
)
def test_column_option_mistakes(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Column(name="x", **fields)


def test_unit_conversions_are_exact_affine_maps() -> None:
    assert unit_conversion("degF", "degC").coefficients() == (5.0, -160.0, 9.0)
    assert unit_conversion("K", "degC").text() == "K -> degC: x - 273.15"
    assert unit_conversion("degC", "degF").text() == "degC -> degF: x * 1.8 + 32"
    with pytest.raises(ValueError, match="does not convert"):
        unit_conversion("psi", "degC")


def test_new_options_keep_existing_spec_hashes() -> None:
    plain = Column(name="ts", dtype="datetime")
    assert set(plain.model_dump()) == {
        "name", "source", "from_path", "dtype", "format", "nullable", "unit", "role", "description", "sensitivity",
    }  # fmt: skip
    assert Column(name="ts", dtype="datetime", keep_original=True).model_dump()["keep_original"] is True


def test_original_column_collision_is_reported_with_its_line(tmp_path: Path) -> None:
    cols: list[dict[str, Any]] = [
        {"name": "ts", "source": "Date/Time", "dtype": "datetime", "format": "auto", "keep_original": True},
        {"name": "ts_original", "source": "Rig", "dtype": "string"},
    ]
    root = _project(tmp_path / "p", "units_test_rig_us.csv", cols)
    located = Located(root / "dataset_specs" / "plant.yaml", "dataset_specs/plant.yaml")
    spec, issues = validate_model(DatasetSpec, located)  # not load_project: the loader reports it too once it calls this
    assert issues == []
    check_columns(spec, located, issues)
    assert len(issues) == 1 and issues[0].key_path == "columns[0].keep_original" and issues[0].line is not None
    assert "is already the name of columns[1]" in issues[0].message
    assert Column(name="ts", dtype="datetime", keep_original=True).original_column == Column(
        name="ts_original", dtype="string", source="ts", description="`ts` as written in the raw file, before conversion."
    )
