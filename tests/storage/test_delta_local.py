"""The storage of record on the local disk: each version a commit of two Delta tables, the catalog an index of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.catalog.client import CatalogClient
from pipelines.cli import app
from pipelines.governance.verify import verify
from pipelines.storage.delta import PUBLISHED, QUARANTINE, files_at, history, table_files
from pipelines.warehouse import MANIFEST, Warehouse
from tests.conftest import built_copy

runner = CliRunner()
NAMES = ["ai4i2020", "cnc_line"]


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """ai4i2020 and cnc_line (30 rows quarantined) built once for this module; tests work on copies."""
    return built_copy(tmp_path_factory, "delta", NAMES)


def _copy(wh: Warehouse, dest: Path) -> Warehouse:
    shutil.copytree(wh.root.parent, dest / "project", symlinks=True)
    return Warehouse(dest / "project" / "warehouse")


def _cli(*args: str, wh: Warehouse) -> str:
    res = runner.invoke(app, [*args, "--warehouse", str(wh.root), "--project", str(wh.root.parent)])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("name", NAMES)
def test_a_version_is_one_commit_of_each_table_carrying_its_manifest(wh: Warehouse, name: str) -> None:
    manifest = wh.manifest(name, 1)
    (commit,) = history(wh.table_dir(name, PUBLISHED))
    assert (commit.version, commit.manifest) == (1, manifest)
    assert files_at(wh.table_dir(name, PUBLISHED), commit.delta_version) == sorted(
        f["inner"] for f in table_files(manifest, PUBLISHED)
    )
    (held,) = history(wh.table_dir(name, QUARANTINE))
    assert held.version == 1 and held.manifest is None
    assert files_at(wh.table_dir(name, QUARANTINE), held.delta_version) == sorted(
        f["inner"] for f in table_files(manifest, QUARANTINE)
    )
    assert not (wh.version_dir(name, 1) / "data").exists()  # the rows are in the tables, not in the version folder


def test_polars_scan_delta_and_the_catalog_read_the_same_rows(wh: Warehouse) -> None:
    with CatalogClient(wh.root) as cat:
        via_catalog = [r[0] for r in cat.rows("SELECT _source_row FROM dataset('cnc_line', 1) ORDER BY _source_row")]
        held = cat.rows("SELECT count(*) FROM quarantine('cnc_line', 1)")[0][0]
    via_delta = pl.scan_delta(str(wh.table_dir("cnc_line", PUBLISHED))).select("_source_row", "_qc_flag").collect()
    assert via_delta.height == wh.manifest("cnc_line", 1)["counts"]["rows_published"] == len(via_catalog)
    assert sorted(via_delta["_source_row"].to_list()) == via_catalog
    assert via_delta["_qc_flag"].dtype == pl.Int16  # Delta has no unsigned type: the table widens the file's UInt8
    assert pl.scan_delta(str(wh.table_dir("cnc_line", QUARANTINE))).select(pl.len()).collect().item() == 30
    assert held == 30


def test_a_stock_duckdb_reads_a_version_through_the_catalog_views(wh: Warehouse) -> None:
    with duckdb.connect(str(wh.catalog_path), read_only=True) as con:
        con.execute(f"SET file_search_path = '{wh.root}'")
        n = con.execute("SELECT count(*) FROM dataset('ai4i2020', 1)").fetchall()[0][0]
        listed = con.execute("SELECT count(*) FROM version_files WHERE name = 'ai4i2020' AND version = 1").fetchall()[0][0]
        with pytest.raises(duckdb.CatalogException, match=r"ai4i2020@7 does not exist"):
            con.execute("SELECT * FROM dataset('ai4i2020', 7)").fetchall()
    assert n == 10000 and listed == 2  # one published file, one quarantine file


def test_a_lost_catalog_is_rebuilt_from_the_tables_with_the_same_audit_chain(wh: Warehouse, tmp_path: Path) -> None:
    w = _copy(wh, tmp_path)
    with CatalogClient(w.root) as cat:
        before = cat.rows("SELECT seq, action, object, hash FROM audit_log ORDER BY seq")
        versions = cat.rows("SELECT name, version, data_hash, manifest_sha256, level FROM versions ORDER BY name")
    w.catalog_path.unlink()
    out = _cli("catalog", "rebuild", wh=w)
    assert "2 datasets, 2 versions" in out and "from the audit table" in out
    with CatalogClient(w.root) as cat:
        assert cat.rows("SELECT seq, action, object, hash FROM audit_log ORDER BY seq")[: len(before)] == before
        assert cat.rows("SELECT name, version, data_hash, manifest_sha256, level FROM versions ORDER BY name") == versions
    report = verify(w)
    assert report.ok, [p.render() for p in report.problems]


def test_verify_reports_a_version_missing_from_the_delta_log(wh: Warehouse, tmp_path: Path) -> None:
    w = _copy(wh, tmp_path)
    log = w.table_dir("cnc_line", QUARANTINE) / "_delta_log"
    shutil.rmtree(log)
    problems = [p.render() for p in verify(w).problems]
    assert any("cnc_line@1" in p and "no commit of this version in the quarantine table's log" in p for p in problems), problems
    _cli("verify", "--repair", wh=w)  # commits the quarantine again from the manifest's file list
    assert [c.version for c in history(w.table_dir("cnc_line", QUARANTINE))] == [1]


def test_a_run_stopped_between_its_commit_and_its_rename_is_finished_by_repair(wh: Warehouse, tmp_path: Path) -> None:
    w = _copy(wh, tmp_path)
    vdir = w.version_dir("ai4i2020", 1)
    vdir.rename(vdir.with_name(".tmp-v1-0badc0de"))
    problems = [p.render() for p in verify(w).problems]
    assert any("committed in the Delta log but its version folder is gone" in p for p in problems), problems
    out = _cli("verify", "--repair", wh=w)
    assert "renamed" in out and (vdir / MANIFEST).is_file()


def _legacy(w: Warehouse, name: str) -> dict[str, str]:
    """Turn a version into the layout before the Delta tables (manifest format 2); the files' sha256 by old path."""
    vdir = w.version_dir(name, 1)
    m = json.loads((vdir / MANIFEST).read_text(encoding="utf-8"))
    sha = {}
    for f in m["files"]:
        if f["path"].startswith("../"):
            old = "data/part-00000.parquet" if f["path"].startswith("../published/") else "quarantine.parquet"
            (vdir / old).parent.mkdir(exist_ok=True)
            shutil.move(vdir / f["path"], vdir / old)
            f["path"] = old
            sha[old] = f["sha256"]
    m["manifest_format"] = 2
    (vdir / MANIFEST).write_text(json.dumps(m, indent=2), encoding="utf-8")
    for table in (PUBLISHED, QUARANTINE):
        shutil.rmtree(w.table_dir(name, table))
    return sha


