"""Close a run's crash windows: register committed version folders the catalog lacks, remove orphan folders.

A run killed between renaming its version folder into place and writing the catalog leaves a
committed folder without catalog rows; a run killed earlier leaves its `_staging/<dataset>/<run>/`
folder, or a `.tmp-v<N>-*` folder it was filling. `moshu verify` reports all three; `repair` (run by
`moshu verify --repair`, and by every run for its own dataset before it publishes) closes them:

* a committed folder whose manifest and files check out is registered from its manifest with the rows
  the run would have written: the version's catalog rows, its `publish` and `gate` audit rows and its
  `runs` row (with `orchestrator` = `repair`);
* a `.tmp-v*` folder is removed when no run holds the dataset's lock (it is only written under that lock,
  which the operating system releases when the process dies);
* a staging folder is removed when its run has ended (it has a `runs` row); `moshu verify --repair` also
  removes one in which nothing was written for `ORPHAN_AGE_S` (a run killed before it recorded anything).
  Runs hold no lease on their staging folder, so a run never removes another one's by age: a long
  step of a live run in another process may write nothing for a while.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.warehouse import Warehouse

__all__ = ["ORPHAN_AGE_S", "Orphan", "orphans", "repair", "unregistered"]

ORPHAN_AGE_S = 15 * 60  # a live run writes into its staging folder well within this
TMP_PREFIX = ".tmp-v"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Orphan:
    """A folder a stopped run left behind, and why it is taken for one."""

    dataset: str | None
    path: Path
    why: str


def _locked(warehouse: Warehouse, name: str) -> bool:
    """True when a run holds the dataset's publish lock now."""
    from filelock import Timeout

    lock = warehouse.dataset_lock(name)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def _newest_write(folder: Path) -> float:
    """The latest modification time of the folder or anything in it."""
    newest = folder.stat().st_mtime
    for dirpath, dirnames, filenames in os.walk(folder):
        for n in (*dirnames, *filenames):
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, n)).st_mtime)
            except OSError:
                continue
    return newest


