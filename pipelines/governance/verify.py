"""Tamper evidence: check every published version on disk against its manifest, the catalog and the audit log.

What `verify` proves, version by version:

1. `manifest.json` parses, its sha256 is the `versions.manifest_sha256` recorded when the version
   was registered (so an edited manifest is caught even when the files it lists were re-hashed to
   match), that sha256 is the one the audit log's `publish` row recorded, and its `data_hash` is the
   catalog's;
2. every file the manifest lists exists with its recorded sha256 and size, and the folder holds no
   file the manifest does not list;
3. the catalog's rows of the version (`versions`, `source_files`, `columns` with their sensitivity,
   `rule_results`, `measures`, `quarantine_summary`, profiles, ...) are the rows its manifest registers
   (`verify_catalog`), and the run that wrote it has its `runs` row;
4. the derived files (split assignments and the catalog's split counts, cards, model pages) are what
   the catalog and the data give (`verify_derived`);
5. every version folder has a catalog row and every catalog row a folder;

and, once for the whole warehouse, that the audit log's hash chain is intact and ends at the tail
sealed beside the catalog (`catalog.duckdb.audit-tail.json`), and that no run left orphan staging or
temporary folders (`repair`). Every check runs on its own: a damaged input is a problem in the report, never
a traceback. The catalog is only read.

Example:
    >>> report = verify(Warehouse(Path("warehouse")), "ai4i2020")                        # doctest: +SKIP
    >>> report.ok, [p.render() for p in report.problems]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from pipelines.catalog.client import CatalogClient
from pipelines.errors import CatalogError, MoshuError, NotFoundError
from pipelines.governance.audit import TAIL_FILE, chain_problems, tail_problems
from pipelines.governance.findings import AUDIT_LOG, CATALOG, ORPHANS, Ctx, Problem, Report
from pipelines.governance.verify_catalog import CatalogRows, check_publish_record, check_run_row
from pipelines.governance.verify_delta import check_tables
from pipelines.governance.verify_derived import check_derived
from pipelines.ingest.fingerprint import sha256_file
from pipelines.storage.delta import in_table
from pipelines.warehouse import MANIFEST, Warehouse, version_number

__all__ = ["AUDIT_LOG", "CATALOG", "ORPHANS", "Problem", "Report", "folder_problems", "verify"]

_CATALOG_FIELDS = ("status", "level", "score", "rows_in", "rows_published", "rows_quarantined")


def verify(warehouse: Warehouse, dataset: str | None = None, version: int | None = None) -> Report:
    """Check published versions (all, one dataset's, or one) against their manifests and the catalog.

    Args:
        warehouse: The warehouse to check.
        dataset: Only this dataset (default: every dataset on disk or in the catalog).
        version: Only this version of `dataset`.

    Returns:
        A report; `report.ok` is true when no problem was found. A missing or unreadable catalog is a problem.

    Raises:
        NotFoundError: `dataset` or `version` is neither on disk nor in the catalog.
        MoshuError: `version` was given without `dataset`.
    """
    if version is not None and dataset is None:
        raise MoshuError("a version needs its dataset: verify(warehouse, 'ai4i2020', 2)")
    ctx = Ctx(warehouse, None, Report())
    ctx.catalog = _open_catalog(ctx)
    rows = CatalogRows() if ctx.catalog is not None else None
    seen: dict[str, dict[int, dict[str, Any] | None]] = {}
    try:
        for name, v in _scope(ctx, dataset, version):
            vdir = warehouse.version_dir(name, v)
            manifest = ctx.guarded(name, v, vdir, "checking the version", _check_version, ctx, name, v)
            if vdir.is_dir():
                seen.setdefault(name, {})[v] = manifest
            if manifest is None:  # a manifest that does not parse is reported, and nothing is derived from it
                continue
            if rows is not None and _registered(ctx, name, v):
                at = vdir / MANIFEST
                ctx.guarded(name, v, at, "comparing the catalog rows with the manifest", rows.check, ctx, name, v, vdir)
                ctx.guarded(name, v, at, "checking the run row", check_run_row, ctx, name, v, vdir, manifest)
                ctx.guarded(name, v, at, "checking the publish record", check_publish_record, ctx, name, v, vdir)
            check_derived(ctx, name, v, manifest)
        tabled = {d.parent.name for d in (warehouse.root / "datasets").glob("*/published") if d.is_dir()}
        for name in sorted(set(seen) | ({n for n in tabled if dataset in (None, n)})):
            manifests = seen.get(name, {})
            where = warehouse.dataset_dir(name)
            ctx.guarded(name, None, where, "checking the Delta log", check_tables, ctx, name, manifests, version is None)
        path = warehouse.catalog_path
        ctx.guarded(AUDIT_LOG, None, path, "checking the audit log", _check_audit_log, ctx)
        ctx.guarded(ORPHANS, None, warehouse.root, "looking for orphan folders", _check_orphans, ctx, dataset)
    finally:
        if rows is not None:
            rows.close()
        if ctx.catalog is not None:
            ctx.catalog.close()
    return ctx.report


def folder_problems(warehouse: Warehouse, name: str, version: int) -> list[Problem]:
    """What is wrong with one version folder on its own: its manifest and the files it lists (the catalog unread).

    Returns:
        The problems; empty when the folder is exactly what its manifest records.
    """
    ctx = Ctx(warehouse, None, Report())
    ctx.guarded(name, version, warehouse.version_dir(name, version), "checking the version", _check_version, ctx, name, version)
    return ctx.report.problems


def _registered(ctx: Ctx, name: str, version: int) -> bool:
    return _catalog_row(ctx, name, version) is not None


def _open_catalog(ctx: Ctx) -> CatalogClient | None:
    path = ctx.warehouse.catalog_path
    if not path.is_file():
        ctx.add(CATALOG, None, path, "no catalog to check the versions against", "catalog.duckdb", "missing")
        return None
    try:
        return CatalogClient(ctx.warehouse.root)
    except CatalogError as e:
        ctx.add(CATALOG, None, path, f"the catalog cannot be opened read-only: {e}")
        return None


# -- which versions -------------------------------------------------------------------------------------------


def _disk_versions(warehouse: Warehouse, name: str) -> set[int]:
    """Every `v<N>` folder of a dataset, with or without a manifest."""
    d = warehouse.dataset_dir(name)
    if not d.is_dir():
        return set()
    return {n for p in d.iterdir() if p.is_dir() and (n := version_number(p.name)) is not None}


def _catalog_versions(ctx: Ctx) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    if ctx.catalog is not None:
        for name, v in ctx.catalog.rows("SELECT name, version FROM versions"):
            out.setdefault(name, set()).add(int(v))
    return out


def _all_versions(ctx: Ctx) -> dict[str, set[int]]:
    """dataset -> versions, on disk or in the catalog."""
    known = _catalog_versions(ctx)
    datasets_dir = ctx.warehouse.root / "datasets"
    if datasets_dir.is_dir():
        for d in datasets_dir.iterdir():
            if d.is_dir() and (found := _disk_versions(ctx.warehouse, d.name)):
                known.setdefault(d.name, set()).update(found)
    return known


def _scope(ctx: Ctx, dataset: str | None, version: int | None) -> Iterator[tuple[str, int]]:
    known = _all_versions(ctx)
    if dataset is not None and dataset not in known:
        raise NotFoundError(f"no dataset `{dataset}` in the warehouse (datasets: {', '.join(sorted(known)) or 'none yet'})")
    if version is not None and dataset is not None and version not in known[dataset]:
        listed = ", ".join(map(str, sorted(known[dataset])))
        raise NotFoundError(f"dataset `{dataset}` has no version {version}; versions are {listed}")
    for name in sorted(known) if dataset is None else [dataset]:
        for v in sorted(known[name]) if version is None else [version]:
            yield name, v


# -- one version ----------------------------------------------------------------------------------------------


def _catalog_row(ctx: Ctx, name: str, version: int) -> dict[str, Any] | None:
    if ctx.catalog is None:
        return None
    cols = ("path", "manifest_sha256", "data_hash", *_CATALOG_FIELDS)
    rows = ctx.catalog.rows(f"SELECT {', '.join(cols)} FROM versions WHERE name = ? AND version = ?", [name, version])
    return dict(zip(cols, rows[0], strict=True)) if rows else None


def _check_version(ctx: Ctx, name: str, version: int) -> dict[str, Any] | None:
    """Check one version's folder, manifest, files and catalog rows; its manifest, if it parsed."""
    vdir = ctx.warehouse.version_dir(name, version)
    row = _catalog_row(ctx, name, version)
    ctx.report.checked_versions += 1
    if not vdir.is_dir():
        ctx.add(name, version, vdir, "the catalog registers this version but its folder is gone", "a version folder", "missing")
        return None
    if row is None and ctx.catalog is not None:
        ctx.add(name, version, vdir, "version folder with no catalog row", "a row in `versions`", "none")
    manifest = _read_manifest(ctx, name, version, vdir)
    if row is not None:
        _check_catalog_row(ctx, name, version, vdir, row, manifest)
    if manifest is not None:
        _check_files(ctx, name, version, vdir, manifest)
        if row is not None:
            _check_source_files(ctx, name, version, vdir, manifest)
    return manifest


def _read_manifest(ctx: Ctx, name: str, version: int, vdir: Path) -> dict[str, Any] | None:
    path = vdir / MANIFEST
    if not path.is_file():
        ctx.add(name, version, path, "manifest missing", MANIFEST, "missing")
        return None
    ctx.report.checked_files += 1
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        ctx.add(name, version, path, f"manifest is not valid JSON: {e}")
        return None
    if not isinstance(data, dict):
        ctx.add(name, version, path, "manifest is not a JSON object", "object", type(data).__name__)
        return None
    named = f"{data.get('dataset')}@{data.get('version')}"
    if named != f"{name}@{version}":
        ctx.add(name, version, path, "manifest names another version", f"{name}@{version}", named)
    return data


def _check_catalog_row(
    ctx: Ctx, name: str, version: int, vdir: Path, row: dict[str, Any], manifest: dict[str, Any] | None
) -> None:
    path = vdir / MANIFEST
    rel = vdir.relative_to(ctx.warehouse.root).as_posix()
    if row["path"] != rel:
        ctx.add(name, version, vdir, "the catalog's `versions.path` points elsewhere", rel, row["path"])
    if path.is_file() and (digest := sha256_file(path)) != row["manifest_sha256"]:
        ctx.add(name, version, path, "manifest differs from the registered one (sha256)", row["manifest_sha256"], digest)
    if manifest is None:
        return
    if manifest.get("data_hash") != row["data_hash"]:
        ctx.add(name, version, path, "data_hash differs from the catalog's", row["data_hash"], manifest.get("data_hash"))
    for col, want in _manifest_fields(manifest).items():
        if row[col] != want:
            ctx.add(name, version, path, f"the catalog's `versions.{col}` differs from the manifest", want, row[col])


def _manifest_fields(m: dict[str, Any]) -> dict[str, Any]:
    """The catalog columns of `versions` a manifest determines (as `register_version` writes them)."""
    counts, quality = m.get("counts", {}), m.get("quality", {})
    return {
        "status": m.get("status", "published"),
        "level": quality.get("level"),
        "score": quality.get("overall"),
        **{k: counts.get(k) for k in ("rows_in", "rows_published", "rows_quarantined")},
    }


def _inside(vdir: Path, rel: str) -> Path | None:
    """`vdir / rel` when `rel` is a plain relative path inside the folder, else None."""
    p = PurePosixPath(rel)
    if rel and in_table(rel) is not None:  # a file of the dataset's Delta tables: `../published/...`
        return Path(os.path.normpath(vdir / p))
    if not rel or p.is_absolute() or ".." in p.parts:
        return None
    return vdir / p


def _check_files(ctx: Ctx, name: str, version: int, vdir: Path, manifest: dict[str, Any]) -> None:
    listed = manifest.get("files")
    if not isinstance(listed, list):
        ctx.add(name, version, vdir / MANIFEST, "manifest has no `files` list", "a list of files", type(listed).__name__)
        listed = []
    for entry in listed:
        _check_file(ctx, name, version, vdir, entry)
    known = {str(e.get("path")) for e in listed if isinstance(e, dict)} | {MANIFEST}
    for p in sorted(vdir.rglob("*")):
        if (p.is_file() or p.is_symlink()) and p.relative_to(vdir).as_posix() not in known:
            ctx.add(name, version, p, "unlisted file: in the version folder but not in the manifest", "not present", "present")


def _check_file(ctx: Ctx, name: str, version: int, vdir: Path, entry: Any) -> None:
    rel = str(entry.get("path", "")) if isinstance(entry, dict) else ""
    p = _inside(vdir, rel)
    if p is None:
        ctx.add(name, version, vdir / MANIFEST, "manifest lists a file outside its folder", "a relative path", repr(entry))
        return
    if not p.is_file():
        ctx.add(name, version, p, "file listed in the manifest is missing", f"sha256 {entry.get('sha256')}", "missing")
        return
    ctx.report.checked_files += 1
    size = p.stat().st_size
    if size != entry.get("bytes"):
        ctx.add(name, version, p, "size differs from the manifest", f"{entry.get('bytes')} bytes", f"{size} bytes")
    elif (digest := sha256_file(p)) != entry.get("sha256"):
        ctx.add(name, version, p, "sha256 differs from the manifest", entry.get("sha256"), digest)


def _check_source_files(ctx: Ctx, name: str, version: int, vdir: Path, manifest: dict[str, Any]) -> None:
    assert ctx.catalog is not None
    rows = ctx.catalog.rows("SELECT path, sha256 FROM source_files WHERE name = ? AND version = ?", [name, version])
    catalog = {str(p): s for p, s in rows}
    recorded = {str(f.get("path")): f.get("sha256") for f in manifest.get("source_files", []) if isinstance(f, dict)}
    path = vdir / MANIFEST
    for src in sorted(recorded.keys() | catalog.keys()):
        want, got = recorded.get(src, "not listed"), catalog.get(src, "no row")
        if want != got:
            ctx.add(name, version, path, f"raw file `{src}`: catalog `source_files` differs from the manifest", want, got)


# -- the audit log ---------------------------------------------------------------------------------------------


def _check_audit_log(ctx: Ctx) -> None:
    if ctx.catalog is None:
        return
    path = ctx.warehouse.catalog_path
    exists = ctx.catalog.rows("SELECT count(*) FROM information_schema.tables WHERE table_name = 'audit_log'")[0][0]
    if not exists:
        ctx.add(AUDIT_LOG, None, path, "the catalog has no audit_log table (migration 0004 not applied; run `moshu run`)")
        return
    for sentence in chain_problems(ctx.catalog.con):
        ctx.add(AUDIT_LOG, None, path, sentence)
    tail = path.parent / TAIL_FILE
    problems, sealed = tail_problems(ctx.catalog.con, tail)
    ctx.report.audit_tail = sealed
    for sentence in problems:
        ctx.add(AUDIT_LOG, None, tail, sentence)


def _check_orphans(ctx: Ctx, dataset: str | None) -> None:
    from pipelines.governance.repair import orphans

    for o in orphans(ctx.warehouse, dataset):
        ctx.add(ORPHANS if o.dataset is None else o.dataset, None, o.path, o.why, "removed", "present")