def test_migrate_moves_a_legacy_warehouse_into_the_tables_keeping_numbers_and_hashes(wh: Warehouse, tmp_path: Path) -> None:
    w = _copy(wh, tmp_path)
    hashes = {n: w.manifest(n, 1)["data_hash"] for n in NAMES}
    old = {n: _legacy(w, n) for n in NAMES}
    shutil.rmtree(w.root / "audit_log")
    w.catalog_path.unlink()  # a catalog of the old layout has no per-version views: rebuild it after migrating
    out = _cli("migrate", wh=w)
    assert "ai4i2020: v1 moved into Delta tables" in out and "cnc_line: v1 moved into Delta tables" in out
    _cli("catalog", "rebuild", wh=w)
    for n in NAMES:
        m = w.manifest(n, 1)
        assert m["data_hash"] == hashes[n] and m["manifest_format"] == 3 and m["migrated_from"]["manifest_format"] == 2
        moved = {f["sha256"] for f in m["files"] if f["path"].startswith("../")}
        assert moved == set(old[n].values())  # the same bytes, now in the tables
        assert [c.version for c in history(w.table_dir(n, PUBLISHED))] == [1]
    report = verify(w)
    assert report.ok, [p.render() for p in report.problems]
    assert "already in Delta tables" in _cli("migrate", wh=w)
