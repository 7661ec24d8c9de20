"""The four stages on the real seeds: nothing lost, every defect caught by its rule, versions immutable."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.errors import CountMismatchError, QualityGateError
from pipelines.ingest.fingerprint import sha256_file
from pipelines.spec.loader import load_project
from pipelines.stages import ingest, publish, validate
from pipelines.storage import commit as storage_commit
from pipelines.storage.delta import TABLES, Table, TableFile, current_version, files_at
from pipelines.warehouse import Warehouse
from tests.conftest import Built, build


def _data(wh: Warehouse, name: str, version: int) -> pl.DataFrame:
    return pl.read_parquet(wh.data_files(name, version))


def _quarantine(wh: Warehouse, name: str, version: int) -> pl.DataFrame:
    return pl.read_parquet(wh.quarantine_files(name, version))


def test_ai4i_publishes_every_row_and_flags_the_known_label_inconsistency(built: Built) -> None:
    wh = built.warehouse
    pub = built.results["ai4i2020"]
    assert (pub.version, pub.rows_in, pub.rows_published, pub.rows_quarantined) == (1, 10_000, 10_000, 0)
    data = _data(wh, "ai4i2020", 1)
    flagged = data.filter(pl.col("_warn_rules").list.contains("ai4i.labels.consistent"))
    # PROVENANCE.md: 9 failures without a mode + 18 random failures not counted as failures.
    assert flagged.height == 27
    no_mode = flagged.filter(pl.col("machine_failure") == 1).height
    assert (no_mode, flagged.height - no_mode) == (9, 18)
    assert data["udi"].to_list() == list(range(1, 10_001))
    assert data.schema["air_temperature_k"] == pl.Float64 and data.schema["rotational_speed_rpm"] == pl.Int32
    assert data.filter(pl.col("_source_row") == 1)["product_id"].item() == "M14860"


def test_every_cnc_defect_lands_where_its_rule_says(built: Built) -> None:
    wh = built.warehouse
    seeds = built.project.root / "seeds" / "cnc_line"
    defects = json.loads((seeds / "defects.json").read_text())["defects"]
    q = _quarantine(wh, "cnc_line", 1)
    data = _data(wh, "cnc_line", 1)
    q_rules = {r: set(rules) for r, rules in zip(q["_source_row"].to_list(), q["_failed_rules"].to_list(), strict=True)}
    warned = {
        r: set(rules) for r, rules in zip(data["_source_row"].to_list(), data["_warn_rules"].to_list(), strict=True) if rules
    }
    kinds = set()
    for d in defects:
        kinds.add(d["kind"])
        expected = {d["rule_id"], *d["also"]}
        if d["severity"] == "error":
            assert q_rules.get(d["row"]) == expected, d
        else:
            assert warned.get(d["row"]) == expected, d
    assert len(kinds) == 13
    assert set(q_rules) == {d["row"] for d in defects if d["severity"] == "error"}, "no clean row is quarantined"
    # Time-series tests also flag a defect's neighbours (a spike's neighbours, the run-up of a stuck
    # sensor, the sample after a row that left its machine's series); nothing far from a defect.
    defect_rows = [d["row"] for d in defects]
    for row in set(warned) - set(defect_rows):
        assert min(abs(row - r) for r in defect_rows) <= 10, (row, warned[row])
    flags = dict(zip(data["_source_row"].to_list(), data["_qc_flag"].to_list(), strict=True))
    assert all(flags[d["row"]] == (3 if d["kind"] == "high_vibration" else 4) for d in defects if d["severity"] == "warn")
    assert {flags[r] for r in set(flags) - set(warned)} == {1}
    pub = built.results["cnc_line"]
    assert pub.rows_in == data.height + q.height == 2385
    assert all(len(r) == len(f) for r, f in zip(q["_reasons"].to_list(), q["_failed_rules"].to_list(), strict=True))
    balance = q.filter(pl.col("_failed_rules").list.contains("cnc.counts.balance"))["_reasons"].to_list()
    assert all("total_count = good_count + scrap_count" in r[0] for r in balance)


def test_manifest_records_lineage_counts_and_hashes(built: Built) -> None:
    wh = built.warehouse
    m = wh.manifest("cnc_line", 1)
    assert m["counts"] == {"rows_in": 2385, "rows_published": 2355, "rows_quarantined": 30, "rows_warned": 39}
    (src,) = m["source_files"]
    seed = built.project.root / src["path"]
    assert src["sha256"] == sha256_file(seed) and src["rows"] == 2385 and src["size"] == seed.stat().st_size
    assert m["synthetic"]["generator"] == "moshu.synthetic.cnc_line"
    for f in m["files"]:
        assert sha256_file(wh.version_dir("cnc_line", 1) / f["path"]) == f["sha256"]
    ge = json.loads((wh.version_dir("cnc_line", 1) / m["ge"]["validation"]).read_text())
    by_rule = {r["expectation_config"]["meta"]["rule_id"]: r for r in ge["results"]}
    assert by_rule["cnc.counts.balance"]["result"]["unexpected_count"] == 3
    assert by_rule["cnc.row_count"]["result"]["observed_value"] == 2355  # measured on the release
    assert ge["meta"]["engines"] == {"pandera": len(by_rule) - 3, "great_expectations": 2, "moshu": 1}


def test_second_run_makes_no_new_version(project_dir: Path, warehouse: Warehouse) -> None:
    first = build(project_dir, warehouse, ["ai4i2020"])["ai4i2020"]
    again = build(project_dir, warehouse, ["ai4i2020"])["ai4i2020"]
    assert first.created and not again.created
    assert again.version == 1 and warehouse.versions("ai4i2020") == [1]
    assert not any((warehouse.root / "_staging" / "ai4i2020").glob("*/staged.parquet"))


def test_edited_seed_row_makes_v2_and_v1_stays_unchanged(project_dir: Path, warehouse: Warehouse) -> None:
    build(project_dir, warehouse, ["ai4i2020"])
    v1_manifest = warehouse.manifest("ai4i2020", 1)
    seed = project_dir / "seeds" / "ai4i2020" / "ai4i2020.csv"
    text = seed.read_text()
    seed.write_text(text.replace("\n2,L47181,L,298.2,308.7,1408,46.3,3,", "\n2,L47181,L,298.2,308.7,1408,46.9,3,", 1))
    v2 = build(project_dir, warehouse, ["ai4i2020"])["ai4i2020"]
    assert v2.created and v2.version == 2
    m2 = warehouse.manifest("ai4i2020", 2)
    assert m2["parent_version"] == 1 and m2["data_hash"] != v1_manifest["data_hash"]
    for f in v1_manifest["files"]:
        assert sha256_file(warehouse.version_dir("ai4i2020", 1) / f["path"]) == f["sha256"]
    con = duckdb.connect(str(warehouse.catalog_path), read_only=True)
    con.execute(f"SET file_search_path = '{warehouse.root}'")
    q = "SELECT torque_nm FROM {} WHERE udi = 2"
    assert con.execute(q.format("dataset('ai4i2020', 1)")).fetchall() == [(46.3,)]
    assert con.execute(q.format("dataset('ai4i2020', 2)")).fetchall() == [(46.9,)]
    assert con.execute(q.format("ai4i2020")).fetchall() == [(46.9,)]


def test_metadata_edit_makes_no_version_but_rule_change_does(project_dir: Path, warehouse: Warehouse) -> None:
    build(project_dir, warehouse, ["ai4i2020"])
    spec = project_dir / "dataset_specs" / "ai4i2020.yaml"
    spec.write_text(spec.read_text().replace("owner: maintenance-analytics", "owner: reliability-team"))
    same = build(project_dir, warehouse, ["ai4i2020"])["ai4i2020"]
    assert not same.created
    con = duckdb.connect(str(warehouse.catalog_path), read_only=True)
    assert con.execute("SELECT owner FROM datasets WHERE name = 'ai4i2020'").fetchall() == [("reliability-team",)]
    con.close()
    rules = project_dir / "quality_rules" / "ai4i2020.yaml"
    rules.write_text(rules.read_text().replace("max: 300\n", "max: 240\n"))
    changed = build(project_dir, warehouse, ["ai4i2020"])["ai4i2020"]
    assert changed.created and changed.version == 2
    assert changed.rows_quarantined > 0  # tool wear above 240 min now fails


def test_count_mismatch_publishes_nothing(project_dir: Path, warehouse: Warehouse) -> None:
    loaded = load_project(project_dir).datasets["cnc_line"]
    ing = ingest(loaded, project_dir, warehouse)
    val = validate(loaded, ing)
    ing.rows_in += 1  # as if a row had been lost between ingest and publish
    with pytest.raises(CountMismatchError, match="rows_in=2386 but published=2355 \\+ quarantined=30"):
        publish(loaded, val, warehouse)
    assert warehouse.versions("cnc_line") == []
    assert not list(warehouse.dataset_dir("cnc_line").glob(".tmp-*"))


def _table_files(wh: Warehouse, name: str) -> set[Path]:
    return {p for table in TABLES for p in wh.table_dir(name, table).rglob("*.parquet")}


def test_crash_before_the_commit_leaves_no_version_and_the_tables_as_they_were(
    project_dir: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(project_dir, warehouse, ["cnc_line"])
    before = {t: (current_version(warehouse.table_dir("cnc_line", t)), _table_files(warehouse, "cnc_line")) for t in TABLES}
    master = project_dir / "seeds" / "master" / "equipment.csv"
    master.write_text(master.read_text() + "CNC-99,LINE-C,machining,Haas ST-20,2026-01-05\n")  # v2 has other inputs
    written: list[Path] = []

    def boom(where: Table, files: list[TableFile], **_: object) -> int:
        written.extend(where.local / f.path for f in files)
        raise OSError("disk full")

    monkeypatch.setattr(storage_commit, "commit", boom)  # the published table's commit of v2 fails
    with pytest.raises(OSError, match="disk full"):
        build(project_dir, warehouse, ["cnc_line"])
    assert written and all("/v2/" in p.as_posix() for p in written)  # the attempt wrote v2's files before its commit
    assert warehouse.versions("cnc_line") == [1] and warehouse.latest("cnc_line") == 1
    assert not list(warehouse.dataset_dir("cnc_line").glob(".tmp-*"))
    assert not any(p.exists() for p in written), "the failed attempt's table files are removed"
    after = {t: (current_version(warehouse.table_dir("cnc_line", t)), _table_files(warehouse, "cnc_line")) for t in TABLES}
    assert after == before  # both tables at v1's commit, holding exactly the files they held
    monkeypatch.undo()
    assert build(project_dir, warehouse, ["cnc_line"])["cnc_line"].version == 2  # nothing left in the way of the next run


def test_crash_after_the_commit_keeps_the_committed_version_for_the_next_run(
    project_dir: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.rename

    def boom(src: object, dst: object) -> None:
        if ".tmp-v" in str(src):
            raise OSError("disk full")
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", boom)
    with pytest.raises(OSError, match="disk full"):
        build(project_dir, warehouse, ["steel_plates_faults"])
    monkeypatch.undo()
    table = warehouse.table_dir("steel_plates_faults", "published")
    assert current_version(table) == 0  # the version is committed: the Delta log is the record
    assert all((table / f).is_file() for f in files_at(table, 0)), "the committed files are kept"
    build(project_dir, warehouse, ["steel_plates_faults"])  # the next run puts the committed folder in place
    assert warehouse.versions("steel_plates_faults") == [1]
    assert pl.read_parquet(warehouse.data_files("steel_plates_faults", 1)).height == 1941


def test_failed_dataset_level_error_rule_writes_a_rejected_candidate_that_says_why(
    project_dir: Path, warehouse: Warehouse
) -> None:
    rules = project_dir / "quality_rules" / "cnc_line.yaml"
    rules.write_text(rules.read_text().replace("    min: 100\n", "    min: 100000\n"))
    with pytest.raises(QualityGateError, match=r"blocking rule `cnc\.row_count` \(row_count\) failed: X = A / B = 0 / 1") as e:
        build(project_dir, warehouse, ["cnc_line"])
    assert "below its threshold 1" in str(e.value) and "observed: 2355" in str(e.value)
    assert "v1 is kept as a rejected candidate" in str(e.value)
    # the candidate is written, with its report, and never becomes latest
    assert warehouse.versions("cnc_line") == [1] and warehouse.latest("cnc_line") is None
    m = warehouse.manifest("cnc_line", 1)
    assert m["status"] == "rejected"
    row_count = next(r for r in m["rules"] if r["rule_id"] == "cnc.row_count")
    assert (row_count["observed"], row_count["passed"]) == ("2355", False)  # every released row, below the minimum
    report = (warehouse.version_dir("cnc_line", 1) / "quality" / "report.html").read_text()
    assert "Why this version was rejected" in report and "cnc.row_count" in report and "below its threshold 1" in report
    assert not (warehouse.root / "_staging").exists(), "staging is cleaned up after a failed run"
    con = duckdb.connect(str(warehouse.catalog_path), read_only=True)
    status, message = con.execute("select status, message from runs where name = 'cnc_line'").fetchall()[0]
    assert status == "rejected" and "`cnc.row_count`" in message and "X = A / B" in message
    assert con.execute("select status from versions where name = 'cnc_line'").fetchall() == [("rejected",)]
    con.close()
    # the same inputs again: the candidate is not redone, and the run still fails with the reason
    with pytest.raises(QualityGateError, match=r"`cnc\.row_count`"):
        build(project_dir, warehouse, ["cnc_line"])
    assert warehouse.versions("cnc_line") == [1]


def test_changed_master_data_or_renamed_file_makes_a_new_version(project_dir: Path, warehouse: Warehouse) -> None:
    build(project_dir, warehouse, ["cnc_line"])
    master = project_dir / "seeds" / "master" / "equipment.csv"
    master.write_text(master.read_text() + "CNC-99,LINE-C,machining,Haas ST-20,2026-01-05\n")
    v2 = build(project_dir, warehouse, ["cnc_line"])["cnc_line"]
    assert v2.created and v2.version == 2  # the master data decides which rows pass, so it is an input
    seed = project_dir / "seeds" / "cnc_line" / "cnc_line_sample.csv"
    seed.rename(seed.with_name("cnc_line_renamed.csv"))
    v3 = build(project_dir, warehouse, ["cnc_line"])["cnc_line"]
    assert v3.created and v3.version == 3
    assert warehouse.manifest("cnc_line", 3)["source_files"][0]["path"] == "seeds/cnc_line/cnc_line_renamed.csv"


def test_a_warehouse_path_with_a_quote(project_dir: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "it's a warehouse")
    pub = build(project_dir, wh, ["steel_plates_faults"])["steel_plates_faults"]
    assert pub.created and pub.rows_published == 1941


def test_published_and_quarantined_rows_keep_the_raw_file_order(built: Built) -> None:
    """cnc_line's flagged rows lie all through its file: merged back into the release, every row keeps its place."""
    data, q = _data(built.warehouse, "cnc_line", 1), _quarantine(built.warehouse, "cnc_line", 1)
    assert data["_source_row"].to_list() == sorted(data["_source_row"].to_list())
    assert q["_source_row"].to_list() == sorted(q["_source_row"].to_list())
    assert sorted(data["_source_row"].to_list() + q["_source_row"].to_list()) == list(range(1, 2386))
    warned = data.filter(pl.col("_warn_rules").list.len() > 0)["_source_row"].to_list()
    assert len(warned) == 39 and warned[0] > 1 and warned[-1] < 2385  # flagged rows between unflagged ones


def test_staged_rows_are_written_in_small_row_groups(project_dir: Path, warehouse: Warehouse) -> None:
    import pyarrow.parquet as pq

    from pipelines.stages.ingest import STAGED_ROW_GROUP

    loaded = load_project(project_dir).datasets["cmapss"]
    ing = ingest(loaded, project_dir, warehouse)
    assert ing.staged is not None
    meta = pq.ParquetFile(ing.staged).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == ing.rows_in == 160_359 and max(sizes) <= STAGED_ROW_GROUP and len(sizes) >= 4
