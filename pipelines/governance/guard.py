"""Role-based, read-only access to a warehouse: a per-role view of the catalog and a statement guard.

`GuardedClient(warehouse, role, policy)` builds, in an in-memory DuckDB database, the part of the
warehouse a role may see, then locks DuckDB down and checks every query before running it.

What the role sees (temporary views, nothing is written to disk):

* `<dataset>`: the latest published version of every dataset whose grade the role may read (and
  that its `datasets` list names), and `<dataset>__v<N>` for each published version (rejected
  candidates are left out). Only the columns whose sensitivity the role may read exist in these
  views, plus the lineage and quality columns `_qc_flag`, `_warn_rules`, `_source_file`,
  `_source_row`. A NULL grade counts as `core` and a NULL sensitivity as `personal`: an
  unclassified dataset or column is hidden from every role that may not read the most protected data.
* the catalog tables and views of the role's `catalog_tables`, with the rows of its datasets only;
  `columns` lists only the columns the role may read, and the free-text values that can quote a
  hidden column's data (`rule_results.samples` and `observed`, `worst_rules.example`,
  `feedback.suggested_value`, `corrections.old_value` / `new_value`, and the `column=value` keys of
  `demand_counts` / `demand_gaps`) are NULL when they concern a hidden column. Tables without a
  dataset column (`audit_log`) are shown only to roles that see every dataset.

Three layers refuse everything else:

1. The statement guard parses the query with DuckDB's own parser (`json_serialize_sql`) and walks
   its syntax tree: exactly one SELECT; every table it names is a view above or a CTE in scope
   (unqualified); no table functions (`read_parquet`, `glob`, the catalog's `dataset()` ...) except
   the generators `range`, `generate_series` and `unnest`; no writing CTEs; no functions that read
   files, settings or the environment (`getenv`, `current_setting`, `read_*`, `*glob*`,
   `sniff_csv`, `parquet_*`, `duckdb_*`, `pragma_*`, `query`, `query_table`,
   `json_execute_serialized_sql`, sequence functions).
2. Hidden columns do not exist in the views, so naming one fails when DuckDB binds the query; the
   binder error is turned into a `PolicyError` that names the column and what the role may read.
3. DuckDB itself: the catalog is attached READ_ONLY, `allowed_paths` lists exactly the Parquet
   files of the visible versions, then `enable_external_access = false` and
   `lock_configuration = true` (after which `SET`, `PRAGMA`, `INSTALL`, other files and `COPY` to
   any other path fail). `allowed_paths` also permits *writing* those files, and the attached
   catalog stays reachable by its qualified name, so layer 1 is what stops `COPY ... TO` a
   published file and `moshu_ro.main.<table>`; layers 2 and 3 are the defense in depth.

The guard checks SQL text. Python code that holds a `GuardedClient` is trusted like any code that
can open the warehouse's files: the relations `sql` returns are ordinary DuckDB relations.

Example:
    >>> policy = load_policy(Path("catalog/access_policy.yaml"))          # doctest: +SKIP
    >>> with GuardedClient("warehouse", "partner", policy) as g:           # doctest: +SKIP
    ...     g.sql("select type, count(*) from ai4i2020 group by type").fetchall()
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipelines.catalog.lock_wait import while_locked
from pipelines.errors import CatalogError, MoshuError, PolicyError
from pipelines.governance.policy import LINEAGE_COLUMNS, Policy, Role
from pipelines.sql import ident, literal

__all__ = ["CATALOG_ALIAS", "GuardedClient", "PolicyError"]

CATALOG_ALIAS = "moshu_ro"
_HIDDEN = "_moshu_hidden"  # internal temp table: (dataset, column) pairs the role may not read

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
_COLUMN_IN_ERROR = re.compile(r'column (?:named )?"([^"]+)"', re.IGNORECASE)

# Masks of catalog values that can quote a hidden column's data: table -> (column, condition on alias `t`).
_RULE_TOUCHES_HIDDEN = (
    f"EXISTS (SELECT 1 FROM {_HIDDEN} h WHERE h.name = t.name AND (t.columns IS NULL OR list_contains(t.columns, h.column_name)))"
)
_WORST_TOUCHES_HIDDEN = (
    f"EXISTS (SELECT 1 FROM {CATALOG_ALIAS}.main.rule_results r JOIN {_HIDDEN} h ON h.name = r.name "
    "AND (r.columns IS NULL OR list_contains(r.columns, h.column_name)) "
    "WHERE r.name = t.name AND r.version = t.version AND r.rule_id = t.rule_id)"
)
_COLUMN_IS_HIDDEN = f"EXISTS (SELECT 1 FROM {_HIDDEN} h WHERE h.name = t.dataset AND h.column_name = t.column_name)"
_KEY_IS_HIDDEN = f"EXISTS (SELECT 1 FROM {_HIDDEN} h WHERE h.name = t.dataset AND h.column_name = split_part(t.key, '=', 1))"
_MASKS: dict[str, tuple[tuple[str, str], ...]] = {
    "rule_results": (("samples", _RULE_TOUCHES_HIDDEN), ("observed", _RULE_TOUCHES_HIDDEN)),
    "worst_rules": (("example", _WORST_TOUCHES_HIDDEN),),
    "feedback": (("suggested_value", _COLUMN_IS_HIDDEN),),
    "feedback_status": (("suggested_value", _COLUMN_IS_HIDDEN),),
    "corrections": (("old_value", _COLUMN_IS_HIDDEN), ("new_value", _COLUMN_IS_HIDDEN)),
    "demand_counts": (("key", _KEY_IS_HIDDEN),),
    "demand_gaps": (("key", _KEY_IS_HIDDEN),),
}
# Row filters of tables whose rows belong to a dataset through another table.
_INDIRECT_FILTERS = {
    "model_metrics": f"t.run_id IN (SELECT run_id FROM {CATALOG_ALIAS}.main.model_runs WHERE dataset IN ({{names}}))",
    "feedback_reviews": f"t.feedback_id IN (SELECT feedback_id FROM {CATALOG_ALIAS}.main.feedback WHERE dataset IN ({{names}}))",
}
_GLOBAL_TABLES = frozenset({"schema_migrations"})  # no dataset rows: readable as they are


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
class _Findings:
    """What the statement guard found in a query's syntax tree."""

    tables: list[str] = field(default_factory=list)  # names that are not visible relations
    qualified: list[str] = field(default_factory=list)  # schema- or catalog-qualified table names
    table_functions: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)  # refused scalar functions
    unsupported: list[str] = field(default_factory=list)  # node types that write or are unknown


