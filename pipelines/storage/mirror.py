"""A warehouse folder as this machine's copy of a remote warehouse, whose Delta tables are the store of record.

The remote (`s3://bucket/prefix`) has the warehouse's layout: `datasets/<name>/published/` and
`quarantine/` (Delta tables) and `datasets/<name>/v<N>/` (each version's manifest and pages). Commits are
made to the remote tables directly (`pipelines.storage.commit.commit_record` uploads the files first), so the
concurrency between machines is the Delta log's. This module only copies:

* `pull_dataset` brings the folder up to date: the tables' log entries it lacks (they never change once
  written), then, for every committed version, its version folder and the table files its manifest names.
  A committed version whose folder never reached the remote (its writer stopped right after the commit)
  gets its manifest from the commit info.
* `push_version` uploads a version folder (manifest and pages) after its commit.

No catalog is shared: each machine's catalog is an index of its copy (`moshu catalog rebuild`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from pipelines.storage.delta import PUBLISHED, TABLES, history, in_table
from pipelines.storage.objects import find, get_file, join, put_file
from pipelines.warehouse import MANIFEST, Warehouse

__all__ = ["pull_all", "pull_dataset", "push_version", "remote_datasets"]

_LOG = "_delta_log"
_log = logging.getLogger(__name__)


def remote_datasets(warehouse: Warehouse) -> list[str]:
    """The datasets the remote warehouse has a `published` table for."""
    from pipelines.storage.objects import list_prefixes

    assert warehouse.remote is not None
    names = [p.rstrip("/").rsplit("/", 1)[-1] for p in list_prefixes(join(warehouse.remote, "datasets"))]
    return sorted(n for n in names if find(join(warehouse.remote, "datasets", n, PUBLISHED, _LOG)))


def _pull_log(warehouse: Warehouse, name: str, table: str) -> int:
    """Copy the table's log entries this folder lacks; how many."""
    t = warehouse.table(name, table)
    n = 0
    for rel, size in find(join(t.uri, _LOG)).items():
        local = t.local / _LOG / rel
        if local.is_file() and local.stat().st_size == size and not rel.startswith("_last_checkpoint"):
            continue
        get_file(join(t.uri, _LOG, rel), local)
        n += 1
    return n


def pull_dataset(warehouse: Warehouse, name: str, *, wait_s: float = 30.0) -> list[int]:
    """Bring one dataset of this folder up to date with the remote; the versions it did not hold before.

    The newest version's pages may still be on their way (its writer uploads them right after its commit):
    the pull waits for them up to `wait_s` seconds, then goes on without them (a later pull copies them).
    """
    deadline = time.monotonic() + wait_s
    new, waiting = _pull_once(warehouse, name)
    while waiting and time.monotonic() < deadline:
        time.sleep(0.5)
        more, waiting = _pull_once(warehouse, name)
        new += more
    if waiting:
        _log.warning("`%s`: %s pages of its newest version are not on the remote yet", name, waiting)
    return new


def _pull_once(warehouse: Warehouse, name: str) -> tuple[list[int], int]:
    assert warehouse.remote is not None
    for table in TABLES:
        _pull_log(warehouse, name, table)
    new, waiting = [], 0
    for c in history(warehouse.table_dir(name, PUBLISHED)):
        vdir = warehouse.version_dir(name, c.version)
        if not (vdir / MANIFEST).is_file():
            _pull_folder(warehouse, name, c.version)
            new.append(c.version)
        if not (vdir / MANIFEST).is_file() and c.manifest is not None:
            _write_manifest(vdir, c.manifest)
            _log.warning("`%s` v%s: its folder is not on the remote; manifest written from its commit", name, c.version)
        manifest = json.loads((vdir / MANIFEST).read_text(encoding="utf-8"))
        waiting = _pull_files(warehouse, vdir, manifest)  # only the newest version's count matters
    return new, waiting


def _write_manifest(vdir: Path, manifest: dict[str, Any]) -> None:
    vdir.mkdir(parents=True, exist_ok=True)
    tmp = vdir / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, vdir / MANIFEST)


def _pull_folder(warehouse: Warehouse, name: str, version: int) -> None:
    """Copy a version folder from the remote, its manifest last (a folder with a manifest is complete)."""
    assert warehouse.remote is not None
    uri = join(warehouse.remote, "datasets", name, f"v{version}")
    files = find(uri)
    vdir = warehouse.version_dir(name, version)
    for rel in sorted(files, key=lambda r: r == MANIFEST):
        get_file(join(uri, rel), vdir / rel)


def _pull_files(warehouse: Warehouse, vdir: Path, manifest: dict[str, Any]) -> int:
    """Copy the files the manifest names that this folder lacks; how many pages are not on the remote yet.

    Table files are uploaded before their commit, so they are always there. A version's pages are uploaded
    right after it: a pull in between finds them missing, and a later pull copies them.
    """
    assert warehouse.remote is not None
    waiting = 0
    for f in manifest.get("files", []):
        local = Path(os.path.normpath(vdir / str(f["path"])))
        if local.is_file():
            continue
        rel = Path(os.path.relpath(local, warehouse.root)).as_posix()
        try:
            get_file(join(warehouse.remote, rel), local)
        except FileNotFoundError:
            if in_table(str(f["path"])) is not None:
                raise
            waiting += 1
    return waiting


def push_version(warehouse: Warehouse, name: str, version: int) -> None:
    """Upload a committed version's folder (its pages, then its manifest) to the remote."""
    assert warehouse.remote is not None
    vdir = warehouse.version_dir(name, version)
    files = sorted((p for p in vdir.rglob("*") if p.is_file()), key=lambda p: p.name == MANIFEST)
    for p in files:
        put_file(p, join(warehouse.remote, "datasets", name, f"v{version}", p.relative_to(vdir).as_posix()))


def pull_all(warehouse: Warehouse) -> dict[str, list[int]]:
    """`pull_dataset` for every dataset of the remote; dataset -> the versions new here."""
    return {name: pull_dataset(warehouse, name) for name in remote_datasets(warehouse)}
