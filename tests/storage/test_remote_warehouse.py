"""A warehouse whose Delta tables live on S3 (moto's server on loopback), built by several processes at once.

Each writer is its own process with its own warehouse folder (as on separate machines), sharing only the
bucket. The commits race for real: each process waits at a barrier right before its first commit, so
both commit on top of the same table version and exactly one wins; the other builds again on top of it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.storage.delta import PUBLISHED, QUARANTINE, current_version, history
from pipelines.warehouse import Warehouse
from tests.partitions.daily import NAME, daily_project, day_file

pytestmark = pytest.mark.slow  # each test builds a partitioned dataset several times, in child processes

DAYS = ["2026-03-02", "2026-03-03", "2026-03-04"]
runner = CliRunner()


def _edit(root: Path, day: str, state: str) -> None:
    """Set one row of a day's file to another machine state (a new input for that partition)."""
    f = day_file(root, day)
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[10] = re.sub(r",(RUN|IDLE|SETUP|ALARM|OFF|E-STOP)$", f",{state}", lines[10])
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _build(root: str, folder: str, remote: str, days: list[str], barrier: Any, out: Any) -> None:
    """One machine: build `days` into its own folder; wait at `barrier` right before its first commit."""
    import importlib

    from pipelines.runner import run_dataset
    from pipelines.spec.loader import load_project

    publish = importlib.import_module("pipelines.stages.publish")  # the package exports a function of that name
    real = publish.commit_record
    waited: list[bool] = []

    def gated(*args: Any, **kwargs: Any) -> Any:
        if barrier is not None and not waited:
            waited.append(True)
            barrier.wait(timeout=300)
        return real(*args, **kwargs)

    publish.commit_record = gated
    loaded = load_project(Path(root), only=[NAME]).datasets[NAME]
    pub = run_dataset(loaded, Path(root), Warehouse(Path(folder), remote), partitions=days)
    out.put((days, pub.version, pub.created))


def _killed(root: str, folder: str, remote: str, days: list[str]) -> None:
    """One machine killed (SIGKILL) at the moment it commits, after its files were uploaded."""
    from deltalake import DeltaTable

    from pipelines.runner import run_dataset
    from pipelines.spec.loader import load_project

    DeltaTable.create_write_transaction = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[method-assign]
    loaded = load_project(Path(root), only=[NAME]).datasets[NAME]
    run_dataset(loaded, Path(root), Warehouse(Path(folder), remote), partitions=days)


def _machines(targets: list[tuple[Any, tuple[Any, ...]]]) -> None:
    procs = [mp.get_context("spawn").Process(target=t, args=a) for t, a in targets]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)


def _first_version(root: Path, tmp: Path, remote: str) -> Warehouse:
    from pipelines.runner import run_dataset
    from pipelines.spec.loader import load_project

    wh = Warehouse(tmp / "first", remote)
    loaded = load_project(root, only=[NAME]).datasets[NAME]
    assert run_dataset(loaded, root, wh, partitions=DAYS).version == 1
    return wh


def _remote_rows(wh: Warehouse, delta_version: int | None = None) -> int:
    t = wh.table(NAME, PUBLISHED)
    return pl.scan_delta(t.uri, version=delta_version, storage_options=t.options).select(pl.len()).collect().item()


def _race(tmp: Path, root: Path, remote: str, jobs: list[list[str]]) -> list[tuple[list[str], int, bool]]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(len(jobs)), ctx.Queue()
    _machines([(_build, (str(root), str(tmp / f"m{i}"), remote, days, barrier, out)) for i, days in enumerate(jobs)])
    return sorted(out.get(timeout=5) for _ in jobs)


def test_two_machines_rebuilding_different_days_at_once_both_commit(tmp_path: Path, bucket_url: str) -> None:
    root = daily_project(tmp_path / "project")
    first = _first_version(root, tmp_path, bucket_url)
    _edit(root, "2026-03-03", "E-STOP")
    _edit(root, "2026-03-04", "E-STOP")
    done = _race(tmp_path, root, bucket_url, [["2026-03-03"], ["2026-03-04"]])
    assert sorted(v for _, v, _ in done) == [2, 3] and all(created for _, _, created in done)
    commits = history(first.table(NAME, PUBLISHED))
    assert [c.version for c in commits] == [1, 2, 3]
    v3 = commits[-1].manifest
    assert v3 is not None
    built = {p["key"]: p["built_in_version"] for p in v3["partitions"]}
    assert built["2026-03-02"] == 1 and {built["2026-03-03"], built["2026-03-04"]} == {2, 3}  # neither day was lost
    assert _remote_rows(first) == v3["counts"]["rows_published"]
    assert [c.version for c in history(first.table(NAME, QUARANTINE))] == [1, 2, 3]


