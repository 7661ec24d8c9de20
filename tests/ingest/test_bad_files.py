"""Real deliveries: files set aside (`source.on_bad_file`), transposed files, any line endings, short rows."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
import yaml

from pipelines.errors import BadFileError, SourceError
from pipelines.ingest.readers import temp_files
from pipelines.quality.field_count import field_count_rule
from pipelines.quality.kinds import FAIL, Context
from pipelines.quality.registry import executor_for
from pipelines.report.card import write_cards
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.stages import ingest
from pipelines.stages.ingest import Ingested
from pipelines.warehouse import Warehouse
from tests.ingest.plant import spec_dict

CASES = Path(__file__).resolve().parents[1] / "cases"

SENSOR = [
    {"name": "t_s", "source": "Time [s]", "dtype": "float64"},
    {"name": "spindle_rpm", "source": "Spindle [rpm]", "dtype": "int32"},
    {"name": "vibration", "source": "Vibration [mm/s]", "dtype": "float64"},
    {"name": "temp_c", "source": "Temp [°C]", "dtype": "float64"},
]
SHIFT = [
    {"name": "line", "source": "Line", "dtype": "string"},
    {"name": "shift", "source": "Shift", "dtype": "string"},
    {"name": "good", "source": "Good", "dtype": "int32"},
    {"name": "scrap", "source": "Scrap", "dtype": "int32"},
]
GAUGE = [
    {"name": "part", "source": "Part", "dtype": "string"},
    {"name": "gauge", "source": "Gauge", "dtype": "string"},
    {"name": "diameter", "source": "Diameter [mm]", "dtype": "float64"},
    {"name": "roundness", "source": "Roundness [um]", "dtype": "float64"},
    {"name": "operator", "source": "Operator", "dtype": "string"},
]


def _project(root: Path, files: dict[str, bytes], source: dict[str, Any], columns: list[dict[str, Any]]) -> Path:
    """A project whose `raw/` holds `files` (name -> bytes) and whose spec `plant` reads them."""
    (root / "dataset_specs").mkdir(parents=True)
    for name, data in files.items():
        (root / "raw" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "raw" / name).write_bytes(data)
    spec = spec_dict({"format": "csv", "path": "raw/*.csv", **source}, columns)
    (root / "dataset_specs" / "plant.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), "utf-8")
    return root


def _case_files(folder: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((CASES / folder).glob("*.csv"))}


def _ingest(tmp_path: Path, files: dict[str, bytes], source: dict[str, Any], columns: list[dict[str, Any]]) -> Ingested:
    root = _project(tmp_path / "p", files, source, columns)
    with temp_files():
        return ingest(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------- transposed


def test_a_transposed_file_among_normal_ones_is_set_aside_with_the_fix(tmp_path: Path) -> None:
    files = _case_files("sensor_runs")
    ing = _ingest(tmp_path, files, {}, SENSOR)
    assert ing.rows_in == 18 and [f.rows for f in ing.files] == [6, 6, 0, 6]
    (q,) = ing.quarantined_files
    assert (q["path"], q["sha256"], q["rows"]) == ("raw/run_03.csv", _sha(files["run_03.csv"]), 6)
    assert q["reason"].startswith("bad file: the file looks transposed: its first column holds the field names")
    assert "`Time [s]`, `Spindle [rpm]`, `Vibration [mm/s]`, `Temp [°C]`" in q["reason"]
    assert "`source.csv.transpose: true`" in q["reason"] and "did you mean" not in q["reason"]
    assert ing.drift == []  # a transposed file is a bad file, not drifted columns
    df = pl.read_parquet(ing.staged) if ing.staged else pl.DataFrame()
    runs = {1: 1510, 2: 1520, 4: 1540}  # run n's spindle speed starts at 1500 + 10 n and rises 5 rpm a second
    assert df["spindle_rpm"].to_list() == [start + 5 * i for start in runs.values() for i in range(6)]


def test_a_transposed_file_under_fail_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(BadFileError) as info:
        _ingest(tmp_path, _case_files("sensor_runs"), {"on_bad_file": "fail"}, SENSOR)
    msg = str(info.value)
    assert msg.startswith("`raw/run_03.csv` looks transposed") and "`source.csv.transpose: true`" in msg
    assert "`source.on_bad_file: fail`" in msg and "`source.on_bad_file: quarantine_file`" in msg


def test_transpose_reads_a_column_major_file(tmp_path: Path) -> None:
    files = {"run_03.csv": (CASES / "sensor_runs" / "run_03.csv").read_bytes()}
    ing = _ingest(tmp_path, files, {"csv": {"transpose": True}}, SENSOR)
    df = pl.read_parquet(ing.staged) if ing.staged else pl.DataFrame()
    assert df["t_s"].to_list() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert df["spindle_rpm"].to_list() == [1530, 1535, 1540, 1545, 1550, 1555]
    assert df["temp_c"].to_list() == [33.0, 33.5, 34.0, 34.5, 35.0, 35.5]
    assert df["_source_row"].to_list() == [1, 2, 3, 4, 5, 6] and ing.quarantined_files == []


def test_transpose_refuses_a_line_with_a_missing_value(tmp_path: Path) -> None:
    data = (CASES / "sensor_runs" / "run_03.csv").read_bytes().replace(b",1.25,", b",")
    with pytest.raises(SourceError, match=r"`raw/r\.csv`, line 3: 6 fields where line 1 has 7; with `source\.csv\.transpose"):
        _ingest(tmp_path, {"r.csv": data}, {"csv": {"transpose": True}, "on_bad_file": "fail"}, SENSOR)


# ---------------------------------------------------------------------------------------------- line endings


def test_crcrlf_line_endings_read_one_row_per_record(tmp_path: Path) -> None:
    cols = [
        {"name": "press", "source": "Press", "dtype": "string"},
        {"name": "stroke", "source": "Stroke", "dtype": "int32"},
        {"name": "force", "source": "Force [kN]", "dtype": "float64"},
        {"name": "note", "source": "Note", "dtype": "string"},
    ]
    ing = _ingest(tmp_path, {"press.csv": (CASES / "press_crcrlf.csv").read_bytes()}, {}, cols)
    df = pl.read_parquet(ing.staged) if ing.staged else pl.DataFrame()
    assert ing.rows_in == 5 and df["force"].to_list() == [412.5, 415.0, 409.8, 398.1, 401.7]
    assert df["note"].to_list() == [None, "die change\nafter stroke 2", "ok", None, None]
    assert df["_source_row"].to_list() == [1, 2, 3, 4, 5]


def test_mixed_line_endings_read_one_row_per_record(tmp_path: Path) -> None:
    cols = [
        {"name": "oven", "source": "Oven", "dtype": "string"},
        {"name": "zone", "source": "Zone", "dtype": "string"},
        {"name": "temp_c", "source": "Temp [°C]", "dtype": "float64"},
        {"name": "remark", "source": "Remark", "dtype": "string"},
    ]
    ing = _ingest(tmp_path, {"oven.csv": (CASES / "mixed_endings.csv").read_bytes()}, {}, cols)
    df = pl.read_parquet(ing.staged) if ing.staged else pl.DataFrame()
    assert df["oven"].to_list() == ["OV-1"] * 3 + ["OV-2"] * 3 and df["zone"].to_list() == list("ABCABC")
    assert df["temp_c"].to_list() == [181.5, 179.0, 183.2, 175.4, 176.9, 177.3]
    assert df["remark"].to_list() == [None, None, "door opened\nclosed at 10:02", None, None, None]


def test_a_long_row_in_a_crcrlf_file_is_reported_at_its_editor_line(tmp_path: Path) -> None:
    data = (CASES / "ragged_row.csv").read_bytes().replace(b"\n", b"\r\r\n")
    cols = [{"name": "work_order", "source": "Work order", "dtype": "string"}]
    with pytest.raises(BadFileError, match=r"`raw/log\.csv`, line 6: 5 fields where the header has 4"):
        _ingest(tmp_path, {"log.csv": data}, {"on_bad_file": "fail"}, cols)


# ---------------------------------------------------------------------------------------------- short rows


def _published(tmp_path: Path, files: dict[str, bytes], source: dict[str, Any], columns: list[dict[str, Any]]) -> Any:
    root = _project(tmp_path / "p", files, source, columns)
    wh = Warehouse(tmp_path / "wh")
    pub = run_dataset(load_project(root).datasets["plant"], root, wh)
    return (
        wh,
        pub,
        pl.read_parquet(wh.data_files("plant", pub.version)),
        pl.read_parquet(wh.quarantine_files("plant", pub.version)),
    )


def test_short_rows_are_quarantined_with_their_line_never_padded(tmp_path: Path) -> None:
    data = (CASES / "short_rows.csv").read_bytes()
    wh, pub, df, q = _published(tmp_path, {"gauge.csv": data}, {}, GAUGE)
    assert df["part"].to_list() == ["A-100", "A-101", "A-103", "A-104", "A-106", "A-108"]
    assert df["operator"].to_list() == ["Sun", "Sun", "Ma", "Ma", None, "Ma"]  # an empty field is not a short row
    assert q["part"].to_list() == ["A-102", "A-105", "A-107"] and q["_source_row"].to_list() == [3, 6, 8]
    assert q["_reasons"].to_list() == [
        ["schema.fields: line 4: 3 fields where 5 expected"],
        ["schema.fields: line 7: 2 fields where 5 expected"],
        ["schema.fields: line 9: 4 fields where 5 expected"],
    ]
    m = wh.manifest("plant", pub.version)
    assert m["counts"]["rows_in"] == 9 == m["counts"]["rows_published"] + m["counts"]["rows_quarantined"]
    assert {r["rule_id"]: r["failed"] for r in m["rules"]}["schema.fields"] == 3


def test_short_rows_keep_their_editor_line_in_a_crcrlf_file(tmp_path: Path) -> None:
    data = (CASES / "short_rows.csv").read_bytes().replace(b"\n", b"\r\r\n")
    ing = _ingest(tmp_path, {"gauge.csv": data}, {}, GAUGE)
    df = pl.read_parquet(ing.staged) if ing.staged else pl.DataFrame()
    short = df.filter(pl.col("__short_fields").is_not_null())
    assert short.select("__short_line", "__short_fields", "__short_expected").rows() == [(4, 3, 5), (7, 2, 5), (9, 4, 5)]


def test_a_file_where_most_rows_are_short_is_a_bad_file(tmp_path: Path) -> None:
    data = b"Part,Gauge,Diameter [mm],Roundness [um],Operator\nA-1,G1\nA-2,G1\nA-3,G1,25.0,3.0,Ma\n"
    good = (CASES / "short_rows.csv").read_bytes()
    ing = _ingest(tmp_path, {"a.csv": good, "b.csv": data}, {}, GAUGE)
    (q,) = ing.quarantined_files
    assert q["path"] == "raw/b.csv" and q["rows"] == 3
    assert q["reason"].startswith("bad file: line 2: 2 fields where 5 expected, and 2 of its 3 rows are as short")
    with pytest.raises(BadFileError, match=r"(?s)`raw/b\.csv`, line 2: 2 fields where 5 expected.*on_bad_file: fail`"):
        _ingest(tmp_path / "fail", {"a.csv": good, "b.csv": data}, {"on_bad_file": "fail"}, GAUGE)


# ---------------------------------------------------------------------------------------------- empty, header only


def test_empty_and_header_only_files_are_set_aside_and_recorded_everywhere(tmp_path: Path) -> None:
    files = _case_files("shift_deliveries")
    root = _project(tmp_path / "p", files, {}, SHIFT)
    wh = Warehouse(tmp_path / "wh")
    pub = run_dataset(load_project(root).datasets["plant"], root, wh)
    m = wh.manifest("plant", pub.version)
    assert m["counts"]["rows_in"] == 8 and m["file_counts"] == {"files_in": 4, "files_read": 2, "files_set_aside": 2}
    assert [(f["path"], f["sha256"], f["rows"]) for f in m["quarantined_files"]] == [
        ("raw/2024-03-02.csv", _sha(b""), 0),
        ("raw/2024-03-03.csv", _sha(files["2024-03-03.csv"]), 0),
    ]
    reasons = [f["reason"] for f in m["quarantined_files"]]
    assert reasons == [
        "bad file: the file is empty: expected a header line or data; remove the file or fill it",
        "bad file: the file has a header but no data rows: remove the file or fill it",
    ]
    con = duckdb.connect(str(wh.catalog_path), read_only=True)
    try:
        rows = con.execute("SELECT path, rows, policy, reason FROM set_aside_files ORDER BY path").fetchall()
    finally:
        con.close()
    assert rows == [
        ("raw/2024-03-02.csv", 0, "on_bad_file", reasons[0]),
        ("raw/2024-03-03.csv", 0, "on_bad_file", reasons[1]),
    ]
    md = next(p for p in write_cards(wh, "plant") if p.name == f"v{pub.version}.md")
    card = md.read_text(encoding="utf-8")
    assert "### Files set aside" in card and "4 files in = 2 read + 2 set aside." in card
    assert f"| `raw/2024-03-02.csv` | 0 | {reasons[0]} |" in card
    html = (wh.version_dir("plant", pub.version) / m["report"]).read_text(encoding="utf-8")
    assert "Files set aside (2)" in html and "<code>raw/2024-03-03.csv</code>" in html


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2024-03-02.csv", r"`raw/2024-03-02\.csv` is empty: expected a header line or data; remove the file"),
        ("2024-03-03.csv", r"`raw/2024-03-03\.csv` has a header but no data rows: remove the file or fill it"),
    ],
)
def test_empty_and_header_only_files_under_fail_stop_the_run(tmp_path: Path, name: str, expected: str) -> None:
    files = {k: v for k, v in _case_files("shift_deliveries").items() if k in ("2024-03-01.csv", name)}
    with pytest.raises(BadFileError, match=expected + r"(?s:.*)`source\.on_bad_file: fail`"):
        _ingest(tmp_path, files, {"on_bad_file": "fail"}, SHIFT)


def test_every_file_bad_fails_listing_each_file_and_reason(tmp_path: Path) -> None:
    files = {k: v for k, v in _case_files("shift_deliveries").items() if k in ("2024-03-02.csv", "2024-03-03.csv")}
    with pytest.raises(SourceError) as info:
        _ingest(tmp_path, files, {}, SHIFT)
    msg = str(info.value)
    assert msg.startswith("dataset `plant`: every file was quarantined (")
    assert "`raw/2024-03-02.csv`: bad file: the file is empty" in msg
    assert "`raw/2024-03-03.csv`: bad file: the file has a header but no data rows" in msg


def test_an_undecodable_file_among_good_ones_is_set_aside_with_its_offset(tmp_path: Path) -> None:
    cols = [{"name": "machine", "source": "设备编号", "dtype": "string"}]
    files = {"a.csv": (CASES / "mes_gbk.csv").read_bytes(), "b.csv": (CASES / "gbk_invalid_bytes.csv").read_bytes()}
    ing = _ingest(tmp_path, files, {"csv": {"encoding": "gbk"}}, cols)
    (q,) = ing.quarantined_files
    assert ing.rows_in == 12 and q["path"] == "raw/b.csv" and q["rows"] is None
    assert q["reason"].startswith("bad file: cannot decode byte offset 233 (line 5) as gbk")


def test_an_empty_line_and_a_one_field_line_are_short_rows_in_words(tmp_path: Path) -> None:
    data = (
        b"Part,Gauge,Diameter [mm],Roundness [um],Operator\nA-1,G1,25.0,3.0,Ma\n\nA-2\nA-3,G1,25.1,3.2,Ma\nA-4,G1,25.2,3.1,Ma\n"
    )
    ing = _ingest(tmp_path, {"g.csv": data}, {}, GAUGE)
    assert ing.staged is not None and ing.rows_in == 5  # the empty line is a row, so nothing is lost
    rule, ctx = field_count_rule(), Context(load_project(tmp_path / "p").datasets["plant"].spec)
    ex = executor_for(rule)
    staged = pl.scan_parquet(ing.staged).with_columns(ex.flags(rule, ctx).alias("flag"), ex.reason(rule, ctx).alias("why"))
    bad = staged.filter(pl.col("flag") == FAIL).select("_source_row", "why").collect()
    assert bad.rows() == [(2, "line 3: an empty line where 5 expected"), (3, "line 4: 1 field where 5 expected")]


def test_excel_transpose_reads_one_record_per_column(tmp_path: Path) -> None:
    source = {
        "format": "xlsx",
        "path": "raw/*.xlsx",
        "excel": {"sheet": "Runs", "header_row": 2, "transpose": True, "null_values": ["-"]},
    }
    root = _project(tmp_path / "p", {"bench.xlsx": (CASES / "bench_sideways.xlsx").read_bytes()}, source, SENSOR)
    with temp_files():
        ing = ingest(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))
    df = pl.read_parquet(ing.staged) if ing.staged else pl.DataFrame()
    assert df["t_s"].to_list() == [0.0, 1.0, 2.0] and df["spindle_rpm"].to_list() == [1500, 1505, 1510]
    assert df["vibration"].to_list() == [0.85, None, 0.95] and df["__raw__vibration"].to_list() == ["0.85", None, "0.95"]
    assert df["temp_c"].to_list() == [30.5, 31.0, 31.5]
    assert df["_source_row"].to_list() == [2, 3, 5]  # Excel columns B, C and E (D is an empty spacer)


def test_a_drifted_file_and_a_bad_file_are_told_apart_in_the_catalog(tmp_path: Path) -> None:
    cols = [
        {"name": "unit", "dtype": "int32"},
        {"name": "cycle", "dtype": "int32"},
        {"name": "temp", "source": "T [K]", "dtype": "float64"},
    ]
    files = _case_files("drift_renamed") | {"line1_2024-03-04.csv": b""}
    root = _project(tmp_path / "p", files, {"drift": "quarantine_file"}, cols)
    wh = Warehouse(tmp_path / "wh")
    pub = run_dataset(load_project(root).datasets["plant"], root, wh)
    con = duckdb.connect(str(wh.catalog_path), read_only=True)
    try:
        rows = con.execute("SELECT path, rows, policy FROM set_aside_files WHERE version = ? ORDER BY path", [pub.version])
        assert rows.fetchall() == [("raw/line1_2024-03-02.csv", 3, "drift"), ("raw/line1_2024-03-04.csv", 0, "on_bad_file")]
    finally:
        con.close()
    m = wh.manifest("plant", pub.version)
    assert m["file_counts"] == {"files_in": 4, "files_read": 2, "files_set_aside": 2} and m["counts"]["rows_in"] == 3


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20])
def test_line_endings_are_counted_alike_in_any_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    from pipelines.ingest import encoding

    monkeypatch.setattr(encoding, "CHUNK_BYTES", chunk)  # every CR run and CRLF pair split somewhere
    p = tmp_path / "x.csv"
    p.write_bytes(b"a\r\r\nb\rc\nd\r\ne\r\rf")  # lines: a | b | c | d | e | (empty) | f
    starts = {b"a": 1, b"b": 2, b"c": 3, b"d": 4, b"e": 5, b"f": 7}
    data = p.read_bytes()
    assert {k: encoding.line_of(p, data.index(k)) for k in starts} == starts
    assert encoding.needs_newline_fix(p)
    assert "".join(encoding._normalise_newlines(iter([data.decode()[i : i + chunk] for i in range(0, len(data), chunk)]))) == (
        "a\nb\nc\nd\ne\n\nf"
    )
    p.write_bytes(b"a\r\nb\nc\r\n")
    assert not encoding.needs_newline_fix(p)  # LF and CRLF: polars reads the file itself


def test_a_partitioned_version_sums_short_rows_over_its_partitions(tmp_path: Path) -> None:
    from pipelines.quality.results import RuleOutcome, make_measure
    from pipelines.stages.publish_partitions import combine_outcomes

    root = _project(tmp_path / "p", {"gauge.csv": b""}, {}, GAUGE)

    def part(key: str, evaluated: int, failed: int) -> dict[str, Any]:
        o = RuleOutcome(
            rule_id="schema.fields", kind="field_count", severity="error", engine="pandera", columns=(), description="",
            params="{}", evaluated=evaluated, failed=failed, measures=(make_measure("N-1", evaluated - failed, evaluated, None, None),),
            samples=(f"line 4: 3 fields where 5 expected ({key})",), sample_rows=(f"raw/{key}.csv:3",),
        )  # fmt: skip
        return {"key": key, "rules": [o.as_dict()]}

    (o,) = combine_outcomes(load_project(root).datasets["plant"], [part("2024-03-01", 9, 3), part("2024-03-02", 5, 1)])
    assert (o.rule_id, o.evaluated, o.failed) == ("schema.fields", 14, 4)
    assert (o.measures[0].a, o.measures[0].b) == (10, 14) and not o.passed
    assert o.sample_rows == ("raw/2024-03-01.csv:3", "raw/2024-03-02.csv:3")


HEAD = b"Part,Gauge,Diameter [mm],Roundness [um],Operator\n"


@pytest.mark.parametrize(
    ("data", "csv_options", "expected"),
    [
        pytest.param(  # quotes: fields counted by the CSV rules, a quoted line break is no record of its own
            HEAD + b'A-1,G1,25.0,3.0,"two\nlines"\nA-2,G1\nA-3,G1,25.0,3.0,Ma\nA-4,G1,25.1,3.0,Ma\n',
            {},
            [(2, 2, 5, 4)],
            id="quoted",
        ),
        pytest.param(  # a title line skipped and a comment left out: lines still counted as in the file
            b"export v2\n" + HEAD + b"# shift 2\nA-1,G1\nA-2,G1,25.0,3.0,Ma\nA-3,G1,25.0,3.0,Ma\n",
            {"skip_rows": 1, "comment_prefix": "#"},
            [(1, 2, 5, 4)],
            id="skipped-and-comment",
        ),
        pytest.param(  # a skipped title line, no quotes: counted by delimiters
            b"export v2\n" + HEAD + b"A-1,G1,25.0,3.0,Ma\nA-2,G1,25.0\nA-3,G1,25.0,3.0,Ma\n",
            {"skip_rows": 1},
            [(2, 3, 5, 4)],
            id="skipped",
        ),
    ],
)
def test_short_rows_are_found_by_line_with_quotes_skipped_lines_and_comments(
    tmp_path: Path, data: bytes, csv_options: dict[str, Any], expected: list[tuple[int, int, int, int]]
) -> None:
    ing = _ingest(tmp_path, {"g.csv": data}, {"csv": csv_options}, GAUGE)
    df = pl.read_parquet(ing.staged) if ing.staged else pl.DataFrame()
    short = df.filter(pl.col("__short_fields").is_not_null())
    assert short.select("_source_row", "__short_fields", "__short_expected", "__short_line").rows() == expected
