"""Personal data: pseudonymised before anything is written, stable under one key, never in the warehouse."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from pipelines.catalog.client import CatalogClient
from pipelines.errors import SpecError
from pipelines.governance.pseudonym import PSEUDONYM, PseudonymKeyError
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse

RAW_ID = re.compile(rb"OP-1\d{3}")


def _raw_ids(project: Path) -> set[str]:
    raw = pl.read_csv(project / "seeds" / "cnc_line" / "cnc_line_sample.csv", infer_schema_length=0)
    return set(raw["operator_id"].drop_nulls().to_list())


def _run(project: Path, wh: Warehouse) -> int:
    return run_dataset(load_project(project, only=["cnc_line"]).datasets["cnc_line"], project, wh).version


def test_raw_operator_ids_appear_nowhere_in_the_warehouse(project_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    wh = tmp_path / "wh"
    res = CliRunner().invoke(app, ["run", "cnc_line", "--project", str(project_dir), "--warehouse", str(wh)])
    assert res.exit_code == 0, res.output
    ids = _raw_ids(project_dir)
    assert len(ids) == 6
    scanned = 0
    for p in wh.rglob("*"):  # data, quarantine, GE results, reports, catalog, Dagster's instance and logs
        if p.is_file():
            scanned += 1
            assert not RAW_ID.search(p.read_bytes()), f"a raw operator id is in {p.relative_to(wh)}"
    assert scanned > 20
    for p in wh.rglob("*.parquet"):  # decoded too: compressed pages would hide a raw value from a byte scan
        text = repr(pl.read_parquet(p).rows())
        assert not RAW_ID.search(text.encode()), f"a raw operator id is in {p.relative_to(wh)}"
    import duckdb

    con = duckdb.connect(str(wh / "catalog.duckdb"), read_only=True)
    try:
        for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            assert not RAW_ID.search(repr(con.execute(f"SELECT * FROM {t}").fetchall()).encode()), f"raw id in catalog `{t}`"
    finally:
        con.close()
    with CatalogClient(wh) as c:
        published = {r[0] for r in c.rows("SELECT DISTINCT operator_id FROM cnc_line")}
        flags = c.rows(
            "SELECT column_name, sensitivity, pseudonymised FROM columns WHERE name = 'cnc_line' AND column_name = 'operator_id'"
        )
        (x,) = c.rows("SELECT x FROM measures WHERE name = 'cnc_line' AND clause = 'I-1'")[0]
    assert len(published) == 6 and all(PSEUDONYM.match(v) for v in published)
    assert flags == [("operator_id", "personal", True)]
    assert x == 1.0  # Idn-ML-1 = 0: no identifiable value in the declared personal columns


def test_the_same_key_gives_the_same_pseudonyms_in_every_version(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = Warehouse(tmp_path / "wh")
    assert _run(project_dir, wh) == 1
    seed = project_dir / "seeds" / "cnc_line" / "cnc_line_sample.csv"
    seed.write_text(seed.read_text().replace(",39.6,", ",39.7,", 1))  # any change makes v2
    assert _run(project_dir, wh) == 2

    def pseudonyms(v: int) -> pl.DataFrame:
        return pl.read_parquet(wh.data_files("cnc_line", v), columns=["machine_id", "operator_id"]).unique().sort("machine_id")

    assert pseudonyms(1).equals(pseudonyms(2))
    assert wh.manifest("cnc_line", 1)["pseudonymisation"]["key_id"] == wh.manifest("cnc_line", 2)["pseudonymisation"]["key_id"]
    monkeypatch.setenv("MOSHU_PSEUDONYM_KEY", "another-key-" + "x" * 32)
    assert _run(project_dir, wh) == 3, "another key makes other pseudonyms, so a new version"
    assert set(pseudonyms(3)["operator_id"]).isdisjoint(set(pseudonyms(2)["operator_id"]))


def test_a_run_without_a_key_stops_before_reading_anything(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOSHU_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("MOSHU_PSEUDONYM_KEY_FILE", raising=False)
    wh = Warehouse(tmp_path / "wh")
    with pytest.raises(PseudonymKeyError, match=r"`cnc_line` has personal columns \(operator_id\).*MOSHU_PSEUDONYM_KEY"):
        _run(project_dir, wh)
    assert not (wh.root / "datasets").exists() and not list((wh.root / "_staging").rglob("*.parquet"))
    monkeypatch.setenv("MOSHU_PSEUDONYM_KEY", "short")
    with pytest.raises(PseudonymKeyError, match="at least 32"):
        _run(project_dir, wh)
    key_file = tmp_path / "key"
    key_file.write_text("k" * 40)
    monkeypatch.delenv("MOSHU_PSEUDONYM_KEY")
    monkeypatch.setenv("MOSHU_PSEUDONYM_KEY_FILE", str(key_file))
    assert _run(project_dir, wh) == 1
    assert not RAW_ID.search((wh.version_dir("cnc_line", 1) / "manifest.json").read_bytes())
    assert b"k" * 40 not in b"".join(p.read_bytes() for p in wh.root.rglob("*") if p.is_file())


def test_synthetic_label_and_grade_are_in_the_parquet_metadata(built) -> None:  # type: ignore[no-untyped-def]
    [data] = built.warehouse.data_files("cnc_line", 1)
    meta = pq.ParquetFile(data).metadata.metadata
    assert meta[b"moshu.synthetic"] == b"true" and b"moshu.synthetic.cnc_line" in meta[b"moshu.synthetic.generator"]
    assert meta[b"moshu.grade"] == b"important"
    [quarantine] = built.warehouse.quarantine_files("steel_plates_faults", 1)
    steel = pq.ParquetFile(quarantine).metadata.metadata
    assert steel[b"moshu.synthetic"] == b"false"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_classification_is_required_and_derived_grades_are_checked(project_dir: Path) -> None:
    spec = project_dir / "dataset_specs" / "ai4i2020.yaml"
    text = spec.read_text()
    start, end = text.index("classification:"), text.index("source:")
    spec.write_text(text[:start] + text[end:])
    with pytest.raises(SpecError, match=r"ai4i2020.yaml.*required key `classification` is missing"):
        load_project(project_dir)
    spec.write_text(text.replace("  grade: general", "  grade: general\n  derived_from: [cnc_line]"))
    with pytest.raises(SpecError, match=r"graded general but is derived from `cnc_line`, graded important.*at least `important`"):
        load_project(project_dir)


def test_a_personal_column_must_be_text_and_not_a_key(project_dir: Path) -> None:
    spec = project_dir / "dataset_specs" / "cnc_line.yaml"
    _edit(
        spec,
        "{name: machine_id, dtype: string, role: entity,",
        "{name: machine_id, dtype: string, role: entity, sensitivity: personal,",
    )
    with pytest.raises(SpecError, match="`machine_id` is personal and cannot be part of the primary key"):
        load_project(project_dir)


def test_rules_and_demands_cannot_carry_personal_values(project_dir: Path) -> None:
    rules = project_dir / "quality_rules" / "cnc_line.yaml"
    rules.write_text(rules.read_text() + "  - {id: cnc.operator.known, kind: in_set, column: operator_id, values: [OP-1001]}\n")
    with pytest.raises(SpecError, match=r"reads personal column `operator_id`.*use only"):
        load_project(project_dir)
    rules.write_text(
        rules.read_text().replace("  - {id: cnc.operator.known, kind: in_set, column: operator_id, values: [OP-1001]}\n", "")
    )
    demand = project_dir / "dataset_specs" / "demands" / "cnc_spindle_load_forecaster.yaml"
    _edit(demand, "  status: [RUN, IDLE]\n", "  status: [RUN, IDLE]\n  operator_id: [x]\n")
    with pytest.raises(SpecError, match="`operator_id` is personal: its pseudonyms would be shown in gap lists"):
        load_project(project_dir)
