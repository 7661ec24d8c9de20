"""Stage 2: run every rule once, on the engine that suits it, and keep what each rule measured."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.ingest.cast import needs_raw
from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW
from pipelines.quality import ge_engine, pandera_engine
from pipelines.quality.kinds import FAIL, SUSPECT, Context, DType, describe
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
    """Rule outcomes of a run and where the per-row flags and GE documents were written."""

    ingested: Ingested
    outcomes: list[RuleOutcome] = field(default_factory=list)
    rules: list[RuleBase] = field(default_factory=list)  # the rules run (a partition's window rule is its own)
    failures: Path | None = None
    ge_suite: Path | None = None
    ge_result: Path | None = None
    ge_success: bool | None = None

    @property
    def rules_passed(self) -> int:
        """Rules whose measures all meet their thresholds."""
        return sum(o.passed for o in self.outcomes)

    @property
    def rules_failed(self) -> int:
        """Rules with a measure below its threshold."""
        return sum(not o.passed for o in self.outcomes)


def all_rules(loaded: LoadedDataset, partition: str | None = None) -> list[RuleBase]:
    """Every rule of a dataset: one dtype rule per convertible column, then the implied and declared rules.

    A partitioned dataset also gets `partition.window` for `partition` (default: its first partition,
    which is the same rule as far as names and checks go).
    """
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
    spec = loaded.spec
    if spec.partitions is None:
        return [*dtype_rules, *loaded.rules]
    from pipelines.partitions import window_rule

    return [*dtype_rules, *loaded.rules, window_rule(spec, partition or spec.partitions.start)]


def context(loaded: LoadedDataset) -> Context:
    """The executors' context of a loaded dataset."""
    return Context(loaded.spec, root=loaded.spec_path.parent.parent)


def _row_outcomes(rules: list[RuleBase], failures: pl.DataFrame, staged: pl.LazyFrame, ctx: Context) -> dict[str, RuleOutcome]:
    if not rules:
        return {}
    counts = {(rid, flag): n for rid, flag, n in failures.group_by("rule_id", "flag").agg(pl.col(ROW_ID).n_unique()).iter_rows()}
    # anchored to a column so that literal predicates broadcast to every row
    anchor = pl.col(ROW_ID).is_not_null()
    # Row expressions go through `with_columns` before any `select` (see pandera_engine._check_fn).
    marks = [(anchor & executor_for(r).evaluated(r, ctx)).alias(f"__e{i}") for i, r in enumerate(rules)]
    evaluated = staged.with_columns(marks).select([pl.col(f"__e{i}").sum() for i in range(len(rules))]).collect().row(0)
    sample_ids = failures.sort(ROW_ID).group_by("rule_id").agg(pl.col(ROW_ID).head(SAMPLES_PER_RULE))
    wanted = {rid: ids for rid, ids in sample_ids.iter_rows()}
    # Reasons are computed over the whole frame (some use medians or neighbours), then sampled.
    by_rule = {r.id: r for r in rules}
    reasons = (
        staged.with_columns(
            pl.format("{}:{}", pl.col(SOURCE_FILE), pl.col(SOURCE_ROW)).alias("__where"),
            *[executor_for(by_rule[rid]).reason(by_rule[rid], ctx).alias(f"__why:{rid}") for rid in wanted],
        )
        .select(ROW_ID, "__where", *[pl.col(f"__why:{rid}").alias(rid) for rid in wanted])
        .filter(pl.col(ROW_ID).is_in(pl.Series([i for ids in wanted.values() for i in ids], dtype=pl.UInt32).implode()))
        .collect()
        if wanted
        else None
    )
    out: dict[str, RuleOutcome] = {}
    for i, r in enumerate(rules):
        ex = executor_for(r)
        failed, suspect, n = int(counts.get((r.id, FAIL), 0)), int(counts.get((r.id, SUSPECT), 0)), int(evaluated[i] or 0)
        samples: tuple[str, ...] = ()
        where: tuple[str, ...] = ()
        if r.id in wanted and reasons is not None:
            picked = reasons.filter(pl.col(ROW_ID).is_in(wanted[r.id])).sort(ROW_ID)
            samples, where = tuple(picked[r.id].to_list()), tuple(picked["__where"].to_list())
        out[r.id] = RuleOutcome(
            rule_id=r.id, kind=r.kind, severity=r.severity, engine="pandera", columns=r.columns_used(),
            description=r.description, params=describe(r), evaluated=n, failed=failed, suspect=suspect,
            measures=tuple(ex.measures(r, ctx, n, failed, suspect)), samples=samples, sample_rows=where,
        )  # fmt: skip
    return out


def recheck_time_rules(loaded: LoadedDataset, data_file: Path, rows: int) -> list[RuleOutcome]:
    """Measure the time-dependent rules (freshness) again on a published version's data, now.

    A version is immutable and its manifest keeps the result at publish time; an unchanged run uses
    this to report whether the data is still fresh (e.g. as the Dagster asset check), so a feed that
    stopped sending data turns the check red without a new version.
    """
    import tempfile

    rules = [r for r in all_rules(loaded) if getattr(executor_for(r), "time_dependent", False)]
    if not rules:
        return []
    with tempfile.TemporaryDirectory(prefix="moshu-recheck-") as tmp:
        _, _, outcomes = ge_engine.validate(rules, context(loaded), data_file, Path(tmp), {}, rows)
    return outcomes


def validate(loaded: LoadedDataset, ingested: Ingested) -> Validated:
    """Run pandera over the row-level rules and Great Expectations over the dataset-level ones.

    Bad data never raises here: it becomes flagged rows and failing measures.
    """
    if ingested.unchanged or ingested.staged is None:
        return Validated(ingested=ingested)
    ctx = context(loaded)
    rules = all_rules(loaded, ingested.partition)
    row_rules = [r for r in rules if executor_for(r).engine == "pandera"]
    staged = pl.scan_parquet(ingested.staged)
    failures = pandera_engine.run(staged, row_rules, ctx)
    workdir = ingested.staged.parent
    failures_path = workdir / FAILURES_FILE
    failures.write_parquet(failures_path)
    row_outcomes = _row_outcomes(row_rules, failures, staged, ctx)
    suite, result, other = ge_engine.validate(rules, ctx, ingested.staged, workdir, row_outcomes, ingested.rows_in, failures_path)
    suite_path, result_path = workdir / GE_SUITE_FILE, workdir / GE_RESULT_FILE
    suite_path.write_text(json.dumps(suite, indent=2, default=str), encoding="utf-8")
    result_path.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    by_id = {**row_outcomes, **{o.rule_id: o for o in other}}
    return Validated(
        ingested=ingested, outcomes=[by_id[r.id] for r in rules], rules=rules, failures=failures_path,
        ge_suite=suite_path, ge_result=result_path, ge_success=bool(result.get("success")),
    )  # fmt: skip
