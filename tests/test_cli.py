"""The `moshu` command line: exit codes, errors on stderr, outputs, and a full run through Dagster."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.conftest import Built

runner = CliRunner()


def _wh(built: Built) -> list[str]:
    return ["--warehouse", str(built.warehouse.root)]


def test_check_ok(project_dir: Path) -> None:
    res = runner.invoke(app, ["check", "--project", str(project_dir)])
    assert res.exit_code == 0, res.output
    assert "specs OK" in res.stdout and "cnc_line" in res.stdout


def test_bad_spec_exits_2_with_location_and_writes_nothing(project_dir: Path, tmp_path: Path) -> None:
    spec = project_dir / "dataset_specs" / "cnc_line.yaml"
    spec.write_text(spec.read_text().replace("  delimiter", "  delimter").replace("primary_key:", "primary_kye:"))
    wh = tmp_path / "wh"
    for args in (["check"], ["run", "--warehouse", str(wh)]):
        res = runner.invoke(app, [*args, "--project", str(project_dir)])
        assert res.exit_code == 2
        assert "dataset_specs/cnc_line.yaml:" in res.stderr and "did you mean `primary_key`?" in res.stderr
    assert not wh.exists()


def test_sql_formats(built: Built, tmp_path: Path) -> None:
    q = "select name, version, rows_published, rows_quarantined from versions order by name"
    res = runner.invoke(app, ["sql", q, "--format", "csv", *_wh(built)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [
        "name,version,rows_published,rows_quarantined",
        "ai4i2020,1,10000,0",
        "cmapss,1,160359,0",
        "cnc_line,1,2355,30",
        "steel_plates_faults,1,1941,0",
    ]
    res = runner.invoke(app, ["sql", q, "-f", "json", *_wh(built)])
    assert json.loads(res.stdout)[2] == {"name": "cnc_line", "version": 1, "rows_published": 2355, "rows_quarantined": 30}
    out = tmp_path / "v.parquet"
    res = runner.invoke(app, ["sql", "select * from dataset('cnc_line', 1)", "-f", "parquet", "-o", str(out), *_wh(built)])
    assert res.exit_code == 0 and pl.read_parquet(out).height == 2355
    res = runner.invoke(app, ["sql", q, *_wh(built)])
    assert res.exit_code == 0 and "cnc_line" in res.stdout


def test_sql_errors_go_to_stderr_with_exit_1(built: Built) -> None:
    res = runner.invoke(app, ["sql", "select * from no_such_table", *_wh(built)])
    assert res.exit_code == 1 and "no_such_table" in res.stderr and res.stdout == ""
    res = runner.invoke(app, ["sql", "select 1", "-f", "parquet", *_wh(built)])
    assert res.exit_code == 2 and "--output" in res.stderr


def test_versions_and_show(built: Built) -> None:
    res = runner.invoke(app, ["versions", "cnc_line", *_wh(built)])
    assert res.exit_code == 0 and "v1" in res.stdout and "2,355" in res.stdout
    res = runner.invoke(app, ["show", "cnc_line@1", *_wh(built)])
    assert res.exit_code == 0, res.output
    for text in (
        "rows in 2,385 = published 2,355 + quarantined 30",
        "cnc.counts.balance",
        "FAIL",
        "seeds/cnc_line/cnc_line_sample.csv",
        "failed + suspect / evaluated",
        "6 + 15 suspect / 2,382",  # cnc.coolant_temp.flat_line: failed and suspect rows side by side
    ):
        assert text in res.stdout
    res = runner.invoke(app, ["show", "cnc_line@9", *_wh(built)])
    assert res.exit_code == 1 and "has no version 9" in res.stderr


def test_run_through_dagster_records_runs_and_is_idempotent(project_dir: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    args = ["run", "cnc_line", "--project", str(project_dir), "--warehouse", str(wh)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "cnc_line" in first.stdout and "new" in first.stdout and "2,355" in first.stdout
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "unchanged" in second.stdout
    instance = dg.DagsterInstance.from_config(str(wh / ".dagster"))
    runs = instance.get_runs()
    assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(  # type: ignore[attr-defined]
        [dg.AssetCheckKey(dg.AssetKey(["cnc_line", "validated"]), "cnc__counts__balance")]
    )
    assert checks, "asset check results are recorded in the instance"
    # Why the level: in the run summary and in the metadata of the `published` materialization.
    assert "cnc_line v1 silver:" in first.stdout and "- A-1 cnc.spindle_speed.span X = 0.9987 < 0.999" in first.stdout
    event = instance.get_latest_materialization_event(dg.AssetKey(["cnc_line", "published"]))
    assert event is not None and event.asset_materialization is not None
    reasons = event.asset_materialization.metadata["level_reasons"].value
    assert str(reasons).startswith("- silver: all 15 gates hold") and "K-3 cnc.counts.balance X = 0.9987 < 0.999" in str(reasons)
    con = duckdb.connect(str(wh / "catalog.duckdb"), read_only=True)
    statuses = [r[0] for r in con.execute("select status from runs order by finished_at").fetchall()]
    orch = {r[0].split(":")[0] for r in con.execute("select orchestrator from runs").fetchall()}
    assert statuses == ["published", "unchanged"] and orch == {"dagster"}


@pytest.mark.slow
def test_run_failure_is_reported_per_dataset(project_dir: Path, tmp_path: Path) -> None:
    seed = project_dir / "seeds" / "ai4i2020" / "ai4i2020.csv"
    seed.write_text(seed.read_text().replace("Torque [Nm]", "Torque", 1))
    res = runner.invoke(app, ["run", "ai4i2020", "cnc_line", "--project", str(project_dir), "--warehouse", str(tmp_path / "wh")])
    assert res.exit_code == 1
    assert "dataset ai4i2020" in res.stderr and "no column `Torque [Nm]`" in res.stderr and "did you mean `Torque`?" in res.stderr
    assert "cnc_line" in res.stdout and "new" in res.stdout, "the other dataset still publishes"
    con = duckdb.connect(str(tmp_path / "wh" / "catalog.duckdb"), read_only=True)
    runs = dict(con.execute("select name, status from runs").fetchall())
    assert runs == {"ai4i2020": "failed", "cnc_line": "published"}
    assert not (tmp_path / "wh" / "_staging").exists()


@pytest.mark.parametrize("cmd", [["--help"], ["sql", "--help"], ["generate", "cnc-line", "--help"]])
def test_help(cmd: list[str]) -> None:
    assert runner.invoke(app, cmd).exit_code == 0


def test_a_failing_dataset_level_error_rule_writes_a_rejected_candidate_in_dagster(project_dir: Path, tmp_path: Path) -> None:
    rules = project_dir / "quality_rules" / "cnc_line.yaml"
    rules.write_text(rules.read_text().replace("    min: 100\n", "    min: 100000\n"))
    wh = tmp_path / "wh"
    res = runner.invoke(app, ["run", "cnc_line", "--project", str(project_dir), "--warehouse", str(wh)])
    assert res.exit_code == 1
    err = " ".join(res.stderr.split())  # rich wraps long lines
    assert "`cnc.row_count`" in err and "cnc__row_count" not in err, "the rule id as written, not Dagster's check name"
    assert "X = A / B = 0 / 1" in err and "threshold 1" in err and "observed: 2355" in err
    assert [p.name for p in (wh / "datasets" / "cnc_line").glob("v*")] == ["v1"]
    instance = dg.DagsterInstance.from_config(str(wh / ".dagster"))
    published = instance.get_latest_materialization_event(dg.AssetKey(["cnc_line", "published"]))
    assert published is not None and published.asset_materialization.metadata["status"].value == "rejected"  # type: ignore[union-attr]
    con = duckdb.connect(str(wh / "catalog.duckdb"), read_only=True)
    status, message = con.execute("select status, message from runs where name = 'cnc_line'").fetchall()[0]
    assert status == "rejected" and "`cnc.row_count`" in message and "below its threshold" in message
    assert con.execute("select status from versions where name = 'cnc_line'").fetchall() == [("rejected",)]
    show = runner.invoke(app, ["show", "cnc_line@1", "--project", str(project_dir), "--warehouse", str(wh)])
    assert show.exit_code == 0 and "rejected" in show.stdout


def test_report_command(built: Built) -> None:
    res = runner.invoke(app, ["report", "steel_plates_faults", *_wh(built)])
    assert res.exit_code == 0, res.output
    path = Path(res.stdout.split("report:")[1].split()[0])
    assert path.is_file() and path.name == "report.html" and "data docs:" in res.stdout


def test_python_dash_m_has_every_command_the_moshu_command_has() -> None:
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    assert res.returncode == 0, res.stderr
    listed = {line.split()[1] for line in res.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    assert {"run", "sql", "verify", "card", "audit", "feedback", "model", "pull", "migrate", "catalog"} <= listed


def test_audit_on_a_catalog_without_an_audit_log_says_what_to_do(tmp_path: Path) -> None:
    from pipelines.catalog.db import writer
    from pipelines.warehouse import Warehouse

    wh = Warehouse(tmp_path / "wh")
    with writer(wh):
        pass  # a migrated catalog
    con = duckdb.connect(str(wh.catalog_path))  # outside moshu's writer, which mirrors audit_log to its Delta table
    con.execute("DROP TABLE audit_log")  # as a catalog made before the audit log existed
    con.close()
    res = runner.invoke(app, ["audit", "--warehouse", str(wh.root)])
    assert res.exit_code == 1, res.output
    assert "audit_log" in res.output and "`moshu run`" in res.output and "Traceback" not in res.output
