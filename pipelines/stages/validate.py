"""Stage 2: run every rule once, on the engine that suits it, and keep what each rule measured."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.ingest.cast import needs_raw
from pipelines.quality import ge_engine, pandera_engine
from pipelines.quality.kinds import Context, DType, describe
from pipelines.quality.registry import executor_for
from pipelines.quality.results import RuleOutcome
from pipelines.spec.loader import LoadedDataset
from pipelines.spec.rules import RuleBase
from pipelines.stages.ingest import ROW_ID, Ingested

FAILURES_FILE = "failures.parquet"
GE_SUITE_FILE = "ge_suite.json"
GE_RESULT_FILE = "ge_validation.json"
SAMPLES_PER_RULE = 5


@dataclass
class Validated:
    """Rule outcomes of a run and where the per-row failures and GE documents were written."""

    ingested: Ingested
    outcomes: list[RuleOutcome] = field(default_factory=list)
    failures: Path | None = None
    ge_suite: Path | None = None
    ge_result: Path | None = None
    ge_success: bool | None = None

    @property
    def rules_passed(self) -> int:
        """Rules with no failure."""
        return sum(o.passed for o in self.outcomes)

    @property
    def rules_failed(self) -> int:
        """Rules with at least one failure."""
        return sum(not o.passed for o in self.outcomes)


def all_rules(loaded: LoadedDataset) -> list[RuleBase]:
    """Every rule of a dataset: one dtype rule per convertible column, then the implied and declared rules."""
    dtype_rules: list[RuleBase] = [
        DType(
            kind="dtype",
            id=f"schema.dtype.{c.name}",
            column=c.name,
            dtype=c.dtype,
            description=f"`{c.name}` converts to {c.dtype}.",
        )
        for c in loaded.spec.columns
        if needs_raw(c)
    ]
    return [*dtype_rules, *loaded.rules]


def _outcomes_from_failures(
    rules: list[RuleBase], failures: pl.DataFrame, staged: pl.LazyFrame, ctx: Context, rows: int
) -> dict[str, RuleOutcome]:
    counts = dict(failures.group_by("rule_id").agg(pl.col(ROW_ID).n_unique()).iter_rows())
    sample_ids = failures.group_by("rule_id").agg(pl.col(ROW_ID).sort().head(SAMPLES_PER_RULE))
    wanted = {rid: ids for rid, ids in sample_ids.iter_rows()}
    sample_rows = (
        staged.filter(
            pl.col(ROW_ID).is_in(pl.Series([i for ids in wanted.values() for i in ids], dtype=pl.UInt32).implode())
        ).collect()
        if wanted
        else None
    )
    out: dict[str, RuleOutcome] = {}
    for r in rules:
        ex = executor_for(r)
        failed = int(counts.get(r.id, 0))
        samples: tuple[str, ...] = ()
        if failed and sample_rows is not None:
            rows_df = sample_rows.filter(pl.col(ROW_ID).is_in(wanted[r.id]))
            samples = tuple(rows_df.select(ex.reason(r, ctx).alias("why")).to_series().to_list())
        out[r.id] = RuleOutcome(
            rule_id=r.id,
            kind=r.kind,
            severity=r.severity,
            engine="pandera",  # type: ignore[attr-defined]
            columns=r.columns_used(),
            description=r.description,
            params=describe(r),
            evaluated=rows,
            failed=failed,
            passed=failed == 0,
            samples=samples,
        )
    return out


def validate(loaded: LoadedDataset, ingested: Ingested) -> Validated:
    """Run pandera over the row-level rules and Great Expectations over the dataset-level ones.

    Bad data never raises here: it becomes failing outcomes and per-row failures.
    """
    if ingested.unchanged or ingested.staged is None:
        return Validated(ingested=ingested)
    ctx = Context(loaded.spec)
    rules = all_rules(loaded)
    row_rules = [r for r in rules if executor_for(r).engine == "pandera"]
    staged = pl.scan_parquet(ingested.staged)
    failures = pandera_engine.run(staged, row_rules, ctx)
    workdir = ingested.staged.parent
    failures_path = workdir / FAILURES_FILE
    failures.write_parquet(failures_path)
    row_outcomes = _outcomes_from_failures(row_rules, failures, staged, ctx, ingested.rows_in)
    suite, result, ge_outcomes = ge_engine.validate(rules, ctx, ingested.staged, workdir, row_outcomes, ingested.rows_in)
    suite_path, result_path = workdir / GE_SUITE_FILE, workdir / GE_RESULT_FILE
    suite_path.write_text(json.dumps(suite, indent=2, default=str), encoding="utf-8")
    result_path.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    by_id: dict[str, Any] = {**row_outcomes, **{o.rule_id: o for o in ge_outcomes}}
    outcomes = [by_id[r.id] for r in rules]
    return Validated(
        ingested=ingested,
        outcomes=outcomes,
        failures=failures_path,
        ge_suite=suite_path,
        ge_result=result_path,
        ge_success=bool(result.get("success")),
    )
