"""Crash windows close themselves: a version committed without catalog rows, and orphan staging and temporary folders."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.catalog.client import CatalogClient
from pipelines.cli import app
from pipelines.governance.repair import ORPHAN_AGE_S
from pipelines.governance.verify import verify
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.stages import ingest, publish, validate
from pipelines.warehouse import Warehouse
from tests.conftest import Built

NAME = "ai4i2020"
runner = CliRunner()


def _cli(wh: Warehouse, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["verify", *args, "--warehouse", str(wh.root)], env={"COLUMNS": "250"})
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def _problems(wh: Warehouse) -> set[tuple[str, str]]:
    return {(p.path, p.problem) for p in verify(wh).problems}


def _age(folder: Path, seconds: float) -> None:
    """Make everything in `folder` look last written `seconds` ago."""
    then = time.time() - seconds
    for p in [folder, *folder.rglob("*")]:
        os.utime(p, (then, then))


@pytest.fixture(scope="module")
def crashed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The seeds' project after a run of changed ai4i2020 data was killed between its rename and its catalog write:
    `v2` is committed, the catalog knows only `v1`, and the run's staging folder is still there."""
    root = Path(shutil.copytree(built.project.root, tmp_path_factory.mktemp("crash") / "project"))
    seed = root / "seeds" / NAME / f"{NAME}.csv"
    seed.write_text(seed.read_text().replace("1,M14860,M,298.1,", "1,M14860,M,298.3,", 1))
    loaded = load_project(root).datasets[NAME]
    wh = Warehouse(root / "warehouse")
    ing = ingest(loaded, root, wh)
    pub = publish(loaded, validate(loaded, ing), wh)  # the process dies here: no register, no staging cleanup
    assert pub.version == 2 and wh.staging_dir(NAME, ing.run_id).is_dir()
    yield root


@pytest.fixture
def project(crashed: Path, tmp_path: Path) -> Path:
    """A private copy of the crashed project."""
    return Path(shutil.copytree(crashed, tmp_path / "project"))


def _catalog_has_v2(wh: Warehouse) -> None:
    with CatalogClient(wh.root) as c:
        run_id = wh.manifest(NAME, 2)["run_id"]  # the killed run's row, written for it
        assert c.rows("SELECT status, version, orchestrator FROM runs WHERE run_id = ?", [run_id]) == [("published", 2, "repair")]
        assert c.rows("SELECT count(*) FROM audit_log WHERE object = ? AND action IN ('publish', 'gate')", [f"{NAME}@2"]) == [
            (2,)
        ]
        assert c.rows("SELECT count(*) FROM columns WHERE name = ? AND version = 2", [NAME])[0][0] > 0


@pytest.mark.slow
def test_a_committed_folder_without_catalog_rows_is_reported_then_repaired(project: Path) -> None:
    wh = Warehouse(project / "warehouse")
    [staging] = (wh.root / "_staging" / NAME).iterdir()
    assert _problems(wh) == {(f"datasets/{NAME}/v2", "version folder with no catalog row")}  # the staging may be live
    _age(staging, ORPHAN_AGE_S + 60)
    assert (staging.relative_to(wh.root).as_posix(), "staging folder of a stopped run") in {
        (path, problem.split(":")[0]) for path, problem in _problems(wh)
    }
    code, output = _cli(wh, "--repair")
    assert code == 0, output
    assert f"datasets/{NAME}/v2: registered from its manifest" in output and "removed" in output
    assert not staging.exists() and verify(wh).ok
    _catalog_has_v2(wh)


@pytest.mark.slow
def test_the_next_run_registers_the_committed_folder_and_removes_orphans(project: Path) -> None:
    wh = Warehouse(project / "warehouse")
    [staging] = (wh.root / "_staging" / NAME).iterdir()
    _age(staging, ORPHAN_AGE_S + 60)
    tmp = wh.dataset_dir(NAME) / ".tmp-v3-0badc0de"  # an attempt stopped before its commit
    (tmp / "quality").mkdir(parents=True)
    (tmp / "quality" / "report.html").write_text("half written", encoding="utf-8")
    written = wh.table_dir(NAME, "published") / "v3" / "part-00000-0badc0de.parquet"  # its table file, never committed
    written.parent.mkdir()
    written.write_bytes(b"half written")
    other = wh.data_files(NAME, 2)[0]
    pub = run_dataset(load_project(project).datasets[NAME], project, wh)  # the same data as v2: unchanged
    assert (pub.version, pub.created) == (2, False)
    assert not staging.exists() and not tmp.exists() and not written.exists()
    assert Path(other).is_file(), "a committed version's table files are kept"
    report = verify(wh)
    assert report.ok, [p.render() for p in report.problems]
    _catalog_has_v2(wh)


@pytest.mark.slow
def test_a_committed_version_whose_folder_was_not_renamed_is_renamed_then_registered(project: Path) -> None:
    """The run died between its Delta commit and the rename of `.tmp-v2-<token>` into `v2`."""
    wh = Warehouse(project / "warehouse")
    files = wh.data_files(NAME, 2) + wh.quarantine_files(NAME, 2)
    token = Path(files[0]).stem.rsplit("-", 1)[1]  # the attempt's token names its folder and its table files
    assert all(Path(f).stem.endswith(f"-{token}") for f in files)
    tmp = wh.dataset_dir(NAME) / f".tmp-v2-{token}"
    os.rename(wh.version_dir(NAME, 2), tmp)
    found = _problems(wh)
    assert (f"datasets/{NAME}/v2", "committed in the Delta log but its version folder is gone") in found
    code, output = _cli(wh, "--repair")
    assert code == 0, output
    assert f"datasets/{NAME}/v2: committed to the Delta log by a run that stopped before renaming" in output
    assert not tmp.exists() and wh.version_dir(NAME, 2).is_dir()
    assert all(Path(f).is_file() for f in files), "the committed table files are kept, though they carry the token"
    assert verify(wh).ok, [p.render() for p in verify(wh).problems]
    _catalog_has_v2(wh)


def test_orphan_folders_are_reported_then_removed_and_live_ones_kept(built: Built, tmp_path: Path) -> None:
    wh = Warehouse(Path(shutil.copytree(built.warehouse.root, tmp_path / "warehouse")))
    with CatalogClient(wh.root) as c:
        [(ended,)] = c.rows("SELECT run_id FROM runs WHERE name = 'cmapss'")
    tmp = wh.dataset_dir(NAME) / ".tmp-v2-0badc0de"
    stale = wh.staging_dir(NAME, "20260101T000000-abcdef")
    live = wh.staging_dir("cnc_line", "20991231T000000-fedcba")
    done = wh.staging_dir("cmapss", ended)
    for folder in (tmp, stale, live, done):
        folder.mkdir(parents=True)
        (folder / "staged.parquet").write_bytes(b"x")
    _age(stale, ORPHAN_AGE_S + 60)
    with wh.dataset_lock(NAME):  # a run is publishing ai4i2020: its temporary folder is not an orphan
        found = {p.path for p in verify(wh).problems}
    rel = {f.relative_to(wh.root).as_posix() for f in (tmp, stale, done)}
    assert found == rel - {tmp.relative_to(wh.root).as_posix()}
    assert {p.path for p in verify(wh).problems} == rel
    code, output = _cli(wh, "--repair")
    assert code == 0, output
    assert not tmp.exists() and not stale.exists() and not done.exists() and live.is_dir()
    assert verify(wh).ok
