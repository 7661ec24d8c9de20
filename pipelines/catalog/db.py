"""Open the catalog for writing, migrated, in a file format older DuckDB clients can read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from filelock import FileLock

from pipelines.catalog.migrations import migrate
from pipelines.errors import CatalogError
from pipelines.sql import literal
from pipelines.warehouse import Warehouse

# Files written in this storage format open in DuckDB 1.5.0 and newer (including duckdb-cli 1.5).
STORAGE_VERSION = "v1.5.0"
ALIAS = "moshu_catalog"


LOCK_WAIT_S = 30.0


def _attach(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Attach the catalog read-write, waiting while another process has it open (a reader holds DuckDB's file lock)."""
    delay, waited = 0.05, 0.0
    while True:
        try:
            con.execute(f"ATTACH {literal(str(path))} AS {ALIAS} (STORAGE_VERSION {literal(STORAGE_VERSION)})")
            return
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or waited >= LOCK_WAIT_S:
                raise
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 1.0)


@contextmanager
def writer(warehouse: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated read-write connection to the catalog, held under the catalog's file lock."""
    warehouse.root.mkdir(parents=True, exist_ok=True)
    path = warehouse.catalog_path
    with FileLock(str(path) + ".lock"):
        con = duckdb.connect()
        try:
            con.execute(f"SET file_search_path = {literal(str(warehouse.root.resolve()))}")
            _attach(con, path)
            con.execute(f"USE {ALIAS}")
            migrate(con)
            yield con
            con.execute("CHECKPOINT")
        except duckdb.Error as e:
            raise CatalogError(f"catalog `{path}`: {e}") from e
        finally:
            con.close()
