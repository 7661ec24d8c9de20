"""The command line as used every day: `--version`, `moshu list`, clear errors for unknown versions, the init SQL, wide rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import pipelines
from pipelines.cli import app
from pipelines.warehouse import Warehouse
from tests.conftest import Built

runner = CliRunner()


def _wh(built: Built) -> list[str]:
    return ["--warehouse", str(built.warehouse.root), "--project", str(built.project.root)]


def _no_view(missing: str, closest: str) -> str:
    """DuckDB's error for a version view that does not exist (`version_data."<name>@<N>"`, migration 0013)."""
    return f'Catalog Error: Table with name {missing} does not exist!\nDid you mean "{closest}"?'


def test_version_is_the_package_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"moshu {pipelines.__version__}"


def test_list_shows_every_dataset_with_its_latest_level(built: Built) -> None:
    res = runner.invoke(app, ["list", *_wh(built)])
    assert res.exit_code == 0, res.output
    with duckdb.connect(str(built.warehouse.catalog_path), read_only=True) as con:
        latest = con.execute("SELECT name, version, level FROM latest_versions ORDER BY name").fetchall()
    assert len(latest) == 4
    lines = res.stdout.splitlines()
    for name, version, level in latest:
        row = next(line for line in lines if f" {name} " in line)
        cells = [c.strip() for c in row.split("│")]
        assert f"v{version}" in cells and level in cells


def test_list_names_specs_not_built_yet(built: Built, tmp_path: Path) -> None:
    res = runner.invoke(app, ["list", "--project", str(built.project.root), "--warehouse", str(tmp_path / "empty")])
    assert res.exit_code == 0, res.output
    assert res.stdout.count("not built") == len(built.project.datasets)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # dataset(), quarantine() and split() read a version's view by name (migration 0013); `moshu sql` turns
        # DuckDB's "Table with name cnc_line@99 does not exist" into the catalog's words.
        ("select * from dataset('cnc_line', 99)", "dataset `cnc_line` has no version 99 (versions: v1)"),
        ("select * from quarantine('ai4i2020', 7)", "dataset `ai4i2020` has no version 7 (versions: v1)"),
        ("select * from diff_rows('ai4i2020', 1, 2)", "no row diff of dataset `ai4i2020` from v1 to v2 (diffs: none)"),
        (
            "select * from frozen_eval('ai4i2020', 'nope')",
            "dataset `ai4i2020` has no frozen evaluation set for demand `nope` (frozen sets: {frozen})",
        ),
        (
            "select * from dataset('nope', 1)",
            "no dataset `nope` in the catalog (datasets: ai4i2020, cmapss, cnc_line, steel_plates_faults)",
        ),
        ("select * from split('cmapss', 1, 'nope')", "dataset `cmapss` has no demand `nope` (demands: cmapss_ps30_soft_sensor)"),
        ("select * from split('cmapss', 4, 'cmapss_ps30_soft_sensor')", "dataset `cmapss` has no version 4 (versions: v1)"),
    ],
)
def test_an_unknown_version_demand_or_dataset_is_named_not_a_file_path(built: Built, query: str, expected: str) -> None:
    if "{frozen}" in expected:  # the session's warehouse has a frozen set once a test has curated it for models
        with duckdb.connect(str(built.warehouse.catalog_path), read_only=True) as con:
            names = [
                r[0] for r in con.execute("SELECT demand FROM frozen_evals WHERE dataset = 'ai4i2020' ORDER BY 1").fetchall()
            ]
        expected = expected.format(frozen=", ".join(names) or "none")
    res = runner.invoke(app, ["sql", query, *_wh(built)])
    assert res.exit_code == 1
    assert res.stderr.strip() == f"error: {expected}"
    assert "No files found" not in res.stderr and "datasets/" not in res.stderr and ".parquet" not in res.stderr


def test_a_stock_client_reads_a_version_and_is_told_which_one_exists(built: Built) -> None:
    with duckdb.connect(str(built.warehouse.catalog_path), read_only=True) as con:
        con.execute(f"SET file_search_path = '{built.warehouse.root}'")
        assert con.execute("select count(*) from dataset('cnc_line', 1)").fetchall() == [
            (built.results["cnc_line"].rows_published,)
        ]
        with pytest.raises(duckdb.CatalogException) as e:
            con.execute("select * from dataset('cnc_line', 4)").fetchall()
        assert str(e.value).startswith(_no_view("cnc_line@4", "cnc_line@1") + "\n")


def test_the_duckdb_1_5_command_line_client_reads_versions_through_the_macros(built: Built, tmp_path: Path) -> None:
    """The stock DuckDB 1.5 CLI (no moshu, no extension) runs `query_table` on the name the macros compute."""
    cli = Path(sys.executable).parent / "duckdb"
    catalog, root = str(built.warehouse.catalog_path), str(built.warehouse.root)

    def run(query: str) -> subprocess.CompletedProcess[str]:
        # from another folder: the views' relative file paths resolve against `file_search_path`
        args = [str(cli), "-readonly", "-csv", catalog, "-c", f"SET file_search_path = '{root}'", "-c", query]
        return subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)

    ok = run("select (select count(*) from dataset('cnc_line', 1)) p, (select count(*) from quarantine('cnc_line', 1)) q")
    assert ok.returncode == 0, ok.stderr
    result = built.results["cnc_line"]
    assert ok.stdout.split() == ["p,q", f"{result.rows_published},{result.rows_quarantined}"]
    bad = run("select * from dataset('cnc_line', 4)")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith(_no_view("cnc_line@4", "cnc_line@1") + "\n")


