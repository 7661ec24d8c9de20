"""A light, read-only client of the catalog: DuckDB only (no Dagster, no Great Expectations, no polars)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from pipelines.catalog.lock_wait import while_locked
from pipelines.catalog.missing import explain
from pipelines.errors import CatalogError, NotFoundError
from pipelines.sql import literal


def _connect_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """Open the catalog read-only, waiting while a run writes it (the writer holds DuckDB's file lock)."""
    try:
        return while_locked(lambda: duckdb.connect(str(path), read_only=True))
    except duckdb.Error as e:
        raise CatalogError(f"cannot open `{path}` read-only: {e}") from e


def parse_ref(ref: str) -> tuple[str, int | None]:
    """`name` or `name@N` (also `name@vN`) as (name, version or None).

    Raises:
        NotFoundError: the part after `@` is not a version number.
    """
    name, _, ver = ref.partition("@")
    if not ver:
        return name, None
    try:
        return name, int(ver.lstrip("v"))
    except ValueError:
        raise NotFoundError(f"`{ver}` is not a version number; write `{name}@2`") from None


def resolve_ref(con: duckdb.DuckDBPyConnection, ref: str, include_rejected: bool = True) -> tuple[str, int]:
    """Turn `name` or `name@version` into (name, version); without a version, the latest published one.

    An explicit version may name a rejected candidate (unless `include_rejected` is false). Works on
    any catalog connection, read-only or the writer's.

    Raises:
        NotFoundError: no such dataset or version, or no published version yet.
    """
    name, v = parse_ref(ref)
    known = [r[0] for r in con.execute("SELECT name FROM datasets ORDER BY name").fetchall()]
    if name not in known:
        raise NotFoundError(f"no dataset `{name}` in the catalog (datasets: {', '.join(known) or 'none yet'})")
    rows = con.execute("SELECT version, status FROM versions WHERE name = ? ORDER BY version", [name]).fetchall()
    published = [n for n, status in rows if status == "published"]
    versions = [n for n, status in rows if include_rejected or status == "published"]
    if v is None:
        if not published:
            raise NotFoundError(
                f"dataset `{name}` has no published version yet" + (" (only rejected candidates)" if rows else "")
            )
        return name, published[-1]
    if v not in versions:
        raise NotFoundError(f"dataset `{name}` has no version {v}; versions are {', '.join(map(str, versions))}")
    return name, v


class CatalogClient:
    """Read-only access to a warehouse's catalog, with relative Parquet paths resolved against the warehouse.

    Example:
        >>> with CatalogClient("warehouse") as cat:                         # doctest: +SKIP
        ...     cat.sql("select * from dataset('ai4i2020', 1) limit 5").fetchall()
    """

    def __init__(self, warehouse: str | Path) -> None:
        root = Path(warehouse).resolve()
        path = root / "catalog.duckdb"
        if not path.is_file():
            raise CatalogError(f"no catalog at `{path}`; run `moshu run` first or pass --warehouse")
        self.root = root
        self.con = _connect_read_only(path)
        self.con.execute(f"SET file_search_path = {literal(str(root))}")

    def __enter__(self) -> CatalogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def sql(self, query: str, params: list[Any] | None = None) -> duckdb.DuckDBPyRelation:
        """Run a query; returns a DuckDB relation (`.fetchall()`, `.pl()`, `.df()`, `.write_parquet()`)."""
        try:
            rel = self.con.sql(query, params=params)
        except duckdb.Error as e:
            raise CatalogError(explain(self.con, str(e)) or str(e)) from e
        if rel is None:
            raise CatalogError("the statement returned no rows to show (moshu sql is for queries)")
        return rel

    def rows(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a parameterised query and return all its rows."""
        try:
            return self.con.execute(query, params or []).fetchall()
        except duckdb.Error as e:
            raise CatalogError(explain(self.con, str(e)) or str(e)) from e

    def datasets(self) -> list[str]:
        """Names of the registered datasets."""
        return [r[0] for r in self.con.execute("SELECT name FROM datasets ORDER BY name").fetchall()]

    def resolve(self, ref: str, include_rejected: bool = True) -> tuple[str, int]:
        """Turn `name` or `name@version` into (name, version); see `resolve_ref`."""
        return resolve_ref(self.con, ref, include_rejected)
