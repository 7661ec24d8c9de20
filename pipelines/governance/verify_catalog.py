"""Verify the catalog's governance and quality rows of each version against the rows its manifest gives.

The catalog rows of a version are a function of its manifest: `register_version` writes them from it.
So the check registers the manifest again into a private in-memory catalog (same migrations, one
transaction rolled back after each version) and compares table by table, row by row, with the real
catalog: a column whose `sensitivity` was changed, an edited rule result or measure, a deleted
quarantine summary row each show up as a difference, named by table, row key and column. The
manifest itself is tied to the catalog (`versions.manifest_sha256`) and to the audit log (the
`publish` row records the manifest's sha256), and the audit log's tail is sealed outside the catalog
(`pipelines.governance.audit`), so an attacker must rewrite all four consistently to go unseen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from pipelines.governance.findings import Ctx
from pipelines.sql import literal
from pipelines.warehouse import MANIFEST

__all__ = ["TABLES", "CatalogRows", "check_publish_record", "check_run_row"]

# Tables `register_version` fills from a manifest, compared in full. `versions` and `source_files` are compared
# field by field in `verify` itself; the demand tables are left out: they change when a demand changes.
TABLES = (
    "columns", "rule_results", "measures", "quarantine_summary", "dimension_scores", "changelog", "corrections",
    "set_aside_files", "anomalies", "version_partitions", "column_profiles", "dataset_profiles",
)  # fmt: skip
# `versions` columns `verify` already reports on one by one (with their own wording).
_VERSIONS_DONE = {"path", "manifest_sha256", "data_hash", "status", "level", "score", "rows_in", "rows_published",
                  "rows_quarantined"}  # fmt: skip
_SCOPE = {"name", "dataset", "version"}


class CatalogRows:
    """A private in-memory catalog, migrated once, into which each version's manifest is registered and compared."""

    def __init__(self) -> None:
        from pipelines.catalog.migrations import migrate

        self.mem = duckdb.connect()
        migrate(self.mem)
        self._keys = self._primary_keys()
        self._cols: dict[tuple[int, str], list[str]] = {}

    def close(self) -> None:
        """Drop the in-memory catalog."""
        self.mem.close()

    def _primary_keys(self) -> dict[str, list[str]]:
        rows = self.mem.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
        ).fetchall()
        return {t: [c for c in cols if c not in _SCOPE] for t, cols in rows}

    def check(self, ctx: Ctx, name: str, version: int, vdir: Path) -> None:
        """Report every catalog row of `name@version` that differs from what its manifest registers."""
        from pipelines.stages.register import register_version

        assert ctx.catalog is not None
        path = vdir / MANIFEST
        # the per-version views name their files relative to the warehouse, as in the real catalog (`pipelines.catalog.db`)
        self.mem.execute(f"SET file_search_path = {literal(str(ctx.warehouse.root.resolve()))}")
        self.mem.execute("BEGIN TRANSACTION")
        try:
            register_version(self.mem, ctx.warehouse, name, version)
            expected = {t: self._rows(self.mem, t, name, version) for t in ("versions", *TABLES)}
        finally:
            self.mem.execute("ROLLBACK")
        actual = {t: self._rows(ctx.catalog.con, t, name, version) for t in expected}
        for table, (cols, want) in expected.items():
            got = actual[table][1]
            keys = list(cols) if table == "versions" else (self._keys.get(table) or list(cols))
            _compare(ctx, name, version, path, table, cols, keys, want, got)

    def _rows(
        self, con: duckdb.DuckDBPyConnection, table: str, name: str, version: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The columns of `table` (both catalogs have the same, in the same order) and the rows of one version."""
        cols = self._cols.get((id(con), table))
        if cols is None:
            cols = self._cols[(id(con), table)] = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main' "
                "AND table_catalog = current_database() ORDER BY ordinal_position", [table]).fetchall()]  # fmt: skip
        scope = "name" if "name" in cols else "dataset"
        rows = con.execute(f'SELECT * FROM "{table}" WHERE "{scope}" = ? AND version = ?', [name, version]).fetchall()
        return cols, rows


def _key_text(row: dict[str, Any], keys: list[str]) -> str:
    return "/".join(f"`{row[k]}`" for k in keys) if keys else "(the row)"


def _compare(
    ctx: Ctx, name: str, version: int, path: Path, table: str, cols: list[str], keys: list[str],
    want: list[tuple[Any, ...]], got: list[tuple[Any, ...]],
) -> None:  # fmt: skip
    """Pair rows by their key; report rows missing, rows added and each differing column of a pair."""
    if table == "versions":
        keys = ["name", "version"]
    w = {repr(tuple(r[cols.index(k)] for k in keys)): dict(zip(cols, r, strict=True)) for r in want}
    g = {repr(tuple(r[cols.index(k)] for k in keys)): dict(zip(cols, r, strict=True)) for r in got}
    if table == "versions" and not g:
        return  # a version without a catalog row is reported by `verify`
    for k in sorted(w.keys() - g.keys()):
        ctx.add(name, version, path, f"catalog `{table}` row {_key_text(w[k], keys)} is missing (deleted)",
                "the row the manifest registers", "no row")  # fmt: skip
    for k in sorted(g.keys() - w.keys()):
        ctx.add(name, version, path, f"catalog `{table}` row {_key_text(g[k], keys)} is not in the manifest (added)",
                "no row", "a row")  # fmt: skip
    for k in sorted(w.keys() & g.keys()):
        for col in cols:
            if table == "versions" and col in _VERSIONS_DONE:
                continue
            if w[k][col] != g[k][col]:
                where = "" if table == "versions" else f" of row {_key_text(w[k], keys)}"
                ctx.add(name, version, path, f"the catalog's `{table}.{col}`{where} differs from the manifest",
                        w[k][col], g[k][col])  # fmt: skip


def check_run_row(ctx: Ctx, name: str, version: int, vdir: Path, manifest: dict[str, Any]) -> None:
    """The run that wrote a version must have its `runs` row, naming that version with the manifest's status."""
    assert ctx.catalog is not None
    run_id = manifest.get("run_id")
    if not run_id:
        return
    rows = ctx.catalog.rows("SELECT status, version FROM runs WHERE run_id = ?", [run_id])
    path = vdir / MANIFEST
    want = ("rejected" if manifest.get("status") == "rejected" else "published", version)
    if not rows:
        ctx.add(name, version, path, f"the run `{run_id}` that wrote this version has no row in `runs` (deleted)",
                f"status {want[0]}, version {version}", "no row")  # fmt: skip
    elif (rows[0][0], rows[0][1]) != want:
        ctx.add(name, version, path, f"the catalog's `runs` row of run `{run_id}` differs from the manifest",
                f"status {want[0]}, version {version}", f"status {rows[0][0]}, version {rows[0][1]}")  # fmt: skip


def check_publish_record(ctx: Ctx, name: str, version: int, vdir: Path) -> None:
    """The audit log's first `publish` row of a version recorded the sha256 of the manifest the catalog registers,
    or of the manifest its `migrate` rows (`moshu migrate`, which rewrites file paths) lead to from it, link by link."""
    assert ctx.catalog is not None
    if not ctx.catalog.rows("SELECT count(*) FROM information_schema.tables WHERE table_name = 'audit_log'")[0][0]:
        return  # reported once by the audit log check
    obj = f"{name}@{version}"
    rows = ctx.catalog.rows(
        "SELECT seq, detail FROM audit_log WHERE action = 'publish' AND object = ? ORDER BY seq LIMIT 1", [obj]
    )
    registered = ctx.catalog.rows("SELECT manifest_sha256 FROM versions WHERE name = ? AND version = ?", [name, version])
    if not registered:
        return
    path = vdir / MANIFEST
    if not rows:
        ctx.add(name, version, path, "the audit log has no `publish` row for this version (deleted, or never written)",
                f"action publish, object {obj}", "none")  # fmt: skip
        return
    seq, detail = rows[0]
    try:
        sealed = json.loads(detail or "{}").get("manifest_sha256")
    except (ValueError, AttributeError):
        sealed = None
    moves = ctx.catalog.rows(
        "SELECT seq, detail FROM audit_log WHERE action = 'migrate' AND object = ? AND seq > ? ORDER BY seq", [obj, seq]
    )
    for mseq, mdetail in moves:
        try:
            step = json.loads(mdetail or "{}")
        except ValueError:
            step = {}
        if step.get("from_manifest_sha256") != sealed:
            ctx.add(name, version, path, f"the audit log's `migrate` row (seq {mseq}) does not start from the manifest "
                    "recorded before it", sealed, step.get("from_manifest_sha256"))  # fmt: skip
        sealed, seq = step.get("manifest_sha256"), mseq
    if sealed != registered[0][0]:
        ctx.add(name, version, path, f"the manifest the catalog registers is not the one the audit log recorded at "
                f"publish (audit seq {seq})", sealed, registered[0][0])  # fmt: skip