def test_print_init_opens_the_catalog_from_any_folder(built: Built, tmp_path: Path) -> None:
    res = runner.invoke(app, ["sql", "--print-init", *_wh(built)])
    assert res.exit_code == 0, res.output
    script = res.stdout
    code = (
        "import duckdb, sys\n"
        "con = duckdb.connect()\n"
        "for stmt in sys.stdin.read().split(';\\n'):\n"
        "    lines = [ln for ln in stmt.splitlines() if not ln.startswith('--')]\n"
        "    if ''.join(lines).strip(): con.execute('\\n'.join(lines))\n"
        "print(con.sql(\"select count(*) from dataset('steel_plates_faults', 1)\").fetchall()[0][0])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], input=script, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == built.results["steel_plates_faults"].rows_published == 1941


def test_vertical_format_prints_one_line_per_column(built: Built) -> None:
    res = runner.invoke(
        app, ["sql", "select * from dataset('ai4i2020', 1) order by udi limit 2", "--format", "vertical", *_wh(built)]
    )
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines.count("-- row 1") == 1 and lines.count("-- row 2") == 1
    assert any(line.split(":")[0].strip() == "product_id" and line.split(":")[1].strip() == "M14860" for line in lines)


def test_run_without_a_key_fails_before_reading_any_data(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOSHU_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("MOSHU_PSEUDONYM_KEY_FILE", raising=False)
    wh = tmp_path / "wh"
    res = runner.invoke(app, ["run", "--project", str(project_dir), "--warehouse", str(wh)])
    assert res.exit_code == 1
    assert res.stderr.count("error:") == 1
    assert "dataset `cnc_line` has personal columns (operator_id)" in res.stderr
    assert not Warehouse(wh).catalog_path.exists() and not (wh / "datasets").exists()


def test_partition_has_no_short_option_that_collides_with_project() -> None:
    res = runner.invoke(app, ["run", "--help"])
    assert res.exit_code == 0
    assert "--partition" in res.stdout
    assert "-p" not in [tok.strip(",") for line in res.stdout.splitlines() if "--partition" in line for tok in line.split()]


@pytest.mark.slow
def test_dagster_finds_the_definitions_from_the_repository_root(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "MOSHU_WAREHOUSE": str(tmp_path / "wh")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Validation successful for code location pipelines.definitions" in done.stdout + done.stderr


@pytest.mark.slow
def test_a_cli_run_is_a_run_of_the_dataset_job(project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    monkeypatch.setenv("MOSHU_PSEUDONYM_KEY", "k" * 40)
    wh = tmp_path / "wh"
    res = runner.invoke(app, ["run", "ai4i2020", "--project", str(project_dir), "--warehouse", str(wh)])
    assert res.exit_code == 0, res.output
    instance = dg.DagsterInstance.from_config(str(Warehouse(wh).dagster_home))
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="ai4i2020_job"))
    assert len(runs) == 1
    assert runs[0].status == dg.DagsterRunStatus.SUCCESS
    assert runs[0].tags["moshu/dataset"] == "ai4i2020" and runs[0].tags["moshu/trigger"] == "cli"
    assert runs[0].run_id[:8] in res.stdout  # the summary names the run
    assert not instance.get_runs(filters=dg.RunsFilter(job_name="moshu_all"))
    event = instance.get_latest_materialization_event(dg.AssetKey(["ai4i2020", "published"]))
    assert event is not None and event.asset_materialization is not None
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert meta["level"] == "silver" and meta["level_rank"] == 2  # numbers, so Dagster plots them
    assert isinstance(meta["score"], float) and 0.9 <= meta["score"] <= 1.0
    assert {k for k in meta if k.startswith("dimension/")} >= {"dimension/completeness", "dimension/accuracy"}
    assert Path(meta["version_folder"]) == Warehouse(wh).version_dir("ai4i2020", 1)
    assert Path(meta["report"].removeprefix("file://")).is_file()


def test_every_command_option_and_argument_has_help() -> None:
    import click
    import typer.main

    def walk(c: click.Command, path: str) -> list[tuple[str, click.Command]]:
        if isinstance(c, click.Group):
            return [x for name, sub in c.commands.items() for x in walk(sub, f"{path} {name}")]
        return [(path, c)]

    missing = []
    for path, c in walk(typer.main.get_command(app), "moshu"):
        if not (c.help or "").strip():
            missing.append(f"{path}: the command")
        for p in c.params:
            if not (getattr(p, "help", None) or "").strip():
                missing.append(f"{path}: {p.name}")
    assert not missing, missing


def test_csv_and_json_files_are_written_by_duckdb_and_parse_back(built: Built, tmp_path: Path) -> None:
    import csv
    import json

    q = "select _source_row, _failed_rules, _reasons from quarantine('cnc_line', 1) order by _source_row"
    res = runner.invoke(app, ["sql", q, "-f", "csv", "-o", str(tmp_path / "q.csv"), *_wh(built)])
    assert res.exit_code == 0, res.output
    with (tmp_path / "q.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == built.results["cnc_line"].rows_quarantined == 30
    assert all(json.loads(r["_failed_rules"]) and isinstance(json.loads(r["_reasons"]), list) for r in rows)
    res = runner.invoke(app, ["sql", q, "-f", "json", "-o", str(tmp_path / "q.json"), *_wh(built)])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "q.json").read_text(encoding="utf-8"))
    assert [d["_source_row"] for d in data] == [int(r["_source_row"]) for r in rows]
    assert [d["_failed_rules"] for d in data] == [json.loads(r["_failed_rules"]) for r in rows]