@dataclass(frozen=True)
class _Version:
    """One published version as the role sees it."""

    name: str
    version: int
    files: tuple[str, ...]
    columns: tuple[str, ...]


class GuardedClient:
    """Read-only SQL over the part of a warehouse one role of the access policy may see.

    Args:
        warehouse: The warehouse folder (the one holding `catalog.duckdb`).
        role: The role's name in the policy.
        policy: The access policy.

    Raises:
        CatalogError: there is no catalog, or it cannot be opened read-only.
        NotFoundError: the policy has no such role.
    """

    def __init__(self, warehouse: Path | str, role: str, policy: Policy) -> None:
        self.root = Path(warehouse).resolve()
        self.role_name = role
        self.role: Role = policy.role(role)
        path = self.root / "catalog.duckdb"
        if not path.is_file():
            raise CatalogError(f"no catalog at `{path}`; run `moshu run` first or pass --warehouse")
        self._con = duckdb.connect()
        try:
            attach = f"ATTACH {literal(str(path))} AS {CATALOG_ALIAS} (READ_ONLY)"
            while_locked(lambda: self._con.execute(attach))  # a run or an audit record may hold the write lock
            self._build()
        except duckdb.Error as e:
            self._con.close()
            raise CatalogError(f"cannot open `{path}` read-only for role `{role}`: {e}") from e
        except BaseException:
            self._con.close()
            raise

    def __enter__(self) -> GuardedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (and with it the catalog file)."""
        self._con.close()

    def visible(self) -> dict[str, list[str]]:
        """The relations the role may query, each with the columns it sees.

        Returns:
            Relation name -> column names, dataset views first, then catalog tables.
        """
        return {name: list(cols) for name, cols in self._visible.items()}

    def sql(self, query: str) -> Result:
        """Check a query against the policy, run it, and return its rows (never a live relation).

        Args:
            query: One SELECT statement.

        Returns:
            The materialised result (`.fetchall()`, `.pl()`, `.df()`, `.to_arrow_table()`, `.columns`).

        Raises:
            PolicyError: the query is not a single SELECT, names a relation, table function, function
                or column the role may not use.
            CatalogError: DuckDB failed for another reason (a typo, a type error).
        """
        try:
            result = self._run(query)
        except MoshuError as e:
            self._record(query, "refused" if isinstance(e, PolicyError) else "failed", str(e))
            raise
        self._record(query, "allowed", None)  # before the caller sees a row
        return result

    def _run(self, query: str) -> Result:
        self._check(query)
        try:
            rel = self._con.sql(query)
        except duckdb.BinderException as e:
            raise self._binder_error(e) from e
        except duckdb.PermissionException as e:
            raise PolicyError(f"role `{self.role_name}` may not access that file: {_first_line(e)}") from e
        except duckdb.Error as e:
            raise CatalogError(str(e)) from e
        if rel is None:
            raise PolicyError("the statement returned no rows; only SELECT queries are allowed")
        try:
            return Result(list(rel.columns), rel.fetchall(), [str(t) for t in rel.types])
        except duckdb.Error as e:  # raised while the rows are computed (a failed cast, error())
            raise CatalogError(_first_line(e)) from e

    def _record(self, query: str, decision: str, problem: str | None) -> None:
        """The query in the audit log; a query that cannot be recorded is not answered."""
        from pipelines.governance.audit import record_query
        from pipelines.warehouse import Warehouse

        record_query(Warehouse(self.root), self.role_name, query, decision, problem)

    # -- building the role's view of the warehouse -------------------------------------------------

    def _build(self) -> None:
        """Create the role's views, then lock DuckDB down."""
        self._catalog_schema = self._read_catalog_schema()
        self._grades = self._dataset_grades()
        self._datasets = sorted(n for n, g in self._grades.items() if self.role.may_read_dataset(n, g))
        self._all_datasets = set(self._grades) == set(self._datasets)
        sensitivities = self._column_sensitivities()
        self._hidden = {
            (name, col): sens
            for (name, _), columns in sensitivities.items()
            for col, sens in columns
            if name in self._datasets and not self.role.may_read_sensitivity(sens)
        }
        self._visible: dict[str, tuple[str, ...]] = {}
        self._version_views: set[str] = set()
        files: list[str] = []
        for v in self._published_versions(sensitivities):
            files.extend(v.files)
            self._version_views.add(f"{v.name}__v{v.version}")
            self._dataset_view(f"{v.name}__v{v.version}", v)
            self._dataset_view(v.name, v)  # versions come in order: the last one wins
        self._hidden_table()
        for table in self._catalog_relations():
            self._catalog_view(table)
        self._con.execute(f"DETACH {CATALOG_ALIAS}")
        self._lock(files)

    def _read_catalog_schema(self) -> dict[str, list[str]]:
        """Table or view name -> column names, for every relation of the attached catalog."""
        rows = self._con.execute(
            "SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
            "WHERE database_name = ? AND schema_name = 'main' GROUP BY table_name",
            [CATALOG_ALIAS],
        ).fetchall()
        return {str(t): list(cols) for t, cols in rows}

    def _catalog_columns(self, table: str) -> list[str]:
        """Column names of a table or view of the attached catalog (none for an unknown one)."""
        return self._catalog_schema.get(table, [])

    def _dataset_grades(self) -> dict[str, str | None]:
        """Dataset name -> grade (None in catalogs older than migration 0004, or unclassified)."""
        grade = "grade" if "grade" in self._catalog_columns("datasets") else "NULL"
        rows = self._con.execute(f"SELECT name, {grade} FROM {CATALOG_ALIAS}.main.datasets").fetchall()
        return {str(n): g for n, g in rows}

    def _column_sensitivities(self) -> dict[tuple[str, int], list[tuple[str, str | None]]]:
        """(dataset, version) -> its columns in order, each with its sensitivity (None where the catalog has none)."""
        sens = "sensitivity" if "sensitivity" in self._catalog_columns("columns") else "NULL"
        rows = self._con.execute(
            f"SELECT name, version, column_name, {sens} FROM {CATALOG_ALIAS}.main.columns ORDER BY name, version, position"
        ).fetchall()
        out: dict[tuple[str, int], list[tuple[str, str | None]]] = {}
        for n, v, c, s in rows:
            out.setdefault((str(n), int(v)), []).append((str(c), s))
        return out

    def _published_versions(self, sensitivities: dict[tuple[str, int], list[tuple[str, str | None]]]) -> Iterator[_Version]:
        """The role's datasets' published versions, in (name, version) order, with their files and columns."""
        if not self._datasets:
            return
        rows = self._con.execute(
            f"SELECT name, version, data_glob FROM {CATALOG_ALIAS}.main.versions "
            f"WHERE status = 'published' AND list_contains(?, name) ORDER BY name, version",
            [self._datasets],
        ).fetchall()
        datasets_dir = self.root / "datasets"
        for name, version, glob in rows:
            found = sorted(self.root.glob(str(glob))) if not Path(str(glob)).is_absolute() else []
            files = tuple(str(p) for p in found if p.is_file() and p.resolve().is_relative_to(datasets_dir))
            if not files:
                continue
            readable = [c for c, s in sensitivities.get((str(name), int(version)), []) if self.role.may_read_sensitivity(s)]
            yield _Version(str(name), int(version), files, (*readable, *LINEAGE_COLUMNS))

    def _dataset_view(self, view: str, v: _Version) -> None:
        """A view of one version's Parquet files with the role's columns only."""
        cols = ", ".join(ident(c) for c in v.columns)
        paths = "[" + ", ".join(literal(f) for f in v.files) + "]"
        self._con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS SELECT {cols} FROM read_parquet({paths})")
        self._visible[view] = v.columns

    def _hidden_table(self) -> None:
        """The internal table of hidden (dataset, column) pairs that the catalog views' masks consult."""
        self._con.execute(f"CREATE TEMP TABLE {_HIDDEN} (name VARCHAR, column_name VARCHAR)")
        pairs = sorted(self._hidden)
        if pairs:
            self._con.executemany(f"INSERT INTO {_HIDDEN} VALUES (?, ?)", [list(p) for p in pairs])

    def _catalog_relations(self) -> list[str]:
        """Catalog tables and views the role may read (the catalog's own per-dataset views excluded)."""
        return [
            t
            for t in sorted(self._catalog_schema)
            if t not in self._grades and t not in self._visible and self.role.may_read_table(t)
        ]

    def _row_filter(self, table: str, columns: list[str]) -> str | None:
        """The WHERE condition keeping the role's datasets' rows; None when the table cannot be filtered."""
        names = ", ".join(literal(n) for n in self._datasets) or "NULL"
        if table in _GLOBAL_TABLES:
            return "true"
        if table in _INDIRECT_FILTERS:
            return _INDIRECT_FILTERS[table].format(names=names)
        for col in ("name", "dataset"):
            if col in columns:
                return f"t.{col} IN ({names})"
        return "true" if self._all_datasets else None

    def _catalog_view(self, table: str) -> None:
        """A view of a catalog table with the role's rows, hidden columns and their quoted values removed."""
        columns = self._catalog_columns(table)
        where = self._row_filter(table, columns)
        if where is None:
            return
        if table == "columns":
            allowed = ", ".join(literal(s) for s in self.role.sensitivities) or "NULL"
            sens = "t.sensitivity" if "sensitivity" in columns else "NULL"
            where += f" AND coalesce({sens}, 'personal') IN ({allowed})"
        masks = [(c, cond) for c, cond in _MASKS.get(table, ()) if c in columns]
        replace = ""
        if masks:
            replace = (
                " REPLACE ("
                + ", ".join(f"CASE WHEN {cond} THEN NULL ELSE t.{ident(c)} END AS {ident(c)}" for c, cond in masks)
                + ")"
            )
        # A copy, not a view: the catalog file is detached before the first query (no lock held while
        # the role queries, so runs and audit records are never blocked by an open client).
        self._con.execute(
            f"CREATE TEMP TABLE {ident(table)} AS SELECT *{replace} FROM {CATALOG_ALIAS}.main.{ident(table)} AS t WHERE {where}"
        )
        self._visible[table] = tuple(columns)

    def _lock(self, files: list[str]) -> None:
        """Allow exactly the visible versions' files, turn off external access and lock the configuration."""
        self._con.execute("SELECT json_serialize_sql('SELECT 1')").fetchall()  # the parser used by the guard, loaded now
        for setting in (
            "python_enable_replacements = false",
            "autoload_known_extensions = false",
            "autoinstall_known_extensions = false",
            "allow_community_extensions = false",
            "allow_persistent_secrets = false",
            f"allowed_paths = [{', '.join(literal(f) for f in files)}]",
            "enable_external_access = false",
            "lock_configuration = true",
        ):
            self._con.execute(f"SET {setting}")

    # -- the statement guard -----------------------------------------------------------------------

    def _check(self, query: str) -> None:
        """Refuse anything but one SELECT over the role's relations."""
        if not query.strip():
            raise PolicyError(f"the query is empty; role `{self.role_name}` may run one SELECT over {self._names()}")
        tree = json.loads(self._con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0])
        if tree.get("error"):
            raise PolicyError(self._not_select(str(tree.get("error_message", ""))))
        statements = tree.get("statements", [])
        if len(statements) != 1:
            raise PolicyError(
                f"{len(statements)} statements: role `{self.role_name}` may run one SELECT at a time; remove the `;` between them"
            )
        found = _Findings()
        _walk(statements[0], frozenset(), frozenset(n.lower() for n in self._visible), found)
        self._refuse(found)

    def _not_select(self, message: str) -> str:
        """The message for a statement the parser cannot serialise (not a SELECT, or not SQL)."""
        if message.startswith("Only SELECT"):
            return (
                f"only SELECT queries are allowed with role `{self.role_name}` "
                "(no COPY, INSERT, CREATE, DROP, ATTACH, SET, PRAGMA, INSTALL, LOAD, EXPLAIN or PIVOT statements); "
                f"query the views {self._names()}"
            )
        return f"the query does not parse ({message}); only SELECT queries are allowed with role `{self.role_name}`"

    def _refuse(self, found: _Findings) -> None:
        """Raise a `PolicyError` for the first kind of problem found, naming every instance of it."""
        views = self._names()
        if found.unsupported:
            raise PolicyError(
                f"{_quoted(found.unsupported)} cannot be used with role `{self.role_name}`: "
                f"only SELECT queries that read views are allowed; query the views {views}"
            )
        if found.qualified:
            raise PolicyError(
                f"qualified names such as {_quoted(found.qualified)} cannot be used with role `{self.role_name}`; "
                f"use the unqualified views {views}"
            )
        if found.table_functions:
            raise PolicyError(
                f"table functions cannot be used with role `{self.role_name}` ({_quoted(found.table_functions)}); "
                f"query the views {views}"
            )
        if found.functions:
            raise PolicyError(
                f"{_quoted(found.functions)} cannot be used with role `{self.role_name}`: "
                "it reads files, settings or the environment"
            )
        if found.tables:
            raise PolicyError(
                f"role `{self.role_name}` cannot query {_quoted(found.tables)}: not one of its views; it can query {views}"
            )

    def _names(self) -> str:
        """The visible relations, for messages: latest dataset views, then catalog tables."""
        datasets = [n for n in self._visible if n in self._datasets]
        tables = [n for n in self._visible if n not in self._datasets and n not in self._version_views]
        parts = []
        if datasets:
            parts.append(", ".join(f"`{n}`" for n in datasets) + " (one version: `<dataset>__v<N>`)")
        if tables:
            parts.append("catalog " + ", ".join(f"`{n}`" for n in tables))
        return "; ".join(parts) or "nothing (the role sees no dataset and no catalog table)"

    def _binder_error(self, e: duckdb.BinderException) -> MoshuError:
        """A `PolicyError` when the unknown column exists but is hidden from the role, else a `CatalogError`."""
        for col in _COLUMN_IN_ERROR.findall(str(e)):
            where = sorted((name, sens) for (name, c), sens in self._hidden.items() if c.lower() == col.lower())
            if where:
                datasets = ", ".join(f"`{n}`" for n, _ in where)
                sens = sorted({s or "unclassified" for _, s in where})
                readable = ", ".join(self.role.sensitivities) or "none"
                example = self._visible.get(where[0][0], ())
                return PolicyError(
                    f"role `{self.role_name}` may not read column `{col}` of {datasets} "
                    f"(sensitivity {', '.join(sens)}; the role reads {readable} columns). "
                    f"Columns it can read in `{where[0][0]}`: {', '.join(example)}"
                )
        return CatalogError(str(e))


