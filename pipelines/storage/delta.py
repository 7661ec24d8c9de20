"""The storage of record: each dataset's published rows and quarantine as two Delta Lake tables (delta-rs).

A moshu version is one commit of the dataset's `published` table whose commit info carries the version's
manifest (key `moshu`); the same version's quarantined rows are one commit of its `quarantine` table
(key `moshu_version`). moshu writes the Parquet files itself, inside the table folders, measures them
(counts, digests, X-1), and only then commits them: a run stopped before the commit leaves files no
commit names, and the table reads at its previous version. A rejected candidate is a commit with no
file actions: it takes its version number in the log, and the table's current state does not change.

Time partitions are Delta partitions (column `_partition`): a commit that rebuilt some partitions
replaces just those (`partition_filters` overwrite) and leaves the others' files untouched.

Concurrency is optimistic. The publisher reads the table's version, builds the new moshu version on
top of it, and commits with no automatic retry: if another writer committed in between, the commit
fails with `CommitConflict`, and the publisher builds again on the newer state (the partitions the other
writer rebuilt are then kept, identical inputs are found unchanged). Delta's conditional writes make
one of two racing commits win, on a local disk as on object storage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pipelines.errors import CommitConflict, IntegrityError

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

PUBLISHED = "published"
QUARANTINE = "quarantine"
TABLES = (PUBLISHED, QUARANTINE)
PARTITION = "_partition"  # the Delta partition column of a time-partitioned dataset: the partition's key
MANIFEST_KEY = "moshu"  # commit info key holding a version's manifest (published table)
VERSION_KEY = "moshu_version"  # commit info key naming the moshu version (both tables)


@dataclass(frozen=True)
class Table:
    """One of a dataset's Delta tables: its folder on this machine, and where the table of record lives.

    `local` is where moshu writes the files first and keeps its copy of the log; `uri` is the table of
    record: the same folder, or `s3://.../datasets/<name>/<table>` with a remote warehouse, where every
    commit is made (files uploaded first) and from which the local copy is refreshed (`storage.mirror`).
    """

    local: Path
    uri: str
    options: dict[str, str] | None = None

    @property
    def remote(self) -> bool:
        """Whether the table of record is on object storage."""
        return self.uri != str(self.local)

    @classmethod
    def at(cls, path: Path) -> Table:
        """A table on the local disk."""
        return cls(path, str(path))

    def mirror(self) -> Table:
        """The local copy of the table (the same table when it is local)."""
        return Table.at(self.local)


def as_table(where: Table | Path) -> Table:
    """`where` as a `Table` (a path is a local table)."""
    return where if isinstance(where, Table) else Table.at(where)


def in_table(rel: str) -> tuple[str, str] | None:
    """(`published` | `quarantine`, path inside that table) for a manifest file path that names a table file
    (`../published/v3/part-00000.parquet`), else None (a file of the version folder itself)."""
    parts = PurePosixPath(rel).parts
    if len(parts) >= 3 and parts[0] == ".." and parts[1] in TABLES and ".." not in parts[2:]:
        return parts[1], PurePosixPath(*parts[2:]).as_posix()
    return None


def of_table(rel: str, table: str) -> bool:
    """Whether a manifest file path names a file of `table`."""
    where = in_table(rel)
    return where is not None and where[0] == table


def partition_of(inner: str) -> str | None:
    """The partition key of a file inside a partitioned table (`_partition=<key>/...`), else None."""
    head = PurePosixPath(inner).parts[0]
    return head.split("=", 1)[1] if head.startswith(f"{PARTITION}=") else None


def table_rel(table: str, inner: str) -> str:
    """The manifest path (relative to the version folder) of a file at `inner` inside a table."""
    return f"../{table}/{inner}"


def open_table(where: Table | Path, version: int | None = None) -> DeltaTable | None:
    """The Delta table (at `version` if given), or None when there is none yet."""
    from deltalake import DeltaTable

    t = as_table(where)
    if not DeltaTable.is_deltatable(t.uri, storage_options=t.options):
        return None
    return DeltaTable(t.uri, version=version, storage_options=t.options)


def current_version(where: Table | Path) -> int | None:
    """The table's latest Delta version, or None when there is no table yet."""
    t = open_table(where)
    return None if t is None else t.version()


def delta_schema(schema: pa.Schema, partitioned: bool) -> pa.Schema:
    """The table schema for files of `schema`: Delta has no unsigned integers, so each unsigned column is declared
    as the next wider signed type (every reader widens the file's values safely); plus `_partition` if partitioned."""
    import pyarrow as pa

    wider = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64(), pa.uint64(): pa.int64()}
    fields = [f.with_type(wider.get(f.type, f.type)) for f in schema]
    if partitioned:
        fields.append(pa.field(PARTITION, pa.string()))
    return pa.schema(fields)


@dataclass(frozen=True)
class TableFile:
    """A file moshu wrote inside a table: its path in the table, size, rows and partition key (or None)."""

    path: str
    size: int
    rows: int
    partition: str | None = None


def _add(root: Path, f: TableFile) -> Any:
    from deltalake.transaction import AddAction

    st = os.stat(root / f.path)  # the file as written on this machine (uploaded unchanged to a remote table)
    values = {PARTITION: f.partition} if f.partition is not None else {}
    return AddAction(f.path, f.size, values, int(st.st_mtime * 1000), True, json.dumps({"numRecords": f.rows}))


