"""Open the catalog for writing, migrated, in a file format older DuckDB clients can read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from pipelines.cancel import interruptible
from pipelines.catalog.lock_wait import while_locked
from pipelines.catalog.migrations import migrate
from pipelines.errors import CatalogError
from pipelines.sql import literal
from pipelines.warehouse import Warehouse

# Files written in this storage format open in DuckDB 1.5.0 and newer (including duckdb-cli 1.5).
STORAGE_VERSION = "v1.5.0"
ALIAS = "moshu_catalog"


def _audit_head(con: duckdb.DuckDBPyConnection) -> int:
    """The audit log's last `seq` (0 when empty, -1 when the table is gone: `moshu verify` reports that)."""
    try:
        return int(con.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchall()[0][0])
    except duckdb.CatalogException:
        return -1


@contextmanager
def writer(warehouse: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated read-write connection to the catalog, held under the catalog's file lock.

    The catalog is this machine's index of the warehouse's Delta tables (`moshu catalog rebuild` recreates it);
    with a remote warehouse too, no catalog is shared between machines.
    """
    path = warehouse.catalog_path
    with warehouse.catalog_lock():
        con = duckdb.connect()
        try:
            con.execute(f"SET file_search_path = {literal(str(warehouse.root.resolve()))}")
            attach = f"ATTACH {literal(str(path))} AS {ALIAS} (STORAGE_VERSION {literal(STORAGE_VERSION)})"
            while_locked(lambda: con.execute(attach))  # a reader in another process holds DuckDB's file lock
            con.execute(f"USE {ALIAS}")
            migrate(con)
            before = _audit_head(con)
            with interruptible(con):  # a stop request interrupts a long catalog write
                yield con
            if _audit_head(con) != before:  # rows were appended: to the audit's Delta table (with any a stopped write left)
                from pipelines.storage.audit_table import export_audit

                export_audit(con, warehouse)
            con.execute("CHECKPOINT")
        except duckdb.Error as e:
            raise CatalogError(f"catalog `{path}`: {e}") from e
        finally:
            con.close()
