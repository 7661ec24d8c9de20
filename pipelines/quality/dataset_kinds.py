"""Executors of the dataset-level rule kinds: measured by Great Expectations on DuckDB, or from metadata.

Most dataset-level kinds compile to `ExpectQueryMeasureToMeetThreshold`, a GE expectation whose SQL
query returns one row `(a, b, detail)`: GE runs the query against the staged batch and passes when
B = 0 (not applicable) or A / B >= threshold. `row_count` uses GE's own table expectation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from pipelines.quality.kinds import Context, KindExecutor
from pipelines.spec.models import NUMERIC_DTYPES
from pipelines.spec.rules import (
    ClassBalance,
    ClassMinCount,
    Freshness,
    InformativeFeatures,
    LabelCoverage,
    RowCount,
    TimeCoverage,
    UnitConsistency,
    _Labels,
)
from pipelines.sql import ident, literal


def utc_now() -> datetime:
    """The current time, naive UTC (what stored timestamps are compared with)."""
    return datetime.now(UTC).replace(tzinfo=None)


@cache
def query_measure_expectation() -> Any:
    """The GE expectation class for SQL-measured rules (defined lazily: importing GE is slow)."""
    from typing import ClassVar

    from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation

    class ExpectQueryMeasureToMeetThreshold(UnexpectedRowsExpectation):  # type: ignore[misc]
        """The query returns one row `(a, b, detail)`; passes when b = 0 (not applicable) or a / b >= threshold."""

        threshold: float
        success_keys: ClassVar[tuple[str, ...]] = ("unexpected_rows_query", "threshold")

        def _validate(
            self, metrics: dict[str, Any], runtime_configuration: dict[str, Any] | None = None, execution_engine: Any = None
        ) -> dict[str, Any]:
            rows = metrics["unexpected_rows_query.table"] or []
            row = rows[0] if rows else {}
            a, b = row.get("a"), row.get("b")
            x = None if not b else float(a or 0) / float(b)
            detail = row.get("detail")
            return {
                "success": x is None or x >= self.threshold,
                "result": {"observed_value": x, "details": {"a": a, "b": b, "detail": detail}},
            }

    return ExpectQueryMeasureToMeetThreshold


class SqlMeasureExecutor(KindExecutor):
    """Base of dataset-level kinds measured by one SQL query that Great Expectations runs."""

    engine = "great_expectations"

    def sql(self, rule: Any, ctx: Context) -> str:
        """Query over `{batch}` returning one row (a, b, detail)."""
        raise NotImplementedError

    def expectation(self, rule: Any, ctx: Context, threshold: float = 1.0) -> Any:
        return query_measure_expectation()(unexpected_rows_query=self.sql(rule, ctx), threshold=threshold)


class RowCountExec(KindExecutor):
    kind = "row_count"
    engine = "great_expectations"
    clause = "C-3"

    def expectation(self, rule: RowCount, ctx: Context, threshold: float = 1.0) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectTableRowCountToBeBetween(min_value=rule.min, max_value=rule.max)


class TimeCoverageExec(SqlMeasureExecutor):
    kind = "time_coverage"
    clause = "C-4"

    def sql(self, rule: TimeCoverage, ctx: Context) -> str:
        t = ident(rule.timestamp)
        num = f"epoch({t})" if ctx.dtype(rule.timestamp) in ("datetime", "date") else t
        ent = ", ".join(ident(e) for e in rule.entity) or "1"
        label = " || '/' || ".join(f"CAST({ident(e)} AS VARCHAR)" for e in rule.entity) or "'all'"
        return (
            f"WITH r AS (SELECT min({num}) AS lo, max({num}) AS hi FROM {{batch}} WHERE {t} IS NOT NULL), "
            f"e AS (SELECT {label} AS entity, count(DISTINCT {t}) AS n FROM {{batch}} WHERE {t} IS NOT NULL GROUP BY {ent}), "
            f"x AS (SELECT e.entity, e.n, floor((r.hi - r.lo) / {rule.period_s}) + 1 AS expected FROM e, r) "
            "SELECT sum(least(n, expected)) AS a, sum(expected) AS b, "
            "list(struct_pack(entity := entity, present := n, expected := expected) ORDER BY n / expected) "
            "FILTER (WHERE n < expected) AS detail FROM x"
        )


class FreshnessExec(SqlMeasureExecutor):
    kind = "freshness"
    clause = "T-1"

    # Time-dependent: its result changes with the clock, not only with the data (see validate.recheck_time_rules).
    time_dependent = True

    def sql(self, rule: Freshness, ctx: Context) -> str:
        now = utc_now().isoformat(sep=" ", timespec="seconds")
        t = ident(rule.timestamp)
        return (
            f"SELECT CASE WHEN max({t}) >= TIMESTAMP '{now}' - to_seconds({rule.max_age_s}) THEN 1 ELSE 0 END AS a, "
            f"1 AS b, 'newest ' || CAST(max({t}) AS VARCHAR) || ', checked at {now} UTC' AS detail FROM {{batch}}"
        )


def _label_sql(rule: _Labels) -> str:
    if rule.column:
        return ident(rule.column)
    whens = " ".join(f"WHEN {ident(c)} = 1 THEN {literal(c)}" for c in rule.one_hot)
    return f"(CASE {whens} END)"


def _counts_cte(rule: _Labels) -> str:
    label = _label_sql(rule)
    return f"WITH c AS (SELECT CAST({label} AS VARCHAR) AS label, count(*) AS n FROM {{batch}} WHERE {label} IS NOT NULL GROUP BY 1) "


# (GE formats the query with str.format, so no brace literals in the SQL.)
_DETAIL = "list(struct_pack(label := label, n := n) ORDER BY n DESC, label) AS detail"


class ClassBalanceExec(SqlMeasureExecutor):
    kind = "class_balance"
    clause = "B-1"

    def clause_for(self, rule: ClassBalance, ctx: Context) -> str:
        return rule.clause or ("B-2" if rule.form == "entropy" else "B-1")

    def sql(self, rule: ClassBalance, ctx: Context) -> str:
        if rule.form == "min_max":
            return _counts_cte(rule) + f"SELECT min(n) AS a, max(n) AS b, {_DETAIL} FROM c"
        k = "count(*)"  # classes present; a class of the taxonomy that is absent is D-1's business
        return (
            _counts_cte(rule) + f", p AS (SELECT label, n, n / sum(n) OVER () AS p FROM c) "
            f"SELECT -sum(p * ln(p)) AS a, CASE WHEN {k} > 1 THEN ln({k}) ELSE 0 END AS b, {_DETAIL} FROM p"
        )


class LabelCoverageExec(SqlMeasureExecutor):
    kind = "label_coverage"
    clause = "D-1"

    def sql(self, rule: LabelCoverage, ctx: Context) -> str:
        taxonomy = [str(t) for t in rule.taxonomy] or list(rule.one_hot)
        in_list = ", ".join(literal(t) for t in taxonomy)
        return (
            _counts_cte(rule) + f"SELECT count(*) FILTER (WHERE label IN ({in_list})) AS a, {len(taxonomy)} AS b, "
            f"list_filter([{in_list}], lambda t: NOT list_contains(list(label), t)) AS detail FROM c"
        )


class ClassMinCountExec(SqlMeasureExecutor):
    kind = "class_min_count"
    clause = "D-2"

    def sql(self, rule: ClassMinCount, ctx: Context) -> str:
        return (
            _counts_cte(rule) + f"SELECT count(*) FILTER (WHERE n >= {rule.min_count}) AS a, count(*) AS b, "
            f"list(struct_pack(label := label, n := n) ORDER BY n) FILTER (WHERE n < {rule.min_count}) AS detail FROM c"
        )


class InformativeFeaturesExec(SqlMeasureExecutor):
    """A feature is uninformative when it is constant or an exact copy of an earlier feature (in `columns` order).

    Copies are found by hashing each column's values in row order (numbers as doubles, so an integer and a float
    column holding the same values are copies) and comparing the hashes, one window over one row per column; a
    column is constant when its min equals its max (or it is all null). The query grows linearly with the columns,
    where comparing every pair would not (520 sensors are 134,940 pairs), and it avoids `count(DISTINCT ...)`,
    which DuckDB takes tens of seconds to run for hundreds of columns.
    """

    kind = "informative_features"
    clause = "D-3"

    def _values(self, column: str, ctx: Context) -> str:
        return f"CAST({ident(column)} AS DOUBLE)" if ctx.dtype(column) in NUMERIC_DTYPES else ident(column)

    def sql(self, rule: InformativeFeatures, ctx: Context) -> str:
        cols = list(rule.columns)
        groups = [ident(g) for g in rule.group_by]
        aggs = [
            f"coalesce(min({ident(c)}) = max({ident(c)}), true) AS k{i}, hash(list({self._values(c, ctx)} ORDER BY __rn)) AS h{i}"
            for i, c in enumerate(cols)
        ]
        rows = ", ".join(f"struct_pack(i := {i}, name := {literal(c)}, k := k{i}, h := h{i})" for i, c in enumerate(cols))
        label = " || '/' || ".join(f"CAST({g} AS VARCHAR)" for g in groups) or "'all'"
        group_clause = f" GROUP BY {', '.join(groups)}" if groups else ""
        return (
            "WITH r AS (SELECT *, row_number() OVER () AS __rn FROM {batch}), "
            f"s AS (SELECT {label} AS grp, {', '.join(aggs)} FROM r{group_clause}), "
            f"u AS (SELECT grp, unnest([{rows}]) AS f FROM s), "
            "v AS (SELECT grp, f.i AS i, f.name AS name, f.k OR count(*) OVER (PARTITION BY grp, f.h ORDER BY f.i "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) > 1 AS bad FROM u), "
            "o AS (SELECT grp, coalesce(list(name ORDER BY i) FILTER (WHERE bad), []) AS bad FROM v GROUP BY grp) "
            f"SELECT sum({len(cols)} - len(bad)) AS a, {len(cols)} * count(*) AS b, "
            "list(struct_pack(grp := grp, columns := bad) ORDER BY grp) FILTER (WHERE len(bad) > 0) AS detail FROM o"
        )


class UnitConsistencyExec(KindExecutor):
    """Measured from the spec's declared units, not from the data."""

    kind = "unit_consistency"
    engine = "moshu"
    clause = "K-5"

    def measure(self, rule: UnitConsistency, ctx: Context) -> tuple[float, float, list[str]]:
        """(A, B, offending columns): columns whose declared unit converts to `rule.unit`."""
        from pipelines.quality.units import convertible

        bad = [c for c in rule.columns if not convertible(ctx.spec.column(c).unit, rule.unit)]
        return len(rule.columns) - len(bad), len(rule.columns), bad

    def expectation(self, rule: UnitConsistency, ctx: Context, threshold: float = 1.0) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectTableColumnsToMatchSet(column_set=list(rule.columns), exact_match=False)
