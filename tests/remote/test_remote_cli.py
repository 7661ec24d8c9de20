"""The remote warehouse from the command line: `moshu run --remote` (through Dagster), `pull`, `push`, `remote ...`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.remote import open_remote
from pipelines.warehouse import Warehouse
from tests.conftest import built_copy

# Each test simulates machines sharing an object store, most with full runs: slow, run by `make test-slow` (CI).
pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.mark.slow  # a Dagster run
def test_run_through_dagster_pushes_then_another_machine_pulls_and_verifies(
    project_dir: Path, tmp_path: Path, remote_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wa, wb = tmp_path / "a", tmp_path / "b"
    monkeypatch.delenv("MOSHU_REMOTE", raising=False)
    res = runner.invoke(app, ["run", "cnc_line", "--project", str(project_dir), "--warehouse", str(wa), "--remote", remote_url])
    assert res.exit_code == 0, res.output
    os.environ.pop("MOSHU_REMOTE", None)  # `run --remote` exports it for Dagster's step processes
    r = open_remote(remote_url)
    assert r.versions("cnc_line") == [1]
    cards = r.fs.find(r.key("datasets", "cnc_line", "cards"))
    assert any(c.endswith("v1.md") for c in cards)  # the run's derived files went up too

    res = runner.invoke(app, ["pull", "--project", str(project_dir), "--warehouse", str(wb), "--remote", remote_url])
    assert res.exit_code == 0, res.output
    assert "cnc_line" in res.output and "v1" in res.output
    res = runner.invoke(app, ["verify", "--warehouse", str(wb)])
    assert res.exit_code == 0, res.output  # data, splits, cards and the shared audit chain all check out
    res = runner.invoke(app, ["sql", "select count(*) as n from cnc_line", "-f", "csv", "--warehouse", str(wb)])
    assert res.exit_code == 0 and res.output.split() == [
        "n",
        str(Warehouse(wa).manifest("cnc_line", 1)["counts"]["rows_published"]),
    ]

    r.claim("cnc_line", 2, "crashed-run")
    res = runner.invoke(app, ["remote", "status", "--warehouse", str(wb), "--remote", remote_url])
    assert res.exit_code == 0 and "v2" in res.output and "catalog lease: free" in res.output
    res = runner.invoke(app, ["remote", "release", "cnc_line", "2", "--warehouse", str(wb), "--remote", remote_url])
    assert res.exit_code == 1 and "pass --force only if you know it is gone" in res.output
    res = runner.invoke(app, ["remote", "release", "cnc_line", "2", "--force", "--warehouse", str(wb), "--remote", remote_url])
    assert res.exit_code == 0 and "released cnc_line v2" in res.output
    res = runner.invoke(app, ["remote", "release", "cnc_line", "1", "--warehouse", str(wb), "--remote", remote_url])
    assert res.exit_code == 1 and "cannot be released" in res.output


def test_push_and_pull_without_a_remote_say_how_to_name_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOSHU_REMOTE", raising=False)
    for cmd in ("push", "pull"):
        res = runner.invoke(app, [cmd, "--warehouse", str(tmp_path)])
        assert res.exit_code == 1 and "pass --remote s3://bucket/prefix or set MOSHU_REMOTE" in res.output


def test_push_adopts_a_local_warehouse_into_an_empty_remote(
    tmp_path_factory: pytest.TempPathFactory, remote_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOSHU_REMOTE", raising=False)
    wh = built_copy(tmp_path_factory, "adopt", ["cnc_line"])
    res = runner.invoke(app, ["push", "--warehouse", str(wh.root), "--remote", remote_url])
    assert res.exit_code == 0, res.output
    r = open_remote(remote_url)
    assert r.versions("cnc_line") == [1] and r.fs.exists(r.key("catalog.duckdb"))
    res = runner.invoke(app, ["push", "--warehouse", str(wh.root), "--remote", remote_url])
    assert res.exit_code == 0 and "cnc_line" in res.output  # nothing left to push: a no-op


def test_repeated_pulls_follow_the_shared_catalog_without_setting_anything_aside(
    project_dir: Path, tmp_path: Path, remote_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.catalog.client import CatalogClient
    from pipelines.catalog.db import writer
    from pipelines.governance.audit import record
    from pipelines.runner import run_dataset
    from pipelines.spec.loader import load_project

    monkeypatch.delenv("MOSHU_REMOTE", raising=False)
    wa = Warehouse(tmp_path / "a", remote_url)
    proj = load_project(project_dir, only=["cnc_line"])
    run_dataset(proj.datasets["cnc_line"], proj.root, wa)
    wb = tmp_path / "b"
    for i in range(2):
        res = runner.invoke(app, ["pull", "--project", str(project_dir), "--warehouse", str(wb), "--remote", remote_url])
        assert res.exit_code == 0 and "catalog: fetched" in res.output, res.output
        with writer(wa) as con:  # machine A writes the shared catalog between the pulls
            record(con, actor=f"ana-{i}", action="verify", object="*", decision="ok", detail={})
    res = runner.invoke(app, ["pull", "--warehouse", str(wb), "--remote", remote_url])
    assert res.exit_code == 0 and not list(wb.glob("catalog.duckdb.diverged-*"))
    with CatalogClient(wb) as c:
        assert c.sql("SELECT count(*) FROM audit_log WHERE actor LIKE 'ana-%'").fetchall()[0][0] == 2


def test_a_folder_bound_to_one_remote_refuses_another(tmp_path: Path, remote_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOSHU_REMOTE", raising=False)
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "remote.json").write_text('{"url": "s3://other-bucket/warehouse"}', encoding="utf-8")
    res = runner.invoke(app, ["sql", "select 1", "--warehouse", str(tmp_path / "wh")])
    assert res.exit_code == 1  # the bound remote is used even without --remote: here it does not exist
    res = runner.invoke(app, ["push", "--warehouse", str(tmp_path / "wh"), "--remote", remote_url])
    assert res.exit_code == 1 and "is the cache of s3://other-bucket/warehouse" in res.output
    (tmp_path / "wh" / "remote.json").write_text("{not json", encoding="utf-8")
    res = runner.invoke(app, ["versions", "cnc_line", "--warehouse", str(tmp_path / "wh")])
    assert res.exit_code == 1 and "remote.json" in res.output and "Traceback" not in res.output