def _dirs(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []


def orphans(
    warehouse: Warehouse,
    dataset: str | None = None,
    *,
    ended: set[str] | None = None,
    keep_run: str | None = None,
    by_age: bool = True,
) -> list[Orphan]:
    """The orphan temporary and staging folders of one dataset (or all), as `repair` would remove them now.

    Args:
        warehouse: The warehouse.
        dataset: Only this dataset's folders.
        ended: Run ids with a `runs` row (default: read from the catalog, if there is one).
        keep_run: A run id whose staging folder is never an orphan (the caller's own run).
        by_age: Also count staging folders without a `runs` row in which nothing was written for `ORPHAN_AGE_S`.

    Returns:
        The orphans, temporary folders first.
    """
    out = []
    for ddir in _dirs(warehouse.root / "datasets"):
        if dataset not in (None, ddir.name):
            continue
        tmps = [p for p in _dirs(ddir) if p.name.startswith(TMP_PREFIX)]
        if tmps and not _locked(warehouse, ddir.name):
            out += [Orphan(ddir.name, p, "temporary version folder of a stopped run: no run holds the dataset's lock")
                    for p in tmps]  # fmt: skip
    now = time.time()
    for ddir in _dirs(warehouse.root / "_staging"):
        if dataset not in (None, ddir.name):
            continue
        for run in _dirs(ddir):
            if run.name == keep_run:
                continue
            if ended is None:  # read once, and only when there is a staging folder to judge
                ended = _ended_runs(warehouse)
            if run.name in ended:
                out.append(Orphan(ddir.name, run, f"staging folder of run `{run.name}`, which has ended"))
            elif by_age and (age := now - _newest_write(run)) > ORPHAN_AGE_S:
                out.append(Orphan(ddir.name, run, f"staging folder of a stopped run: nothing written for {age / 60:.0f} min "
                                  f"(a live run writes within {ORPHAN_AGE_S / 60:.0f} min) and no `runs` row"))  # fmt: skip
    return out


def _ended_runs(warehouse: Warehouse) -> set[str]:
    if not warehouse.catalog_path.is_file():
        return set()
    from pipelines.catalog.client import CatalogClient

    with CatalogClient(warehouse.root) as cat:
        return {str(r[0]) for r in cat.rows("SELECT run_id FROM runs")}


def unregistered(warehouse: Warehouse, dataset: str | None = None) -> list[tuple[str, int]]:
    """Committed version folders (with a manifest) the catalog has no `versions` row for."""
    have: set[tuple[str, int]] = set()
    if warehouse.catalog_path.is_file():
        from pipelines.catalog.client import CatalogClient

        with CatalogClient(warehouse.root) as cat:
            have = {(str(n), int(v)) for n, v in cat.rows("SELECT name, version FROM versions")}
    return [
        (d.name, v)
        for d in _dirs(warehouse.root / "datasets")
        if dataset in (None, d.name)
        for v in warehouse.versions(d.name)
        if (d.name, v) not in have
    ]


def repair(warehouse: Warehouse, dataset: str | None = None, *, keep_run: str | None = None, by_age: bool = True) -> list[str]:
    """Register committed folders the catalog lacks and remove orphan folders (see the module docstring).

    Args:
        warehouse: The warehouse.
        dataset: Only this dataset.
        keep_run: The caller's own run id, whose staging folder is kept.
        by_age: Also remove staging folders of runs that recorded nothing and wrote nothing for `ORPHAN_AGE_S`
            (`moshu verify --repair`; a run leaves those to the operator).

    Returns:
        One sentence per thing done or left alone, with its reason.
    """
    done = _restore(warehouse, dataset)
    done += [_register(warehouse, n, v) for n, v in unregistered(warehouse, dataset)]
    for o in orphans(warehouse, dataset, keep_run=keep_run, by_age=by_age):
        done.append(_remove(warehouse, o))
    return done


def _restore(warehouse: Warehouse, dataset: str | None) -> list[str]:
    """`restore_committed` for every dataset with tables whose lock is free (a live run closes its own windows)."""
    from filelock import Timeout

    from pipelines.governance.repair_delta import restore_committed

    done = []
    for ddir in _dirs(warehouse.root / "datasets"):
        if dataset in (None, ddir.name) and (ddir / "published").is_dir():
            try:
                with warehouse.dataset_lock(ddir.name).acquire(timeout=0):
                    done += restore_committed(warehouse, ddir.name)
            except Timeout:
                continue
    return done


def _register(warehouse: Warehouse, name: str, version: int) -> str:
    """Register one committed folder with the rows its run would have written, if the folder checks out."""
    from pipelines.catalog.db import writer
    from pipelines.governance.verify import folder_problems
    from pipelines.stages.publish import published_of
    from pipelines.stages.register import audit_publish, insert_run, refresh_latest_view, register_version

    rel = warehouse.version_dir(name, version).relative_to(warehouse.root).as_posix()
    problems = folder_problems(warehouse, name, version)
    if problems:
        return f"{rel}: not registered, the folder does not match its manifest ({problems[0].render()}; `moshu verify` lists all)"
    m = warehouse.manifest(name, version)
    run_id = str(m.get("run_id") or f"repair-{name}-v{version}")
    with writer(warehouse) as con:
        if con.execute("SELECT 1 FROM versions WHERE name = ? AND version = ?", [name, version]).fetchall():
            return f"{rel}: registered meanwhile by its own run"
        con.execute("BEGIN TRANSACTION")
        register_version(con, warehouse, name, version)
        pub = published_of(warehouse, name, version, run_id, created=True)
        audit_publish(con, warehouse, name, pub)
        message = f"v{version} {pub.status}, level {pub.level}; registered from its manifest after the run stopped before its catalog write"
        insert_run(con, run_id, name, m.get("created_at"), pub.status, version, pub.rows_in, message, "repair")
        refresh_latest_view(con, name)
        con.execute("COMMIT")
    _log.info("registered `%s` v%s from its manifest", name, version)
    return f"{rel}: registered from its manifest (version, audit and run rows)"


def _remove(warehouse: Warehouse, o: Orphan) -> str:
    rel = o.path.relative_to(warehouse.root).as_posix()
    if o.path.name.startswith(TMP_PREFIX) and o.dataset is not None:
        from filelock import Timeout

        try:
            with warehouse.dataset_lock(o.dataset).acquire(timeout=0):
                from pipelines.stages.publish import discard_attempt

                discard_attempt(o.path)  # the folder, and the table files it wrote (never committed)
        except Timeout:
            return f"{rel}: kept, a run took the dataset's lock meanwhile"
    else:
        shutil.rmtree(o.path, ignore_errors=True)
    if o.path.parent.parent.name == "_staging":
        with contextlib.suppress(OSError):
            o.path.parent.rmdir()  # the dataset's staging folder, once empty
    _log.info("removed orphan folder %s", rel)
    return f"{rel}: removed, {o.why}"
