"""`moshu catalog rebuild`: recreate the DuckDB catalog from the Delta tables, the index it is.

Every dataset folder with a `published` Delta table is read from its commit history: each commit of a
moshu version carries its manifest, from which the version is registered as a run would have
(`register_version`: versions, columns, rules, measures, files and the per-version views), with a
`runs` row (orchestrator `rebuild`). Commits whose version folder is gone first get their manifest
written back (`pipelines.governance.repair_delta`). The audit log comes back from its own Delta table
(`pipelines.storage.audit_table`) with its hash chain intact; where there is none, each version's
`publish` and `gate` rows are recorded anew. What people sent and no table holds (feedback, model
registrations, the access policy in force, frozen evaluation sets) is copied from the old catalog when
there is one.

The new catalog is written beside the old one and renamed over it in one step, under the catalog lock.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipelines.storage.delta import PUBLISHED, history
from pipelines.warehouse import Warehouse

__all__ = ["Rebuilt", "rebuild_catalog"]

# Tables that hold what people sent, not what the tables say: carried over from the old catalog as they are.
KEPT_TABLES = (
    "feedback",
    "feedback_reviews",
    "model_runs",
    "model_metrics",
    "access_policies",
    "frozen_evals",
    "version_diffs",
    "demands",
    "demand_gaps",
    "demand_counts",
    "splits",
)
_log = logging.getLogger(__name__)


@dataclass
class Rebuilt:
    """What `rebuild_catalog` did."""

    datasets: list[str] = field(default_factory=list)
    versions: int = 0
    audit_rows: int = 0
    audit_from_table: bool = False
    kept: dict[str, int] = field(default_factory=dict)  # table -> rows copied from the old catalog
    restored: list[str] = field(default_factory=list)  # what `restore_committed` did first


def _tabled(warehouse: Warehouse) -> list[str]:
    root = warehouse.root / "datasets"
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if (d / PUBLISHED / "_delta_log").is_dir())


@contextmanager
def _fresh(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    from pipelines.catalog.db import ALIAS, STORAGE_VERSION
    from pipelines.catalog.migrations import migrate
    from pipelines.sql import literal

    con = duckdb.connect()
    try:
        con.execute(f"SET file_search_path = {literal(str(path.parent.resolve()))}")
        con.execute(f"ATTACH {literal(str(path))} AS {ALIAS} (STORAGE_VERSION {literal(STORAGE_VERSION)})")
        con.execute(f"USE {ALIAS}")
        migrate(con)
        yield con
        con.execute("CHECKPOINT")
    finally:
        con.close()


def rebuild_catalog(warehouse: Warehouse, datasets: dict[str, Any] | None = None) -> Rebuilt:
    """Recreate `warehouse`'s catalog from its Delta tables (see the module docstring).

    Args:
        warehouse: The warehouse.
        datasets: The project's loaded specs by name (`LoadedDataset`), for the `datasets` rows and demands;
            a dataset with tables and no spec gets its row from its latest manifest.

    Returns:
        What was rebuilt.
    """
    from pipelines.governance.repair_delta import restore_committed
    from pipelines.storage.audit_table import restore_audit

    out = Rebuilt()
    names = _tabled(warehouse)
    for name in names:
        with warehouse.dataset_lock(name):
            out.restored += restore_committed(warehouse, name)
    target = warehouse.catalog_path
    tmp = target.with_name(f".{target.name}.rebuild-{uuid.uuid4().hex[:8]}")
    with warehouse.catalog_lock():
        try:
            with _fresh(tmp) as con:
                if target.is_file():
                    out.kept = _carry_over(con, target)
                restored = restore_audit(con, warehouse)
                out.audit_from_table = restored is not None
                for name in names:
                    out.versions += _register_dataset(con, warehouse, name, (datasets or {}).get(name), audit=restored is None)
                    out.datasets.append(name)
                out.audit_rows = int(con.execute("SELECT count(*) FROM audit_log").fetchall()[0][0])
            _swap(warehouse, tmp, target)
        finally:
            for p in (tmp, tmp.with_name(tmp.name + ".wal"), tmp.with_name(tmp.name + ".audit-tail.json")):
                p.unlink(missing_ok=True)
    from pipelines.catalog.db import writer
    from pipelines.governance.audit import reseal

    with writer(warehouse) as con:  # the new log's last row is sealed beside the new catalog
        reseal(con)
    return out


def _carry_over(con: duckdb.DuckDBPyConnection, old: Path) -> dict[str, int]:
    from pipelines.sql import literal

    kept: dict[str, int] = {}
    try:
        con.execute(f"ATTACH {literal(str(old))} AS old_catalog (READ_ONLY)")
    except duckdb.Error as e:  # an unreadable old catalog: rebuilding is how to get a good one back
        _log.warning("the old catalog cannot be read, nothing is carried over from it: %s", e)
        return kept
    try:
        have = {
            r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'old_catalog'").fetchall()
        }
        for table in KEPT_TABLES:
            if table in have:
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM old_catalog.main.{table}")
                kept[table] = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
    finally:
        con.execute("DETACH old_catalog")
    return kept


def _register_dataset(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, name: str, loaded: Any, *, audit: bool) -> int:
    from pipelines.stages.publish import published_of
    from pipelines.stages.register import audit_publish, insert_run, refresh_latest_view, register_version, upsert_dataset

    commits = [c for c in history(warehouse.table_dir(name, PUBLISHED)) if c.manifest is not None]
    done = 0
    con.execute("BEGIN TRANSACTION")
    if loaded is not None:
        upsert_dataset(con, loaded, loaded.spec_path.parent.parent)
    elif commits:
        _dataset_row_from(con, name, commits[-1].manifest or {})
    for c in commits:
        m = c.manifest or {}
        if not warehouse.version_dir(name, c.version).is_dir():
            continue
        register_version(con, warehouse, name, c.version)
        pub = published_of(warehouse, name, c.version, str(m.get("run_id") or f"rebuild-{name}-v{c.version}"), created=True)
        if audit:
            audit_publish(con, warehouse, name, pub)
        message = f"v{c.version} {pub.status}, level {pub.level}; registered from the Delta log by `moshu catalog rebuild`"
        insert_run(con, pub.run_id, name, m.get("created_at"), pub.status, c.version, pub.rows_in, message, "rebuild")
        done += 1
    refresh_latest_view(con, name)
    con.execute("COMMIT")
    return done


def _dataset_row_from(con: duckdb.DuckDBPyConnection, name: str, m: dict[str, Any]) -> None:
    """A `datasets` row for a dataset whose spec the project does not hold, from its latest manifest."""
    import json

    c = m.get("classification") or {}
    con.execute("DELETE FROM datasets WHERE name = ?", [name])
    row = {
        "name": name, "title": name, "synthetic": m.get("synthetic") is not None, "primary_key": m.get("primary_key") or [],
        "grade": c.get("grade"), "domain": c.get("domain"), "cdo": c.get("cdo"), "retention": c.get("retention"),
        "derived_from": c.get("derived_from") or [], "classification": json.dumps(c, ensure_ascii=False),
        "spec_metadata_hash": m.get("spec_metadata_hash"),
    }  # fmt: skip
    con.execute(f"INSERT INTO datasets ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def _swap(warehouse: Warehouse, tmp: Path, target: Path) -> None:
    """Put the new catalog in place; the old audit tail seal goes with the old catalog."""
    from pipelines.governance.audit import TAIL_FILE

    os.replace(tmp, target)
    (warehouse.root / TAIL_FILE).unlink(missing_ok=True)
