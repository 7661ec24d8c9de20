"""Enrichment and derived columns on the `tests/cases/` files: labels from another file, computed labels, split times.

Good cases are ingested and their exact values checked; broken ones must fail (or quarantine) naming the
file, the line or row, and the fix.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from pipelines.errors import SourceError, SpecError
from pipelines.ingest.readers import temp_files
from pipelines.report.card import write_card
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.stages import ingest
from pipelines.stages.ingest import Ingested
from pipelines.warehouse import Warehouse
from tests.ingest.plant import spec_dict

CASES = Path(__file__).resolve().parents[1] / "cases"

MILL_SOURCE = {"format": "csv", "path": "raw/experiment_*.csv"}
MILL_COLUMNS: list[dict[str, Any]] = [
    {"name": "experiment", "from_path": r"experiment_(\d+)\.csv", "dtype": "int64", "role": "entity"},
    {"name": "x1_position", "source": "X1_ActualPosition", "dtype": "float64", "unit": "mm", "role": "measurement"},
    {"name": "process", "source": "Machining_Process", "dtype": "string", "map": {"end": "End"}},
    {"name": "sample", "dtype": "int32", "expr": "_entity_row"},
]


def _mill_enrich(on_missing: str = "quarantine") -> list[dict[str, Any]]:
    return [
        {
            "path": "raw/experiments.csv",
            "on": {"experiment": "No"},
            "columns": [
                {"name": "tool_condition", "dtype": "string", "role": "label"},
                {"name": "feedrate", "dtype": "float64", "unit": "mm/s"},
                {"name": "inspection_passed", "source": "passed_visual_inspection", "dtype": "bool"},
            ],
            "on_missing": on_missing,
        }
    ]


def _project(root: Path, files: dict[str, str], spec: dict[str, Any]) -> Path:
    """A tmp project: `raw/<name>` copied from `tests/cases/<case>` for each `name: case`, and the spec `plant`."""
    (root / "dataset_specs").mkdir(parents=True)
    for name, case in files.items():
        (root / "raw" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CASES / case, root / "raw" / name)
    (root / "dataset_specs" / "plant.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    return root


def _mill_files(table: str = "experiments.csv") -> dict[str, str]:
    return {
        "experiments.csv": f"mill/{table}",
        **{f"experiment_{n:02d}.csv": f"mill/experiment_{n:02d}.csv" for n in range(1, 7)},
    }


def _mill_spec(on_missing: str = "quarantine") -> dict[str, Any]:
    return {**spec_dict(MILL_SOURCE, MILL_COLUMNS), "enrich": _mill_enrich(on_missing)}


def _ingest(tmp_path: Path, files: dict[str, str], spec: dict[str, Any]) -> tuple[Ingested, pl.DataFrame]:
    root = _project(tmp_path / "p", files, spec)
    with temp_files():
        ing = ingest(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))
    assert ing.staged is not None
    return ing, pl.read_parquet(ing.staged)


def _spec_error(tmp_path: Path, spec: dict[str, Any]) -> str:
    root = _project(tmp_path / "p", {}, spec)
    with pytest.raises(SpecError) as info:
        load_project(root)
    return str(info.value)


# ------------------------------------------------------------------------------------------------ by key


def test_labels_per_experiment_join_on_the_number_in_the_path(tmp_path: Path) -> None:
    ing, df = _ingest(tmp_path, _mill_files(), _mill_spec())
    assert df.height == 36 and ing.rows_in == 36
    first = df.filter(pl.col("sample") == 1).sort("experiment")
    assert first["experiment"].to_list() == [1, 2, 3, 4, 5, 6]
    assert first["tool_condition"].to_list() == ["unworn", "unworn", "worn", "worn", "unworn", "worn"]
    assert first["feedrate"].to_list() == [6.0, 20.0, 6.0, 20.0, 15.0, 3.0]
    assert first["inspection_passed"].to_list() == [True, True, False, False, True, True]
    assert df["sample"].to_list() == [1, 2, 3, 4, 5, 6] * 6  # rows kept in file order, counted per experiment
    assert df["__enrich__experiments"].all()
    sha = hashlib.sha256((CASES / "mill" / "experiments.csv").read_bytes()).hexdigest()
    assert ing.lookup_files == [
        {"enrich": "experiments", "path": "raw/experiments.csv", "sha256": sha, "size": 209, "rows": 6, "paired_with": None}
    ]


def test_value_map_respells_and_is_counted(tmp_path: Path) -> None:
    ing, df = _ingest(tmp_path, _mill_files(), _mill_spec())
    assert df.filter(pl.col("sample") == 6)["process"].to_list() == ["End"] * 6  # `end` in files 1, 3, 5
    assert ing.mapped_values == {"process": {"end": 3}}


def test_a_changed_lookup_file_changes_the_data_hash(tmp_path: Path) -> None:
    a, _ = _ingest(tmp_path / "a", _mill_files(), _mill_spec())
    files = _mill_files()
    b, _ = _ingest(tmp_path / "b", files, _mill_spec())
    assert a.data_hash == b.data_hash
    (tmp_path / "b" / "p" / "raw" / "experiments.csv").write_text(
        (CASES / "mill" / "experiments.csv").read_text().replace("worn,no", "unworn,no"), "utf-8"
    )
    root = tmp_path / "b" / "p"
    with temp_files():
        c = ingest(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "c-wh"))
    assert c.data_hash != a.data_hash


def test_duplicate_lookup_key_names_the_lines(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        _ingest(tmp_path, _mill_files("experiments_dup.csv"), _mill_spec())
    msg = str(info.value)
    assert "`raw/experiments.csv`: 1 key(s) are on more than one row (experiment=3 on line 4 and line 7)" in msg
    assert "remove or merge the duplicate rows" in msg


def test_unmatched_key_fails_with_the_key_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        _ingest(tmp_path, _mill_files("experiments_missing.csv"), _mill_spec("fail"))
    msg = str(info.value)
    assert "6 row(s) have a key that `raw/experiments.csv` does not have" in msg
    assert "experiment=6 (`raw/experiment_06.csv`, row 1)" in msg
    assert "set `on_missing: quarantine` (or `null`)" in msg


def test_unmatched_key_under_null_publishes_nulls(tmp_path: Path) -> None:
    ing, df = _ingest(tmp_path, _mill_files("experiments_missing.csv"), _mill_spec("null"))
    assert ing.rows_in == 36
    six = df.filter(pl.col("experiment") == 6)
    assert six.height == 6 and six["tool_condition"].null_count() == 6
    assert "__enrich__experiments" not in df.columns


@pytest.mark.slow
def test_unmatched_key_under_quarantine_is_quarantined_with_its_rule(tmp_path: Path) -> None:
    spec = {**_mill_spec(), "rules": ["rules.yaml"]}
    root = _project(tmp_path / "p", _mill_files("experiments_missing.csv"), spec)
    rule = {"id": "plant.first_five", "kind": "expression", "expr": "_source_row <= 5", "severity": "warn"}
    (root / "rules.yaml").write_text(yaml.safe_dump({"rules": [rule]}), "utf-8")  # a rule may read the lineage
    pub = run_dataset(load_project(root).datasets["plant"], root, Warehouse(tmp_path / "wh"))
    assert (pub.rows_in, pub.rows_published, pub.rows_quarantined, pub.rows_warned) == (36, 30, 6, 5)
    wh = Warehouse(tmp_path / "wh")
    q = pl.read_parquet(wh.quarantine_files("plant", pub.version))
    assert q["experiment"].unique().to_list() == [6]
    assert q["_failed_rules"][0].to_list() == ["enrich.experiments.missing"]
    assert "no row of `raw/experiments.csv` has experiment=6" in q["_reasons"][0][0]
    data = pl.read_parquet(wh.data_files("plant", pub.version))
    assert {"tool_condition", "feedrate", "sample"} <= set(data.columns) and "__enrich__experiments" not in data.columns
    report = (pub.path / "quality" / "report.html").read_text("utf-8")
    assert "<code>raw/experiments.csv</code> (enrich <code>experiments</code>) &middot; 5 rows" in report
    card = "\n".join(p.read_text("utf-8") for p in write_card(Warehouse(tmp_path / "wh"), "plant", 1))
    assert "| raw/experiments.csv (enrich `experiments`) |" in card
    assert "- `sample`: derived: `_entity_row`." in card
    assert "- `process`: respelled `end` -> `End` (3 values)." in card
    assert "- `tool_condition`: from `raw/experiments.csv` by key (experiment=No), column `tool_condition`." in card


def test_lookup_from_a_workbook_pseudonymises_its_personal_column(tmp_path: Path) -> None:
    columns = [
        {"name": "station", "source": "Station", "dtype": "string", "role": "entity"},
        {"name": "batch", "source": "Batch", "dtype": "string"},
        {"name": "torque", "source": "Torque [Nm]", "dtype": "float64", "unit": "N*m"},
    ]
    enrich = {
        "path": "raw/qc_report.xlsx",
        "format": "xlsx",
        "excel": {"sheet": "Inspection", "header_row": 2},
        "on": {"batch": "Batch"},
        "columns": [
            {"name": "verdict", "source": "Result", "dtype": "string", "role": "label"},
            {"name": "inspector", "source": "检验员", "dtype": "string", "sensitivity": "personal"},
        ],
    }
    spec = {**spec_dict({"format": "csv", "path": "raw/*.csv"}, columns), "enrich": [enrich]}
    files = {"tightening_batches.csv": "tightening_batches.csv", "qc_report.xlsx": "qc_report.xlsx"}
    _, df = _ingest(tmp_path, files, spec)
    assert df["verdict"].to_list() == ["OK", "OK", "NG", "NG"]
    inspectors = df["inspector"].to_list()
    assert inspectors[0] == inspectors[1] == inspectors[2] != inspectors[3]  # one pseudonym per inspector
    assert all(i.startswith("psn-") for i in inspectors)
    assert not {"王芳", "李伟", "张敏"} & set(inspectors)


def test_a_demand_can_name_an_enriched_label(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", {}, _mill_spec())
    demand = {"name": "tool_wear", "dataset": "plant", "title": "t", "team": "m", "description": "d",
              "task": "classification", "label": "tool_condition", "features": ["x1_position", "feedrate"],
              "split": {"method": "random", "seed": 7}}  # fmt: skip
    (root / "dataset_specs" / "demands").mkdir()
    (root / "dataset_specs" / "demands" / "tool_wear.yaml").write_text(yaml.safe_dump(demand), "utf-8")
    assert [d.name for d in load_project(root).datasets["plant"].demands] == ["tool_wear"]


# ------------------------------------------------------------------------------------------------ derived columns


def test_label_onset_at_a_sample_index(tmp_path: Path) -> None:
    source = {"format": "csv", "path": "raw/d*_te.dat", "csv": {"delimiter": "whitespace", "header": False,
              "column_names": ["xmeas_1", "xmeas_2", "xmeas_3"]}}  # fmt: skip
    columns = [
        {"name": "fault", "from_path": r"d(\d+)_te\.dat", "dtype": "int32", "role": "entity"},
        {"name": "xmeas_1", "dtype": "float64", "role": "measurement"},
        {"name": "label", "dtype": "int32", "role": "label", "expr": "CASE WHEN _file_row <= 3 THEN 0 ELSE fault END"},
    ]
    files = {"d01_te.dat": "te/d01_te.dat", "d02_te.dat": "te/d02_te.dat"}
    _, df = _ingest(tmp_path, files, spec_dict(source, columns))
    assert df["label"].to_list() == [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 2, 2, 2]
    assert df["xmeas_1"][3] == 0.68


def test_date_and_time_fields_combine_into_one_datetime(tmp_path: Path) -> None:
    columns = [
        {"name": "day", "source": "Date", "dtype": "string"},
        {"name": "clock", "source": "Time", "dtype": "string"},
        {"name": "ts", "dtype": "datetime", "expr": "day || ' ' || clock", "format": "%d.%m.%Y %H:%M:%S",
         "timezone": "Europe/Berlin", "role": "timestamp"},
    ]  # fmt: skip
    _, df = _ingest(tmp_path, {"shift_log.csv": "shift_log.csv"}, spec_dict({"format": "csv", "path": "raw/*.csv"}, columns))
    assert df["ts"].to_list() == [
        datetime(2024, 3, 30, 4, 58), datetime(2024, 3, 30, 5, 3, 30), datetime(2024, 3, 30, 5, 41), None,
        datetime(2024, 3, 30, 12, 59, 59),
    ]  # fmt: skip
    assert df["__raw__ts"][3] == "30.03.2024 25:10:00"  # so `schema.dtype.ts` fails that row


def test_a_landed_file_is_test_read_without_its_derived_columns(tmp_path: Path) -> None:
    from pipelines.landing import _parse_error
    from pipelines.spec.models import DatasetSpec

    columns = [
        {"name": "day", "source": "Date", "dtype": "string"},
        {"name": "clock", "source": "Time", "dtype": "string"},
        {"name": "ts", "dtype": "datetime", "expr": "day || ' ' || clock", "format": "%d.%m.%Y %H:%M:%S"},
    ]
    spec = DatasetSpec.model_validate(spec_dict({"format": "csv", "path": "raw/*.csv"}, columns))
    assert _parse_error(CASES / "shift_log.csv", spec, "raw/shift_log.csv") is None


# ------------------------------------------------------------------------------------------------ by position

SECOM_SOURCE = {"format": "csv", "path": "raw/secom.data",
                "csv": {"delimiter": " ", "header": False, "column_names": ["f1", "f2", "f3", "f4"], "null_values": ["NaN"]}}  # fmt: skip
SECOM_COLUMNS = [{"name": n, "dtype": "float64", "role": "measurement"} for n in ("f1", "f2", "f3", "f4")]


def _secom_spec(path: str = "raw/secom_labels.data") -> dict[str, Any]:
    paired = {
        "path": path,
        "by": "position",
        "csv": {"delimiter": " ", "header": False, "column_names": ["verdict", "stamp"]},
        "columns": [
            {"name": "verdict", "dtype": "int8", "role": "label"},
            {"name": "ts", "source": "stamp", "dtype": "datetime", "format": "%d/%m/%Y %H:%M:%S", "role": "timestamp"},
        ],
    }
    return {**spec_dict(SECOM_SOURCE, SECOM_COLUMNS), "enrich": [paired]}


@pytest.mark.parametrize("path", ["raw/secom_labels.data", "raw/{stem}_labels.data"])
def test_features_and_labels_paired_by_position(tmp_path: Path, path: str) -> None:
    files = {"secom.data": "secom/secom.data", "secom_labels.data": "secom/secom_labels.data"}
    ing, df = _ingest(tmp_path, files, _secom_spec(path))
    assert df["verdict"].to_list() == [-1, -1, 1, -1, -1, 1]
    assert df["ts"][2] == datetime(2008, 7, 19, 13, 17)
    assert df["f3"].to_list()[:3] == [None, 2230.4222, 2186.4111]
    assert [(f["path"], f["rows"], f["paired_with"]) for f in ing.lookup_files] == [
        ("raw/secom_labels.data", 6, "raw/secom.data")
    ]


def test_pairing_with_another_row_count_names_both_files(tmp_path: Path) -> None:
    files = {"secom.data": "secom/secom.data", "secom_labels.data": "secom/secom_labels_short.data"}
    with pytest.raises(SourceError) as info:
        _ingest(tmp_path, files, _secom_spec())
    msg = str(info.value)
    assert "`raw/secom.data` has 6 rows but its paired file `raw/secom_labels.data` has 5" in msg
    assert "check that the files belong together" in msg


def test_a_missing_paired_file_suggests_the_near_name(tmp_path: Path) -> None:
    files = {"secom.data": "secom/secom.data", "secom_labels.data": "secom/secom_labels.data"}
    with pytest.raises(SourceError) as info:
        _ingest(tmp_path, files, _secom_spec("raw/secom_label.data"))
    assert "`raw/secom_label.data` (`secom_label`) does not exist; did you mean `secom_labels.data`?" in str(info.value)


# ------------------------------------------------------------------------------------------------ spec errors


def _derived_spec(*derived: dict[str, Any]) -> dict[str, Any]:
    return {**spec_dict(MILL_SOURCE, [*MILL_COLUMNS[:3], *derived]), "enrich": _mill_enrich()}


def test_unknown_name_in_an_expression_suggests_the_close_one(tmp_path: Path) -> None:
    msg = _spec_error(tmp_path, _derived_spec({"name": "pos_mm", "dtype": "float64", "expr": "x1_positon * 1000"}))
    assert "dataset_specs/plant.yaml" in msg and "columns[3].expr" in msg
    assert "derived column `pos_mm` reads `x1_positon`, which dataset `plant` does not have" in msg
    assert "did you mean `x1_position`?" in msg


def test_expression_reading_a_later_derived_column_or_itself(tmp_path: Path) -> None:
    msg = _spec_error(
        tmp_path,
        _derived_spec(
            {"name": "a", "dtype": "float64", "expr": "b + 1"},
            {"name": "b", "dtype": "float64", "expr": "b * 2"},
        ),
    )
    assert "derived column `a` reads `b`, which is derived after it" in msg and "move `b` before `a`" in msg
    assert "derived column `b` reads itself" in msg


def test_unparsable_expression_and_misplaced_options(tmp_path: Path) -> None:
    msg = _spec_error(tmp_path, _derived_spec({"name": "a", "dtype": "float64", "expr": "CASE WHEN THEN"}))
    assert "is not a valid SQL expression" in msg
    msg = _spec_error(tmp_path / "b", _derived_spec({"name": "a", "dtype": "float64", "map": {"x": "y"}}))
    assert "`map` respells text: it applies to `dtype: string` columns, not float64" in msg


def test_enrich_key_must_be_a_read_column(tmp_path: Path) -> None:
    spec = _mill_spec()
    spec["enrich"][0]["on"] = {"experimnt": "No"}
    msg = _spec_error(tmp_path, spec)
    assert "enrich[0].on" in msg and "key `experimnt` is not a column read from the source files" in msg
    assert "did you mean `experiment`?" in msg


def test_enrich_column_clashing_with_a_spec_column(tmp_path: Path) -> None:
    spec = _mill_spec()
    spec["enrich"][0]["columns"][0]["name"] = "process"
    assert "column names must be unique; repeated: ['process']" in _spec_error(tmp_path, spec)


def test_enrich_entry_options_are_checked_when_parsed() -> None:
    from pydantic import ValidationError

    from pipelines.spec.enrich import Enrich

    col = [{"name": "verdict", "dtype": "string"}]
    same = Enrich.model_validate({"path": "raw/labels.csv", "on": ["batch", "station"], "columns": col})
    assert same.keys == {"batch": "batch", "station": "station"} and same.label == "labels"
    paired = Enrich.model_validate({"path": "raw/{stem}_labels.data", "by": "position", "columns": col})
    assert paired.partner("raw/secom.data") == "raw/secom_labels.data" and paired.label == "labels"
    for bad, why in [
        ({"path": "raw/labels.csv", "columns": col}, "`by: key` needs `on:`"),
        ({"path": "raw/labels.csv", "by": "position", "on": ["batch"], "columns": col}, "remove `on:`"),
        ({"path": "raw/{stem}.csv", "on": ["batch"], "columns": col}, "use them with `by: position`"),
        ({"path": "raw/{file}.csv", "by": "position", "columns": col}, "uses `{file}`; the placeholders are `{stem}`"),
        ({"path": "raw/l.csv", "on": ["b"], "columns": [{"name": "x", "dtype": "string", "expr": "'a'"}]}, "declares `expr`"),
    ]:
        with pytest.raises(ValidationError, match=re.escape(why)):
            Enrich.model_validate(bad)


def test_a_partitioned_version_lists_each_enrich_file_once_and_sums_the_respellings() -> None:
    from pipelines.ingest.enrich import merged_enrichment

    lookup = {"enrich": "experiments", "path": "raw/experiments.csv", "sha256": "ab", "size": 9, "rows": 6, "paired_with": None}
    parts = [
        {"lookup_files": [lookup], "mapped_values": {"process": {"end": 2, "END": 0}}},
        {"lookup_files": [lookup], "mapped_values": {"process": {"end": 1, "END": 4}}},
        {},  # a partition of a version built before the spec had `enrich`
    ]
    assert merged_enrichment(parts) == {"lookup_files": [lookup], "mapped_values": {"process": {"end": 3, "END": 4}}}
