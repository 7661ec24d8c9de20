"""`moshu migrate`: move a warehouse written before the Delta tables into them, keeping every version's number,
data hash and file hashes.

A version folder of manifest format 2 holds its rows in `data/*.parquet` and `quarantine*.parquet`. For each
dataset, oldest version first, `migrate_dataset`:

1. moves each data and quarantine file into the dataset's `published` / `quarantine` table folder (a rename: the
   bytes, hence the sha256, rows and content digest the manifest records, are unchanged). A partition a version
   kept from an earlier one (a hard link of the same bytes) is not moved again: the version names the earlier
   version's file in the table, after its sha256 is checked to be the same;
2. rewrites the manifest's file paths (`../published/...`), sets `manifest_format` 3 and records what it was
   (`migrated_from`: the old manifest's sha256 and format);
3. commits the version to both tables (its manifest in the commit info), as a run would have;
4. registers the version in the catalog again and appends a `migrate` audit row linking the old manifest's
   sha256 to the new one (`moshu verify` follows the link).

A dataset whose tables already exist is skipped. Migrating is idempotent per version: a version already
committed is left alone, so a migration that stopped can be run again.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.errors import IntegrityError
from pipelines.ingest.fingerprint import sha256_file
from pipelines.storage.commit import commit_version
from pipelines.storage.delta import PARTITION, PUBLISHED, QUARANTINE, current_version, history, table_rel
from pipelines.warehouse import MANIFEST, Warehouse

__all__ = ["Migrated", "migrate_warehouse"]

_log = logging.getLogger(__name__)


@dataclass
class Migrated:
    """What `migrate_warehouse` did, per dataset: the versions moved into the tables."""

    versions: dict[str, list[int]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # dataset -> why


def _legacy_files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        f for f in manifest.get("files", [])
        if str(f["path"]).startswith("data/") or (str(f["path"]).startswith("quarantine") and str(f["path"]).endswith(".parquet"))
    ]  # fmt: skip


def migrate_warehouse(warehouse: Warehouse, dataset: str | None = None) -> Migrated:
    """Migrate every dataset of the warehouse (or one) into Delta tables; see the module docstring."""
    out = Migrated()
    root = warehouse.root / "datasets"
    names = sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    for name in names if dataset is None else [dataset]:
        versions = warehouse.versions(name)
        if not versions:
            out.skipped[name] = "no versions"
            continue
        with warehouse.dataset_lock(name):
            done = migrate_dataset(warehouse, name)
        if done:
            out.versions[name] = done
        else:
            out.skipped[name] = "already in Delta tables"
    return out


def migrate_dataset(warehouse: Warehouse, name: str) -> list[int]:
    """Move one dataset's legacy versions into its tables, oldest first (caller holds the dataset's lock)."""
    committed = {c.version for c in history(warehouse.table_dir(name, PUBLISHED))}
    placed: dict[tuple[str, str], tuple[str, str]] = {}  # (table, partition file name) -> (table path, sha256)
    done = []
    for v in warehouse.versions(name):
        manifest = warehouse.manifest(name, v)
        legacy = _legacy_files(manifest)
        if v in committed:
            continue
        if not legacy:
            if int(manifest.get("manifest_format", 2)) >= 3:
                raise IntegrityError(
                    f"dataset `{name}` v{v} is in the new format but not committed to its Delta table; run `moshu verify --repair`"
                )
            continue
        new = _moved(warehouse, name, v, manifest, legacy, placed)
        commit_version(warehouse, name, new, current_version(warehouse.table_dir(name, PUBLISHED)))
        _register(warehouse, name, v, manifest_sha=new["migrated_from"]["manifest_sha256"])
        done.append(v)
        _log.info("migrated `%s` v%s into its Delta tables", name, v)
    return done


def _moved(
    warehouse: Warehouse, name: str, v: int, manifest: dict[str, Any], legacy: list[dict[str, Any]],
    placed: dict[tuple[str, str], tuple[str, str]],
) -> dict[str, Any]:  # fmt: skip
    """Move the version's legacy files into the tables and write its new manifest; the new manifest."""
    vdir = warehouse.version_dir(name, v)
    old_sha = sha256_file(vdir / MANIFEST)
    renamed: dict[str, str] = {}
    for f in legacy:
        rel = str(f["path"])
        table = PUBLISHED if rel.startswith("data/") else QUARANTINE
        base = Path(rel).name
        key = _partition_key(manifest, rel)
        if key is not None and (table, base) in placed and placed[(table, base)][1] == f["sha256"]:
            renamed[rel] = placed[(table, base)][0]  # a partition kept from an earlier version: the same bytes
            (vdir / rel).unlink(missing_ok=True)
            continue
        inner = f"v{v}/{base}" if key is None else f"{PARTITION}={key}/v{v}-{base}"
        dst = warehouse.table_dir(name, table) / inner
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(vdir / rel, dst)
        renamed[rel] = table_rel(table, inner)
        if key is not None:
            placed[(table, base)] = (renamed[rel], str(f["sha256"]))
    data_dir = vdir / "data"
    if data_dir.is_dir() and not any(data_dir.iterdir()):
        data_dir.rmdir()
    new = json.loads(json.dumps(manifest))
    for f in new.get("files", []):
        f["path"] = renamed.get(f["path"], f["path"])
    for p in new.get("partitions") or []:
        for f in p.get("files", []):
            f["path"] = renamed.get(f["path"], f["path"])
    new["manifest_format"] = 3
    new["migrated_from"] = {"manifest_sha256": old_sha, "manifest_format": manifest.get("manifest_format", 1)}
    tmp = vdir / f".{MANIFEST}.migrate"
    tmp.write_text(json.dumps(new, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, vdir / MANIFEST)
    return new


def _partition_key(manifest: dict[str, Any], rel: str) -> str | None:
    """The partition tag of a legacy partition file (`data/part-<tag>.parquet`, `quarantine-<tag>.parquet`)."""
    if not manifest.get("partitions"):
        return None
    stem = Path(rel).stem
    return stem.split("-", 1)[1] if "-" in stem else None


def _register(warehouse: Warehouse, name: str, v: int, manifest_sha: str) -> None:
    """Register the migrated version again and link the old manifest to the new one in the audit log."""
    if not warehouse.catalog_path.is_file():
        return
    from pipelines.catalog.db import writer
    from pipelines.governance.audit import current_actor, record
    from pipelines.stages.register import refresh_latest_view, register_version

    with writer(warehouse) as con:
        if not con.execute("SELECT 1 FROM versions WHERE name = ? AND version = ?", [name, v]).fetchall():
            return  # not registered yet: `moshu verify --repair` registers it from its (new) manifest
        con.execute("BEGIN TRANSACTION")
        register_version(con, warehouse, name, v)
        new_sha = sha256_file(warehouse.version_dir(name, v) / MANIFEST)
        record(con, actor=current_actor(), action="migrate", object=f"{name}@{v}", decision="ok",
               detail={"from_manifest_sha256": manifest_sha, "manifest_sha256": new_sha})  # fmt: skip
        refresh_latest_view(con, name)
        con.execute("COMMIT")