def _walk(node: Any, ctes: frozenset[str], visible: frozenset[str], found: _Findings) -> None:
    """Walk a serialised syntax tree, recording what the role may not use in `found`.

    Args:
        node: A part of `json_serialize_sql`'s output.
        ctes: CTE names in scope (lower case).
        visible: Relation names the role may read (lower case).
        found: Where problems are recorded.
    """
    if isinstance(node, list):
        for item in node:
            _walk(item, ctes, visible, found)
        return
    if not isinstance(node, dict):
        return
    if "cte_map" in node:
        # A CTE's body sees only the CTEs defined before it, never its own name: `WITH duckdb_tables AS
        # (SELECT * FROM duckdb_tables)` must not reach the system view through the CTE's name.
        for entry in node["cte_map"].get("map", []):
            _walk(entry.get("value"), ctes, visible, found)
            ctes = ctes | {str(entry.get("key", "")).lower()}
        if node.get("type") not in _QUERY_NODES:
            found.unsupported.append(str(node.get("type")))
    elif "class" in node:
        _check_function(node, found)
    elif isinstance(node.get("type"), str) and (node["type"] in _FROM_ITEMS or "sample" in node):
        _check_from_item(node, ctes, visible, found)
    for key, value in node.items():
        if key != "cte_map":
            _walk(value, ctes, visible, found)


def _check_function(node: dict[str, Any], found: _Findings) -> None:
    """Record a scalar function call that reads files, settings or the environment."""
    if node.get("class") != "FUNCTION":
        return
    name = str(node.get("function_name", "")).lower()
    qualified = [str(p) for p in node.get("qualified_name", {}).get("path", [])]
    if CATALOG_ALIAS in (str(node.get("catalog", "")).lower(), str(node.get("schema", "")).lower()):
        found.qualified.append(".".join(qualified) or name)
    if name in _DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES) or "glob" in name:
        found.functions.append(f"{name}()")


def _check_from_item(node: dict[str, Any], ctes: frozenset[str], visible: frozenset[str], found: _Findings) -> None:
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


def _quoted(items: list[str]) -> str:
    """`a`, `b` without repeats, in order of appearance."""
    return ", ".join(f"`{i}`" for i in dict.fromkeys(items))


def _first_line(e: BaseException) -> str:
    """The first line of an exception's message."""
    return str(e).splitlines()[0] if str(e) else type(e).__name__
