"""Shared fixtures: a copy of the example project (the seeds are the end-to-end fixture) and built warehouses."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.runner import run_dataset
from pipelines.spec.loader import Project, load_project
from pipelines.stages import Published
from pipelines.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[1]
# A fixed pseudonymisation key for the tests (a run with personal columns needs one; see pseudonym.py).
TEST_KEY = "test-key-0123456789abcdef0123456789abcdef"
os.environ.setdefault("MOSHU_PSEUDONYM_KEY", TEST_KEY)
PROJECT_PARTS = ("dataset_specs", "quality_rules", "seeds")
_EXIT = pytest.StashKey[int]()


def copy_project(dest: Path) -> Path:
    """Copy the repository's example project (specs, rules, seeds) to `dest`."""
    for part in PROJECT_PARTS:
        shutil.copytree(REPO / part, dest / part)
    return dest


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A private copy of the example project, safe to edit."""
    return copy_project(tmp_path / "project")


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    """An empty warehouse."""
    return Warehouse(tmp_path / "warehouse")


@dataclass
class Built:
    """A project built once into a warehouse, shared read-only by many tests."""

    project: Project
    warehouse: Warehouse
    results: dict[str, Published]


def build(project_root: Path, wh: Warehouse, names: list[str] | None = None) -> dict[str, Published]:
    """Run the named datasets (default all) through the four stages, without Dagster."""
    proj = load_project(project_root)
    return {n: run_dataset(proj.datasets[n], proj.root, wh) for n in (names or sorted(proj.datasets))}


def built_copy(factory: pytest.TempPathFactory, label: str, names: list[str] | None = None) -> Warehouse:
    """A fresh copy of the example project with the named datasets (default all) built into its `warehouse/`."""
    root = copy_project(factory.mktemp(label) / "project")
    wh = Warehouse(root / "warehouse")
    build(root, wh, names)
    return wh


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The example project built once per session."""
    root = copy_project(tmp_path_factory.mktemp("built") / "project")
    wh = Warehouse(root / "warehouse")
    results = build(root, wh)
    yield Built(load_project(root), wh, results)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember the exit status for `pytest_unconfigure`."""
    session.config.stash[_EXIT] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process without interpreter teardown, as the `moshu` command does (see `pipelines.cli.main`).

    DuckDB's nanobind bindings print spurious "leaked instance" warnings when they are finalised
    after Great Expectations and SQLAlchemy; they would land after pytest's summary line.
    """
    import os
    import sys

    if _EXIT in config.stash and not hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[_EXIT])
