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
