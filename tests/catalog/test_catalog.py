"""The catalog: migrated tables, SQL access to any version, movable, readable by stock DuckDB clients."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.catalog.client import CatalogClient
from pipelines.catalog.migrations import available
from pipelines.errors import NotFoundError
from tests.conftest import Built


def test_migrations_applied_and_tables_present(built: Built) -> None:
    con = duckdb.connect(str(built.warehouse.catalog_path), read_only=True)
    applied = [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    assert applied == [n for n, _, _ in available()]
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {
        "datasets",
        "versions",
        "columns",
        "rule_results",
        "source_files",
        "quarantine_summary",
        "runs",
        "latest_versions",
        "ai4i2020",
        "cnc_line",
    } <= tables


def test_versions_query_of_the_issue(built: Built) -> None:
    with CatalogClient(built.warehouse.root) as c:
        rows = c.rows("select name, version, rows_published, rows_quarantined from versions order by name")
    assert rows == [
        ("ai4i2020", 1, 10000, 0),
        ("cmapss", 1, 160359, 0),
        ("cnc_line", 1, 2355, 30),
        ("steel_plates_faults", 1, 1941, 0),
    ]


def test_rule_results_quarantine_and_lineage_in_sql(built: Built) -> None:
    with CatalogClient(built.warehouse.root) as c:
        failed = c.rows(
            "select rule_id, failed from rule_results where name = 'cnc_line' and severity = 'error' and failed > 0 order by rule_id"
        )
        q = c.rows("select rule_id, rows from quarantine_summary where name = 'cnc_line' and severity = 'error' order by rule_id")
        reasons = c.rows(
            "select _reasons[1] from quarantine('cnc_line', 1) where list_contains(_failed_rules, 'cnc.status.allowed')"
        )
        src = c.rows("select path, rows from source_files where name = 'ai4i2020'")
        syn = c.rows("select name, synthetic, synthetic_generator from datasets order by name")
    defects = json.loads((built.project.root / "seeds" / "cnc_line" / "defects.json").read_text())["defects"]
    expected: dict[str, int] = {}
    for d in defects:
        if d["severity"] == "error":
            for rule in (d["rule_id"], *d["also"]):
                expected[rule] = expected.get(rule, 0) + 1
    assert dict(failed) == expected
    assert dict(q) == expected
    assert len(reasons) == 3 and all("is not one of {RUN, IDLE, SETUP, ALARM, OFF}" in r[0] for r in reasons)
    assert src == [("seeds/ai4i2020/ai4i2020.csv", 10000)]
    assert syn[2] == ("cnc_line", True, "moshu.synthetic.cnc_line")


def test_resolve_refs(built: Built) -> None:
    with CatalogClient(built.warehouse.root) as c:
        assert c.resolve("ai4i2020") == ("ai4i2020", 1)
        assert c.resolve("ai4i2020@1") == ("ai4i2020", 1)
        with pytest.raises(NotFoundError, match="has no version 7; versions are 1"):
            c.resolve("ai4i2020@7")
        with pytest.raises(NotFoundError, match="no dataset `ai4i`"):
            c.resolve("ai4i")


def test_warehouse_can_be_moved(built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moved = tmp_path / "elsewhere" / "wh"
    shutil.copytree(built.warehouse.root, moved, ignore=shutil.ignore_patterns(".dagster"))
    monkeypatch.chdir(tmp_path)
    with CatalogClient(moved) as c:
        assert c.rows("select count(*) from dataset('cnc_line', 1)") == [(2355,)]
        assert c.rows("select count(*) from ai4i2020") == [(10000,)]


def test_stock_python_duckdb_reads_latest_from_another_directory(built: Built, tmp_path: Path) -> None:
    code = (
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1] + '/catalog.duckdb', read_only=True)\n"
        'con.execute("SET file_search_path = \'" + sys.argv[1] + "\'")\n'
        "print(con.execute('select count(*), count(distinct type) from ai4i2020').fetchall())\n"
    )
    # -I: isolated mode, so nothing of moshu is importable; only the duckdb package is used.
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, str(built.warehouse.root)], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[(10000, 3)]"


def test_duckdb_cli_1_5_opens_the_catalog_read_only(built: Built) -> None:
    cli = Path(sys.executable).parent / "duckdb"
    assert cli.exists(), "the dev dependency duckdb-cli provides the DuckDB 1.5 command-line client"
    version = subprocess.run([str(cli), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v1.5")
    out = subprocess.run(
        [str(cli), "-readonly", "-csv", "catalog.duckdb", "-c", "select count(*) from ai4i2020"],
        cwd=built.warehouse.root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["count_star()", "10000"]
