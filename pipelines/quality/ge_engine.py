"""Great Expectations 1.x: the rule set as one expectation suite; dataset-level rules executed by GE on DuckDB.

Each rule runs once. Row-level rules are measured by pandera in its pass over the data; their GE
validation results are filled from those measurements (marked `executed_by: pandera`), not run
again. Dataset-level rules (`engine = "great_expectations"`) are executed by GE's SQL engine against
a DuckDB view over the staged Parquet. Rules measured from metadata (`engine = "moshu"`) get their
result from moshu. The suite and the combined validation result are stored with the version, in
GE's own JSON format.

GE 1.x has no DuckDB dialect and, for dialects it does not know, fetches query results after closing
the connection, which DuckDB does not allow. We register DuckDB with GE's "persisted connection"
dialects so the SQL engine keeps one connection open for the whole validation.
"""

from __future__ import annotations

import gc
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from pipelines.quality.kinds import Context, describe
from pipelines.quality.registry import executor_for
from pipelines.quality.results import RuleOutcome, make_measure
from pipelines.spec.rules import RuleBase
from pipelines.sql import literal

SUITE_PREFIX = "moshu"


class _DialectName(str):
    """A dialect name GE can compare like its own enum members."""

    @property
    def value(self) -> str:
        return str(self)


def _prepare_ge() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.execution_engine.sqlalchemy_execution_engine as sae

    if not any(str(getattr(d, "value", d)) == "duckdb" for d in sae._PERSISTED_CONNECTION_DIALECTS):
        sae._PERSISTED_CONNECTION_DIALECTS = (*sae._PERSISTED_CONNECTION_DIALECTS, _DialectName("duckdb"))  # type: ignore[assignment]
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from pipelines.quality.dataset_kinds import query_measure_expectation

    query_measure_expectation()  # registers moshu's expectation with GE, for a process that only renders results
    return gx


def _threshold(rule: RuleBase, ctx: Context) -> float:
    from pipelines.quality.guide import clause

    ex = executor_for(rule)
    return rule.threshold if rule.threshold is not None else clause(ex.clause_for(rule, ctx)).threshold


def build_suite(rules: list[RuleBase], ctx: Context) -> Any:
    """The whole rule set as a GE ExpectationSuite; each expectation carries its rule id in `meta`."""
    gx = _prepare_ge()
    from great_expectations.expectations.metadata_types import FailureSeverity

    suite = gx.ExpectationSuite(name=f"{SUITE_PREFIX}.{ctx.spec.name}")
    for r in rules:
        ex = executor_for(r)
        exp = ex.expectation(r, ctx, _threshold(r, ctx)) if ex.engine != "pandera" else ex.expectation(r, ctx)  # type: ignore[call-arg]
        exp.meta = {
            "rule_id": r.id,
            "severity": r.severity,
            "executed_by": ex.engine,
            "kind": r.kind,
            "clause": ex.clause_for(r, ctx),
        }
        exp.severity = FailureSeverity.WARNING if r.severity == "warn" else FailureSeverity.CRITICAL
        if r.description and not getattr(exp, "description", None):
            exp.description = r.description
        suite.expectations.append(exp)
    return suite


def _release_view(staged: Path, failures: Path | None, error_rules: list[str]) -> str:
    """SQL of the release: the staged rows minus those an error row rule sends to quarantine."""
    base = f"SELECT * FROM read_parquet({literal(staged.resolve().as_posix())})"
    if failures is None or not error_rules:
        return base
    ids = ", ".join(literal(r) for r in error_rules)
    return (
        f"{base} WHERE _row_id NOT IN (SELECT _row_id FROM read_parquet({literal(failures.resolve().as_posix())}) "
        f"WHERE flag = 4 AND rule_id IN ({ids}))"
    )


def _release_frame(staged: Path, failures: Path | None, error_rules: list[str]) -> Any:
    """The release as a polars LazyFrame, for the rules moshu measures on the data itself."""
    import polars as pl

    base = pl.scan_parquet(staged)
    if failures is None or not error_rules:
        return base
    gone = pl.scan_parquet(failures).filter((pl.col("flag") == 4) & pl.col("rule_id").is_in(error_rules)).select("_row_id")
    return base.join(gone, on="_row_id", how="anti", maintain_order="left")


def _run_dataset_level(gx: Any, suite: Any, view_sql: str, workdir: Path) -> dict[str, Any]:
    """Execute the GE-engine expectations of `suite` on DuckDB; returns rule_id -> ExpectationValidationResult."""
    import duckdb
    from great_expectations.data_context.types.base import ProgressBarsConfig

    todo = [e for e in suite.expectations if e.meta.get("executed_by") == "great_expectations"]
    if not todo:
        return {}
    db = workdir / f"ge-{uuid.uuid4().hex[:8]}.duckdb"
    broken: dict[str, str] = {}
    con = duckdb.connect(str(db))
    try:
        con.execute(f"CREATE VIEW batch AS {view_sql}")
        # GE runs every query on one connection: a query that fails would abort the transaction the
        # others share, so a rule whose SQL does not bind is reported on its own, before GE runs.
        for e in todo:
            query = e.configuration.kwargs.get("unexpected_rows_query")
            if query:
                try:
                    con.execute("EXPLAIN " + query.replace("{batch}", "batch"))
                except duckdb.Error as err:
                    broken[e.meta["rule_id"]] = str(err).splitlines()[0]
    finally:
        con.close()
    todo = [e for e in todo if e.meta["rule_id"] not in broken]
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    ds = context.data_sources.add_sql(name="moshu", connection_string=f"duckdb:///{db.as_posix()}", create_temp_table=False)
    try:
        asset = ds.add_table_asset(name="batch", table_name="batch")
        batch_def = asset.add_batch_definition_whole_table("whole")
        run_suite = context.suites.add(gx.ExpectationSuite(name=suite.name + ".ge"))
        for e in todo:
            run_suite.add_expectation(e.__class__(**e.configuration.kwargs, meta=e.meta, severity=e.severity))
        vd = context.validation_definitions.add(gx.ValidationDefinition(name="moshu", data=batch_def, suite=run_suite))
        result = vd.run(result_format={"result_format": "COMPLETE"}) if todo else None
        out = {r.expectation_config.meta["rule_id"]: r for r in (result.results if result else [])}
        from great_expectations.core.expectation_validation_result import ExpectationValidationResult

        for e in suite.expectations:
            rid = e.meta.get("rule_id")
            if rid in broken:
                out[rid] = ExpectationValidationResult(
                    success=False, expectation_config=e.configuration,
                    exception_info={"raised_exception": True, "exception_message": broken[rid], "exception_traceback": None},
                )  # fmt: skip
        return out
    finally:
        engine = ds.get_execution_engine()
        conn = getattr(engine, "_connection", None)
        if conn is not None:
            conn.close()
        engine.engine.dispose()
        db.unlink(missing_ok=True)
        # GE's context holds SQLAlchemy/duckdb objects in reference cycles; free them now, while the
        # duckdb module is alive, rather than at interpreter exit.
        del context, ds, engine
        gc.collect()


