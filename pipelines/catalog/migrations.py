"""Numbered, append-only SQL migrations from the top-level `catalog/migrations/` folder."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.errors import CatalogError

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def migrations_dir() -> Path:
    """Folder of the migration files (packaged copy first, then the source tree)."""
    here = Path(__file__).resolve()
    for cand in (here.parent.parent / "_migrations", here.parents[2] / "catalog" / "migrations"):
        if cand.is_dir():
            return cand
    raise CatalogError("catalog migrations not found; reinstall moshu")


def available() -> list[tuple[int, str, Path]]:
    """(number, name, path) of every migration, in order; each number is used once.

    Numbers are handed out ahead to changes made side by side, so a gap is allowed: the missing
    migration is applied when it arrives, as every applied number is recorded in `schema_migrations`.
    """
    out = []
    for p in sorted(migrations_dir().glob("*.sql")):
        m = _FILE.match(p.name)
        if not m:
            raise CatalogError(f"`{p.name}` is not a migration name; use `NNNN_snake_case.sql`")
        out.append((int(m.group(1)), m.group(2), p))
    for (n, _, p), (before, _, q) in zip(out[1:], out, strict=False):
        if n == before:
            raise CatalogError(f"migrations `{q.name}` and `{p.name}` share the number {n:04d}; renumber the newer one")
    return out


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every migration the catalog does not have yet, each in its own transaction; return their numbers."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for n, name, path in available():
        if n in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [n, name, datetime.now(UTC).replace(tzinfo=None)])
            con.execute("COMMIT")
        except Exception as e:
            con.execute("ROLLBACK")
            raise CatalogError(f"catalog migration `{path.name}` failed: {e}") from e
        applied.append(n)
    return applied
