"""Commit a version, written and measured, to its dataset's two Delta tables (`pipelines.storage.delta`).

The `published` table's commit is the version's commit of record: it takes the version number (failing
with `CommitConflict` if another writer committed first) and carries the manifest. The `quarantine`
table's commit follows, naming the same version; should a run stop between the two, `moshu verify`
reports the missing one and `moshu verify --repair` commits it from the manifest's file list.
"""

from __future__ import annotations

from typing import Any

from pipelines.storage.delta import (
    PUBLISHED,
    QUARANTINE,
    CommitConflict,
    Table,
    TableFile,
    commit,
    commit_metadata,
    current_version,
    files_at,
    history,
    partition_of,
    table_files,
    upload,
)
from pipelines.warehouse import Warehouse

_QUARANTINE_ATTEMPTS = 8


def wanted(manifest: dict[str, Any], table: str) -> list[TableFile]:
    """The files the version's manifest places in `table`."""
    return [
        TableFile(f["inner"], int(f["bytes"]), int(f.get("rows") or 0), partition_of(f["inner"]))
        for f in table_files(manifest, table)
    ]


def _replaced(root: Table, files: list[TableFile], read_version: int | None) -> list[str] | None:
    """For a partitioned version, the partition keys whose files differ from the table's state at `read_version`
    (those the commit replaces); None for a table without partitions."""
    if not files or files[0].partition is None:
        return None
    want: dict[str, set[str]] = {}
    for f in files:
        want.setdefault(str(f.partition), set()).add(f.path)
    have: dict[str, set[str]] = {}
    for path in files_at(root, read_version) if read_version is not None else []:
        have.setdefault(str(partition_of(path)), set()).add(path)
    return sorted(k for k in set(want) | set(have) if want.get(k, set()) != have.get(k, set()))


def commit_table(warehouse: Warehouse, name: str, table: str, manifest: dict[str, Any], read_version: int | None) -> int:
    """Commit the version's files of one table on top of `read_version`; the new Delta version.

    A published version's commit makes the table's state exactly the manifest's files of that table; a
    rejected candidate's commit changes no file (it is numbered in the log, its files stay where it wrote
    them, named by its manifest only).

    Raises:
        CommitConflict: another writer committed after `read_version`.
    """
    root = warehouse.table(name, table)
    files = wanted(manifest, table)
    add = manifest.get("status", "published") == "published"
    keys = _replaced(root, files, read_version)
    meta = commit_metadata(int(manifest["version"]), manifest if table == PUBLISHED else None)
    return commit(root, files, read_version=read_version, metadata=meta, partitions=keys, add=add)


def commit_version(warehouse: Warehouse, name: str, manifest: dict[str, Any], read_version: int | None) -> int:
    """Commit a version: `commit_record`, then the `quarantine` table on top of its newest state; the published
    commit's Delta version.

    Raises:
        CommitConflict: another writer committed to the published table after `read_version`.
    """
    delta_version = commit_record(warehouse, name, manifest, read_version)
    commit_quarantine(warehouse, name, manifest)
    return delta_version


def commit_record(warehouse: Warehouse, name: str, manifest: dict[str, Any], read_version: int | None) -> int:
    """The version's commit of record: the `published` table on top of `read_version`, carrying the manifest. With a
    remote warehouse the files of both tables are uploaded first, once, so every machine that sees the commit finds
    all of the version's files (an upload no commit names is harmless: no reader looks at it).

    Raises:
        CommitConflict: another writer committed to the published table after `read_version`.
    """
    for table in (QUARANTINE, PUBLISHED):
        upload(warehouse.table(name, table), wanted(manifest, table))
    return commit_table(warehouse, name, PUBLISHED, manifest, read_version)


def landed(warehouse: Warehouse, name: str, manifest: dict[str, Any]) -> bool:
    """Whether the published table's log holds this very manifest's commit (a commit whose reply was lost)."""
    try:
        return any(c.manifest == manifest for c in history(warehouse.table(name, PUBLISHED)) if c.version == manifest["version"])
    except Exception:  # the table cannot be read: the commit is not known to have landed
        return False


def commit_quarantine(warehouse: Warehouse, name: str, manifest: dict[str, Any]) -> None:
    """Commit the version's quarantine files unless a later version's quarantine is committed already (a later
    version's state must not be replaced by an earlier one's)."""
    root = warehouse.table(name, QUARANTINE)
    version = int(manifest["version"])
    for _ in range(_QUARANTINE_ATTEMPTS):
        read = current_version(root)
        done = [c.version for c in history(root, manifests=False)] if read is not None else []
        if version in done or (done and max(done) > version):
            return
        try:
            commit_table(warehouse, name, QUARANTINE, manifest, read)
            return
        except CommitConflict:
            continue
    raise CommitConflict(f"dataset `{name}`: the quarantine table kept changing; run `moshu verify --repair`")