def _ge_outcome(rule: RuleBase, ctx: Context, res: Any, rows: int) -> RuleOutcome:
    ex = executor_for(rule)
    exc = res.exception_info or {}
    details = (res.result or {}).get("details") or {}
    observed = (res.result or {}).get("observed_value")
    a: Any
    b: Any
    shown: str | None
    if exc.get("raised_exception"):
        a, b, shown = 0.0, 1.0, f"error: {exc.get('exception_message')}"
    elif "a" in details:  # a SQL-measured rule
        a, b = details.get("a"), details.get("b")
        shown = _short(details.get("detail"))
    else:
        a, b, shown = (1.0 if res.success else 0.0), 1.0, _short(observed)
    m = make_measure(ex.clause_for(rule, ctx), a, b, rule.threshold, rule.gate)
    return RuleOutcome(
        rule_id=rule.id, kind=rule.kind, severity=rule.severity, engine="great_expectations", columns=rule.columns_used(),
        description=rule.description, params=describe(rule), evaluated=rows, failed=0 if m.passed else 1,
        measures=(m,), observed=shown,
    )  # fmt: skip


def _moshu_outcome(rule: RuleBase, ctx: Context, rows: int, release: Any) -> RuleOutcome:
    ex: Any = executor_for(rule)
    a, b, detail = ex.measure(rule, ctx, release)
    m = make_measure(ex.clause_for(rule, ctx), a, b, rule.threshold, rule.gate)
    return RuleOutcome(
        rule_id=rule.id, kind=rule.kind, severity=rule.severity, engine="moshu", columns=rule.columns_used(),
        description=rule.description, params=describe(rule), evaluated=rows, failed=0 if m.passed else 1,
        measures=(m,), observed=_short(detail),
    )  # fmt: skip


def _short(v: Any, limit: int = 300) -> str | None:
    if v is None:
        return None
    s = str(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def validate(
    rules: list[RuleBase],
    ctx: Context,
    staged: Path,
    workdir: Path,
    row_outcomes: dict[str, RuleOutcome],
    rows: int,
    failures: Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[RuleOutcome]]:
    """Run GE's share of the rules, measure metadata rules, and assemble the suite's validation result.

    Dataset-level rules see the release: the staged rows minus those that error row rules
    (listed in `failures`) send to quarantine, so they describe what model teams will get.

    Returns:
        (suite JSON, validation result JSON, outcomes of the rules not measured by pandera).
    """
    gx = _prepare_ge()
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

    suite = build_suite(rules, ctx)
    error_rules = [r.id for r in rules if r.severity == "error" and executor_for(r).engine == "pandera"]
    executed = _run_dataset_level(gx, suite, _release_view(staged, failures, error_rules), workdir)
    release = _release_frame(staged, failures, error_rules)
    by_id = {r.id: r for r in rules}
    results = []
    other: list[RuleOutcome] = []
    engines = {"pandera": 0, "great_expectations": 0, "moshu": 0}
    for exp in suite.expectations:
        rid = exp.meta["rule_id"]
        engine = exp.meta["executed_by"]
        engines[engine] += 1
        if engine == "great_expectations":
            res = executed[rid]
            other.append(_ge_outcome(by_id[rid], ctx, res, rows))
            results.append(res)
            continue
        o = row_outcomes[rid] if engine == "pandera" else _moshu_outcome(by_id[rid], ctx, rows, release)
        if engine == "moshu":
            other.append(o)
        result = {
            "element_count": o.evaluated,
            "unexpected_count": o.failed,
            "unexpected_percent": (100.0 * o.failed / o.evaluated) if o.evaluated else None,
            "partial_unexpected_list": list(o.samples),
            "observed_value": o.observed,
        }
        results.append(
            ExpectationValidationResult(
                success=o.passed,
                expectation_config=exp.configuration,
                result=result,
                meta={"executed_by": engine, "rule_id": rid, "measures": [m.as_dict() for m in o.measures]},
            )
        )
    n_ok = sum(1 for r in results if r.success)
    suite_result = ExpectationSuiteValidationResult(
        success=n_ok == len(results),
        results=results,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": n_ok,
            "unsuccessful_expectations": len(results) - n_ok,
            "success_percent": (100.0 * n_ok / len(results)) if results else None,
        },
        meta={"great_expectations_version": gx.__version__, "engines": engines},
    )
    return suite.to_json_dict(), suite_result.to_json_dict(), other
