"""The audit log's store of record: an append-only Delta table (`<warehouse>/audit_log`, `delta.appendOnly`).

The catalog's `audit_log` table is where rows are chained and appended (`pipelines.governance.audit`);
every catalog write that added rows then appends them, unchanged (hash chain included), to this table,
whose commits say the last `seq` they hold (a write that added none does not open the table). `moshu catalog rebuild` reads the rows back, so a rebuilt
catalog has the same chain, which `moshu verify` checks as before. A write stopped between the catalog's
commit and the append leaves the rows in the catalog; the next catalog write that adds rows appends them too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pipelines.warehouse import Warehouse

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["AUDIT_TABLE", "export_audit", "restore_audit"]

AUDIT_TABLE = "audit_log"
SEQ_KEY = "moshu_audit_seq"
_COLUMNS = ("seq", "logged_at", "actor", "role", "action", "object", "decision", "detail", "prev_hash", "hash")


def _path(warehouse: Warehouse) -> Path:
    return warehouse.root / AUDIT_TABLE


def _exported(path: Path) -> int:
    """The last `seq` the table holds (from its newest commit's info), 0 for no table."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(str(path)):
        return 0
    for h in DeltaTable(str(path)).history(limit=1):
        if SEQ_KEY in h:
            return int(h[SEQ_KEY])
    return int(max(DeltaTable(str(path)).to_pyarrow_table(columns=["seq"]).column("seq").to_pylist(), default=0))


def export_audit(con: duckdb.DuckDBPyConnection, warehouse: Warehouse) -> int:
    """Append the catalog's audit rows the table does not hold yet; how many were appended."""
    try:
        row = con.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchall()
    except duckdb.CatalogException:  # a catalog without the audit log (migration 0004 not applied)
        return 0
    newest = int(row[0][0])
    path = _path(warehouse)
    done = _exported(path) if newest else 0
    if newest <= done:
        return 0
    from deltalake import CommitProperties, write_deltalake

    cols = ", ".join(f'"{c}"' for c in _COLUMNS)
    rows: pa.Table = con.sql(f"SELECT {cols} FROM audit_log WHERE seq > {int(done)} ORDER BY seq").to_arrow_table()
    write_deltalake(
        str(path), rows, mode="append", configuration={"delta.appendOnly": "true"},
        commit_properties=CommitProperties(custom_metadata={SEQ_KEY: newest}),
    )  # fmt: skip
    return rows.num_rows


def restore_audit(con: duckdb.DuckDBPyConnection, warehouse: Warehouse) -> int | None:
    """Insert the table's rows into an empty catalog's `audit_log`; how many, or None when there is no table.

    A row appended twice (a write that was retried) is kept once.
    """
    from deltalake import DeltaTable

    path = _path(warehouse)
    if not DeltaTable.is_deltatable(str(path)):
        return None
    table = DeltaTable(str(path)).to_pyarrow_table()
    con.register("_audit_rows", table)
    try:
        cols = ", ".join(f'"{c}"' for c in _COLUMNS)
        con.execute(
            f"INSERT INTO audit_log ({cols}) SELECT {cols} FROM _audit_rows QUALIFY row_number() OVER (PARTITION BY seq) = 1"
        )
    finally:
        con.unregister("_audit_rows")
    return table.num_rows
