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

Every query is recorded in the audit log before its rows are returned, with the policy's sha256 and
source (`moshu sql --role` passes the policy in force, see `pipelines.governance.policy_store`).

The guard checks SQL text. Python code that holds a `GuardedClient` is trusted like any code that
can open the warehouse's files: the relations `sql` returns are ordinary DuckDB relations.

Example:
    >>> policy = load_policy(Path("catalog/access_policy.yaml"))          # doctest: +SKIP
    >>> with GuardedClient("warehouse", "partner", policy) as g:           # doctest: +SKIP
    ...     g.sql("select type, count(*) from ai4i2020 group by type").fetchall()
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.catalog.lock_wait import while_locked
from pipelines.errors import CatalogError, MoshuError, PolicyError
from pipelines.governance.policy import LINEAGE_COLUMNS, Policy, Role, policy_digest
from pipelines.governance.sealed import Sealed, read_sealed, sealed_grade, sealed_sensitivity
from pipelines.governance.statement import CATALOG_ALIAS, COLUMN_IN_ERROR, Findings, Result, first_line, quoted, walk
from pipelines.sql import ident, literal
from pipelines.warehouse import Warehouse

__all__ = ["CATALOG_ALIAS", "GuardedClient", "PolicyError", "Result"]
_HIDDEN = "_moshu_hidden"  # internal temp table: (dataset, column) pairs the role may not read


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
        policy_sha256: The hash recorded with every query: the policy file's sha256 (`moshu sql --role`
            passes the one of the policy in force); default: `policy_digest(policy)`.
        policy_source: Recorded beside the hash: `installed`, `project`, or `caller` (the default: a
            policy handed over in code).

    Raises:
        CatalogError: there is no catalog, or it cannot be opened read-only.
        NotFoundError: the policy has no such role.
    """

    def __init__(
        self,
        warehouse: Path | str,
        role: str,
        policy: Policy,
        *,
        policy_sha256: str | None = None,
        policy_source: str = "caller",
    ) -> None:
        self.root = Path(warehouse).resolve()
        self._manifests: dict[tuple[str, int], Sealed | None] = {}
        self.role_name = role
        self.policy_sha256 = policy_sha256 or policy_digest(policy)
        self.policy_source = policy_source
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
            raise PolicyError(f"role `{self.role_name}` may not access that file: {first_line(e)}") from e
        except duckdb.Error as e:
            raise CatalogError(str(e)) from e
        if rel is None:
            raise PolicyError("the statement returned no rows; only SELECT queries are allowed")
        try:
            return Result(list(rel.columns), rel.fetchall(), [str(t) for t in rel.types])
        except duckdb.Error as e:  # raised while the rows are computed (a failed cast, error())
            raise CatalogError(first_line(e)) from e

    def _record(self, query: str, decision: str, problem: str | None) -> None:
        """The query in the audit log; a query that cannot be recorded is not answered."""
        from pipelines.governance.audit import record_query
        from pipelines.warehouse import Warehouse

        policy = {"sha256": self.policy_sha256, "source": self.policy_source}
        record_query(Warehouse(self.root), self.role_name, query, decision, problem, policy)

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
        """Dataset name -> grade (None in catalogs older than migration 0004, or unclassified: counts as core)."""
        grade = "grade" if "grade" in self._catalog_columns("datasets") else "NULL"
        rows = self._con.execute(f"SELECT name, {grade} FROM {CATALOG_ALIAS}.main.datasets").fetchall()
        grades = {str(n): g for n, g in rows}
        # The stricter of the catalog's grade and the grade every version was published with (its manifest):
        # a grade lowered in the catalog alone opens nothing.
        for n, v in self._con.execute(f"SELECT name, version FROM {CATALOG_ALIAS}.main.versions").fetchall():
            if str(n) in grades:
                grades[str(n)] = sealed_grade(grades[str(n)], self._sealed(str(n), int(v)))
        return grades

    def _sealed(self, name: str, version: int) -> Sealed | None:
        """A version's manifest as the guard reads it, parsed once for grades and sensitivities."""
        key = (name, version)
        if key not in self._manifests:
            self._manifests[key] = read_sealed(self.root, name, version)
        return self._manifests[key]

    def _column_sensitivities(self) -> dict[tuple[str, int], list[tuple[str, str | None]]]:
        """(dataset, version) -> its columns in order, each with its sensitivity (None where the catalog has none).

        Each sensitivity is the stricter of the catalog's row and the version's manifest (the record the
        version was published with): a sensitivity lowered in the catalog alone opens nothing.
        """
        sens = "sensitivity" if "sensitivity" in self._catalog_columns("columns") else "NULL"
        rows = self._con.execute(
            f"SELECT name, version, column_name, {sens} FROM {CATALOG_ALIAS}.main.columns ORDER BY name, version, position"
        ).fetchall()
        out: dict[tuple[str, int], list[tuple[str, str | None]]] = {}
        for n, v, c, s in rows:
            out.setdefault((str(n), int(v)), []).append((str(c), sealed_sensitivity(s, self._sealed(str(n), int(v)), str(c))))
        return out

    def _published_versions(self, sensitivities: dict[tuple[str, int], list[tuple[str, str | None]]]) -> Iterator[_Version]:
        """The role's datasets' published versions, in (name, version) order, with their files and columns."""
        if not self._datasets:
            return
        rows = self._con.execute(
            f"SELECT name, version FROM {CATALOG_ALIAS}.main.versions "
            f"WHERE status = 'published' AND list_contains(?, name) ORDER BY name, version",
            [self._datasets],
        ).fetchall()
        datasets_dir = self.root / "datasets"
        for name, version in rows:
            try:  # the files the version's manifest lists (the sealed record), not a path a catalog row names
                found = [Path(f) for f in Warehouse(self.root).data_files(str(name), int(version))]
            except (OSError, ValueError, MoshuError):
                found = []
            files = tuple(str(p) for p in found if p.is_file() and p.resolve().is_relative_to(datasets_dir.resolve()))
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
        found = Findings()
        walk(statements[0], frozenset(), frozenset(n.lower() for n in self._visible), found)
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

    def _refuse(self, found: Findings) -> None:
        """Raise a `PolicyError` for the first kind of problem found, naming every instance of it."""
        views = self._names()
        if found.unsupported:
            raise PolicyError(
                f"{quoted(found.unsupported)} cannot be used with role `{self.role_name}`: "
                f"only SELECT queries that read views are allowed; query the views {views}"
            )
        if found.qualified:
            raise PolicyError(
                f"qualified names such as {quoted(found.qualified)} cannot be used with role `{self.role_name}`; "
                f"use the unqualified views {views}"
            )
        if found.table_functions:
            raise PolicyError(
                f"table functions cannot be used with role `{self.role_name}` ({quoted(found.table_functions)}); "
                f"query the views {views}"
            )
        if found.functions:
            raise PolicyError(
                f"{quoted(found.functions)} cannot be used with role `{self.role_name}`: "
                "it reads files, settings or the environment"
            )
        if found.tables:
            raise PolicyError(
                f"role `{self.role_name}` cannot query {quoted(found.tables)}: not one of its views; it can query {views}"
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
        for col in COLUMN_IN_ERROR.findall(str(e)):
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
