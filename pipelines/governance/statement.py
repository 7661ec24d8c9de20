"""The statement guard of `GuardedClient` (a walk over DuckDB's syntax tree) and `Result`, a guarded query's rows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import duckdb

from pipelines.sql import ident

__all__ = ["CATALOG_ALIAS", "COLUMN_IN_ERROR", "Findings", "Result", "first_line", "quoted", "walk"]

CATALOG_ALIAS = "moshu_ro"

# Query nodes a SELECT may contain; anything else (INSERT/UPDATE/DELETE nodes inside a CTE) writes.
_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
# FROM items that read nothing by themselves (their children are checked).
_FROM_ITEMS = frozenset({"BASE_TABLE", "JOIN", "SUBQUERY", "EXPRESSION_LIST", "EMPTY", "PIVOT", "SHOW_REF", "TABLE_FUNCTION"})
# Table functions that generate values and read nothing.
_GENERATORS = frozenset({"range", "generate_series", "unnest"})
# Scalar functions refused: they read files, settings, the environment, or run SQL of their own.
_DENIED_FUNCTIONS = frozenset(
    {
        "getenv",
        "current_setting",
        "sniff_csv",
        "query",
        "query_table",
        "json_execute_serialized_sql",
        "nextval",
        "setval",
        "currval",
        "which_secret",
    }
)
_DENIED_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_")
COLUMN_IN_ERROR = re.compile(r'column (?:named )?"([^"]+)"', re.IGNORECASE)


@dataclass(frozen=True)
class Result:
    """The rows of a guarded query. Materialised on purpose: a live DuckDB relation would let its holder
    run further SQL on the guarded connection without the policy check. Held as Python rows, so
    printing a result needs neither pyarrow nor polars (the `moshu sql --role` start-up path)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    types: list[str]  # DuckDB types, so conversions keep them (TINYINT stays int8)

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The rows as tuples."""
        return list(self.rows)

    def limit(self, n: int) -> Result:
        """The first `n` rows (named as on a DuckDB relation, so the CLI prints either)."""
        return Result(self.columns, self.rows[:n], self.types)

    def _into(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
        """The rows as table `result` of `con` (a private database with nothing in it but these rows)."""
        cols = ", ".join(f"{ident(c)} {t}" for c, t in zip(self.columns, self.types, strict=True))
        con.execute(f"CREATE TABLE result ({cols})")
        if self.rows:
            con.executemany(f"INSERT INTO result VALUES ({', '.join('?' * len(self.columns))})", self.rows)
        return con.table("result")

    def to_arrow_table(self) -> Any:
        """The rows as a pyarrow Table (named as on a DuckDB relation)."""
        con = duckdb.connect()
        try:
            return self._into(con).to_arrow_table()
        finally:
            con.close()

    def write_parquet(self, file_name: str) -> None:
        """Write the rows to a Parquet file (named as on a DuckDB relation; needs no pyarrow)."""
        con = duckdb.connect()
        try:
            self._into(con).write_parquet(file_name)
        finally:
            con.close()

    def pl(self) -> Any:
        """The rows as a polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.to_arrow_table())

    def df(self) -> Any:
        """The rows as a pandas DataFrame."""
        return self.to_arrow_table().to_pandas()


@dataclass
class Findings:
    """What the statement guard found in a query's syntax tree."""

    tables: list[str] = field(default_factory=list)  # names that are not visible relations
    qualified: list[str] = field(default_factory=list)  # schema- or catalog-qualified table names
    table_functions: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)  # refused scalar functions
    unsupported: list[str] = field(default_factory=list)  # node types that write or are unknown


def walk(node: Any, ctes: frozenset[str], visible: frozenset[str], found: Findings) -> None:
    """Walk a serialised syntax tree, recording what the role may not use in `found`.

    Args:
        node: A part of `json_serialize_sql`'s output.
        ctes: CTE names in scope (lower case).
        visible: Relation names the role may read (lower case).
        found: Where problems are recorded.
    """
    if isinstance(node, list):
        for item in node:
            walk(item, ctes, visible, found)
        return
    if not isinstance(node, dict):
        return
    if "cte_map" in node:
        # A CTE's body sees only the CTEs defined before it, never its own name: `WITH duckdb_tables AS
        # (SELECT * FROM duckdb_tables)` must not reach the system view through the CTE's name.
        for entry in node["cte_map"].get("map", []):
            walk(entry.get("value"), ctes, visible, found)
            ctes = ctes | {str(entry.get("key", "")).lower()}
        if node.get("type") not in _QUERY_NODES:
            found.unsupported.append(str(node.get("type")))
    elif "class" in node:
        _check_function(node, found)
    elif isinstance(node.get("type"), str) and (node["type"] in _FROM_ITEMS or "sample" in node):
        _check_from_item(node, ctes, visible, found)
    for key, value in node.items():
        if key != "cte_map":
            walk(value, ctes, visible, found)


def _check_function(node: dict[str, Any], found: Findings) -> None:
    """Record a scalar function call that reads files, settings or the environment."""
    if node.get("class") != "FUNCTION":
        return
    name = str(node.get("function_name", "")).lower()
    qualified = [str(p) for p in node.get("qualified_name", {}).get("path", [])]
    if CATALOG_ALIAS in (str(node.get("catalog", "")).lower(), str(node.get("schema", "")).lower()):
        found.qualified.append(".".join(qualified) or name)
    if name in _DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES) or "glob" in name:
        found.functions.append(f"{name}()")


def _check_from_item(node: dict[str, Any], ctes: frozenset[str], visible: frozenset[str], found: Findings) -> None:
    """Record a FROM item the role may not read: an unknown or qualified table, a table function."""
    kind = str(node.get("type"))
    if kind not in _FROM_ITEMS:
        found.unsupported.append(kind)
    elif kind == "BASE_TABLE":
        name = str(node.get("table_name", ""))
        if node.get("schema_name") or node.get("catalog_name"):
            found.qualified.append(".".join(p for p in (node.get("catalog_name"), node.get("schema_name"), name) if p))
        elif name.lower() not in ctes and name.lower() not in visible:
            found.tables.append(name)
    elif kind == "TABLE_FUNCTION":
        function = node.get("function") or {}
        name = str(function.get("function_name", "?")).lower()
        if name not in _GENERATORS or function.get("schema") or function.get("catalog"):
            found.table_functions.append(f"{name}(...)")
    elif kind == "SHOW_REF" and node.get("query") is None:
        found.unsupported.append(f"SHOW {node.get('table_name', '')}".strip())


def quoted(items: list[str]) -> str:
    """`a`, `b` without repeats, in order of appearance."""
    return ", ".join(f"`{i}`" for i in dict.fromkeys(items))


def first_line(e: BaseException) -> str:
    """The first line of an exception's message."""
    return str(e).splitlines()[0] if str(e) else type(e).__name__