def commit(
    where: Table | Path,
    files: list[TableFile],
    *,
    read_version: int | None,
    metadata: dict[str, Any],
    partitions: Iterable[str] | None = None,
    add: bool = True,
) -> int:
    """Commit `files` to the table at `path` as one Delta commit on top of `read_version`; its Delta version.

    `partitions`: the keys this commit replaces (a partitioned table); None replaces the whole table.
    `add=False` commits no file actions (a rejected candidate: it is numbered in the log, the state does not
    change). With no table yet (`read_version` None) the first commit creates it. With a remote table the
    files must be at its location already (`upload`).

    Raises:
        CommitConflict: another writer committed after `read_version` (or created the table first).
    """
    from deltalake import CommitProperties, Schema
    from deltalake.exceptions import CommitFailedError, DeltaError
    from deltalake.transaction import create_table_with_add_actions

    t = as_table(where)
    path = t.local
    partitioned = partitions is not None
    props = CommitProperties(custom_metadata=metadata, max_commit_retries=0)
    actions = [_add(path, f) for f in files] if add else []
    schema = _schema_of(path, files, partitioned)
    by = [PARTITION] if partitioned else None
    try:
        if read_version is None:
            path.mkdir(parents=True, exist_ok=True)
            create_table_with_add_actions(
                t.uri, Schema.from_arrow(schema), actions, mode="error", partition_by=by, storage_options=t.options,
                commit_properties=props,
            )  # fmt: skip
            return 0
        table = open_table(t, read_version)
        if table is None:
            raise IntegrityError(f"the Delta table `{t.uri}` read at version {read_version} is gone; run `moshu verify`")
        if not add:
            table.create_write_transaction([], "append", table.schema(), partition_by=by, commit_properties=props)
        elif partitioned:
            keys = sorted(set(partitions or ()))
            table.create_write_transaction(
                actions,
                "overwrite",
                schema,
                partition_by=by,
                partition_filters=[(PARTITION, "in", keys)],
                commit_properties=props,
            )
        else:
            table.create_write_transaction(actions, "overwrite", schema, commit_properties=props)
    except CommitFailedError as e:
        raise CommitConflict(f"the table `{t.uri}` changed after version {read_version} was read: {e}") from e
    except DeltaError as e:
        if read_version is None and "already exists" in str(e):
            raise CommitConflict(f"the table `{t.uri}` was created by another writer first") from e
        raise
    return read_version + 1  # no retries: the commit is the one right after the version it was built on


def _schema_of(path: Path, files: list[TableFile], partitioned: bool) -> pa.Schema:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in files:
        try:
            return delta_schema(pq.read_schema(path / f.path), partitioned)
        except (OSError, pa.ArrowInvalid):  # a damaged file (its version is a rejected candidate, X-1 says why)
            continue
    lineage = [pa.field("_source_file", pa.string()), pa.field("_source_row", pa.int64())]  # no file reads back
    return pa.schema([*lineage, pa.field(PARTITION, pa.string())] if partitioned else lineage)


def upload(where: Table, files: list[TableFile]) -> None:
    """Put files written on this machine at the remote table's location (nothing to do for a local table).

    Files no commit names are harmless: no reader looks at a file the log does not list.
    """
    if not where.remote:
        return
    from pipelines.storage.objects import join, put_file

    for f in files:
        put_file(where.local / f.path, join(where.uri, f.path))


@dataclass(frozen=True)
class Commit:
    """One moshu commit of a table: its Delta version, moshu version, and (published table) manifest."""

    delta_version: int
    version: int
    manifest: dict[str, Any] | None


def history(where: Table | Path, *, manifests: bool = True) -> list[Commit]:
    """Every moshu commit of the table, oldest first (commits by other tools, e.g. `optimize`, left out);
    `manifests=False` leaves each commit's manifest unparsed (None), for callers that need only the numbers."""
    t = open_table(where)
    if t is None:
        return []
    out = []
    for h in t.history():
        if VERSION_KEY not in h:
            continue
        raw = h.get(MANIFEST_KEY) if manifests else None
        manifest = json.loads(raw) if isinstance(raw, str) else raw
        out.append(Commit(int(h["version"]), int(h[VERSION_KEY]), manifest))
    return sorted(out, key=lambda c: c.delta_version)


def files_at(where: Table | Path, delta_version: int) -> list[str]:
    """The paths (inside the table) of the files of the table's state at `delta_version`, sorted."""
    from urllib.parse import unquote

    import pyarrow as pa

    t = open_table(where, delta_version)
    if t is None:
        return []
    paths = pa.table(t.get_add_actions(flatten=True)).column("path").to_pylist()  # as the log records them
    return sorted(unquote(str(p)) for p in paths)


def commit_metadata(version: int, manifest: dict[str, Any] | None) -> dict[str, Any]:
    """The commit info moshu adds to a commit: the version number, and the manifest on the published table."""
    meta: dict[str, Any] = {VERSION_KEY: version}
    if manifest is not None:
        meta[MANIFEST_KEY] = json.dumps(manifest, ensure_ascii=False, sort_keys=True)
    return meta


def table_files(manifest: dict[str, Any], table: str) -> list[dict[str, Any]]:
    """The manifest's file entries that lie in `table`, each with `inner` (its path inside the table) added."""
    out = []
    for f in manifest.get("files", []):
        where = in_table(str(f.get("path", "")))
        if where and where[0] == table:
            out.append({**f, "inner": where[1]})
    return out
