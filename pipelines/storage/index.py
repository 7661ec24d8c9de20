"""The catalog's index of the Delta tables: each version's files, its commits, and one view per version.

`version_files` lists every file of a version (relative to the warehouse), and the schemas `version_data` and
`version_quarantine` hold a view per version (`"<name>@<version>"`) over exactly those files with plain
`read_parquet`, which the `dataset()`, `quarantine()` and `split()` macros reach with `query_table`: any stock
DuckDB reads any version through the catalog, with no extension.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb

from pipelines.sql import ident, literal
from pipelines.storage.delta import PUBLISHED, QUARANTINE, history
from pipelines.warehouse import Warehouse

VIEW_SCHEMA = {PUBLISHED: "version_data", QUARANTINE: "version_quarantine"}


def version_view(name: str, version: int, table: str = PUBLISHED) -> str:
    """The qualified name of the view of one version's published (or quarantined) rows."""
    return f"{VIEW_SCHEMA[table]}.{ident(f'{name}@{version}')}"


def _relative(warehouse: Warehouse, path: str) -> str:
    return Path(os.path.relpath(path, warehouse.root)).as_posix()


def register_files(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, name: str, version: int) -> None:
    """(Re)write the version's `version_files` rows and its two views, from its manifest."""
    con.execute("DELETE FROM version_files WHERE name = ? AND version = ?", [name, version])
    listed = {_relative(warehouse, str(warehouse.version_dir(name, version) / f["path"])): f
              for f in warehouse.manifest(name, version).get("files", [])}  # fmt: skip
    for table, files in (
        (PUBLISHED, warehouse.data_files(name, version)),
        (QUARANTINE, warehouse.quarantine_files(name, version)),
    ):
        rel = [_relative(warehouse, f) for f in files]
        con.executemany(
            "INSERT INTO version_files VALUES (?, ?, ?, ?, ?, ?, ?)",
            [[name, version, table, r, listed.get(r, {}).get("bytes"), listed.get(r, {}).get("rows"),
              listed.get(r, {}).get("sha256")] for r in rel],
        )  # fmt: skip
        view = version_view(name, version, table)
        con.execute(f"DROP VIEW IF EXISTS {view}")
        if not rel:
            continue
        if (bad := _unreadable(warehouse, rel)) is not None:  # X-1 rejected the version and says why: no view
            logging.getLogger(__name__).warning("`%s` v%s: no view of its %s files: %s", name, version, table, bad)
            continue
        paths = "[" + ", ".join(literal(r) for r in rel) + "]"
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet({paths}, hive_partitioning = false)")


def _unreadable(warehouse: Warehouse, rel: list[str]) -> str | None:
    """Why one of the files has no schema DuckDB could read (creating the view reads it), or None."""
    import pyarrow.parquet as pq

    for r in rel:
        try:
            pq.read_schema(warehouse.root / r)
        except Exception as e:  # missing, truncated or not Parquet: a failed statement would end the transaction
            return f"{r}: {e}"
    return None


def delta_versions(warehouse: Warehouse, name: str, version: int) -> dict[str, int]:
    """The Delta versions of the version's commits, per table (a table without that commit is left out)."""
    out = {}
    for table in (PUBLISHED, QUARANTINE):
        for c in history(warehouse.table_dir(name, table), manifests=False):
            if c.version == version:
                out[table] = c.delta_version
    return out