def test_two_machines_rebuilding_the_same_day_make_exactly_one_version(tmp_path: Path, bucket_url: str) -> None:
    root = daily_project(tmp_path / "project")
    first = _first_version(root, tmp_path, bucket_url)
    _edit(root, "2026-03-03", "E-STOP")
    done = _race(tmp_path, root, bucket_url, [["2026-03-03"], ["2026-03-03"]])
    assert [(v, created) for _, v, created in done] == [(2, False), (2, True)]  # the loser finds its inputs published
    assert [c.version for c in history(first.table(NAME, PUBLISHED))] == [1, 2]
    rows = history(first.table(NAME, PUBLISHED))[-1].manifest["counts"]["rows_published"]  # type: ignore[index]
    assert _remote_rows(first) == rows  # no row lost or duplicated


def test_a_writer_killed_at_its_commit_leaves_the_table_at_its_previous_version(tmp_path: Path, bucket_url: str) -> None:
    root = daily_project(tmp_path / "project")
    first = _first_version(root, tmp_path, bucket_url)
    table = first.table(NAME, PUBLISHED)
    before, rows = current_version(table), _remote_rows(first)
    _edit(root, "2026-03-03", "E-STOP")
    _machines([(_killed, (str(root), str(tmp_path / "killed"), bucket_url, ["2026-03-03"]))])
    assert current_version(table) == before
    assert _remote_rows(first) == rows  # readable, at v1's rows
    _machines([(_build, (str(root), str(tmp_path / "next"), bucket_url, ["2026-03-03"], None, mp.get_context("spawn").Queue()))])
    assert [c.version for c in history(table)] == [1, 2]  # the next writer commits on top of v1


def test_a_fresh_machine_rebuilds_the_catalog_from_the_bucket_and_reads_every_version(tmp_path: Path, bucket_url: str) -> None:
    root = daily_project(tmp_path / "project")
    first = _first_version(root, tmp_path, bucket_url)
    _edit(root, "2026-03-04", "E-STOP")
    _race(tmp_path, root, bucket_url, [["2026-03-04"]])
    fresh = tmp_path / "fresh"
    res = runner.invoke(app, ["catalog", "rebuild", "--remote", bucket_url, "--warehouse", str(fresh), "--project", str(root)])
    assert res.exit_code == 0, res.output
    assert f"{NAME}: v1, v2 copied" in res.output
    res = runner.invoke(app, ["verify", "--warehouse", str(fresh), "--project", str(root)])
    assert res.exit_code == 0, res.output
    wh = Warehouse(fresh, bucket_url)
    duckdb_cli = shutil.which("duckdb", path=str(Path(sys.executable).parent))
    assert duckdb_cli is not None, "the stock DuckDB CLI (duckdb-cli) is a dev dependency"
    for c in history(first.table(NAME, PUBLISHED)):
        want = wh.manifest(NAME, c.version)["counts"]["rows_published"]
        sql = f"SELECT count(*) FROM dataset('{NAME}', {c.version})"
        got = subprocess.run([duckdb_cli, "-readonly", "-csv", "-noheader", "catalog.duckdb", "-c", sql],
                             cwd=fresh, capture_output=True, text=True, check=True)  # fmt: skip
        assert int(got.stdout.strip()) == want, got.stderr
        assert _remote_rows(first, c.delta_version) == want  # polars reads the same version from the bucket


def test_moshu_run_commits_to_the_bucket_and_another_machine_pulls_and_queries_it(
    tmp_path: Path, bucket_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import copy_project

    monkeypatch.setenv("MOSHU_REMOTE", bucket_url)  # `moshu run --remote` sets it for its step processes; undone after

    root = copy_project(tmp_path / "project")
    first, second = tmp_path / "a", tmp_path / "b"
    res = runner.invoke(
        app, ["run", "steel_plates_faults", "--remote", bucket_url, "--warehouse", str(first), "--project", str(root)]
    )
    assert res.exit_code == 0, res.output
    table = Warehouse(first, bucket_url).table("steel_plates_faults", PUBLISHED)
    assert table.remote and [c.version for c in history(table)] == [1]  # committed to the bucket, through Dagster
    res = runner.invoke(app, ["pull", "--remote", bucket_url, "--warehouse", str(second), "--project", str(root)])
    assert res.exit_code == 0, res.output
    assert "steel_plates_faults: v1 copied" in res.output
    res = runner.invoke(
        app, ["sql", "select count(*) as n from dataset('steel_plates_faults', 1)", "--format", "csv", "--warehouse", str(second)]
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.split()[-1] == "1941"
