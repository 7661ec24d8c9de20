"""Stage 2: run every rule once, on the engine that suits it, and keep what each rule measured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.ingest.cast import needs_raw
from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW
from pipelines.ingest.shape import SHORT_FIELDS
from pipelines.quality import ge_engine, ge_worker, pandera_engine
from pipelines.quality.enrich_kind import enrich_rules
from pipelines.quality.field_count import field_count_rule
from pipelines.quality.kinds import FAIL, SUSPECT, Context, DType, describe
from pipelines.quality.registry import executor_for
from pipelines.quality.results import RuleOutcome
from pipelines.quality.text_rules import nul_rules
from pipelines.spec.loader import LoadedDataset
from pipelines.spec.rules import RuleBase
from pipelines.stages.ge_share import DATA_DOCS_FILE, GE_RESULT_FILE, GE_SUITE_FILE, validate_and_document
from pipelines.stages.ingest import ROW_ID, Ingested

FAILURES_FILE = "failures.parquet"  # (_row_id, rule_id, flag, reason) per flagged row and rule
REASON = "reason"
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
    data_docs: Path | None = None  # the Data Docs page of `ge_result`, rendered in the same call
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
        for c in loaded.spec.declared_columns
        if needs_raw(c)
    ]
    spec = loaded.spec
    dtype_rules += enrich_rules(spec)  # `enrich.<name>.missing`: a row whose key is not in its lookup file
    dtype_rules += nul_rules(spec)  # `text.no_nul.<column>`: a text value holding a NUL byte
    if spec.partitions is None:
        return [*dtype_rules, *loaded.rules]
    from pipelines.partitions import window_rule

    return [*dtype_rules, *loaded.rules, window_rule(spec, partition or spec.partitions.start)]


def context(loaded: LoadedDataset) -> Context:
    """The executors' context of a loaded dataset."""
    return Context(loaded.spec, root=loaded.spec_path.parent.parent)


def _with_reasons(failures: pl.DataFrame, staged: pl.LazyFrame, rules: list[RuleBase], ctx: Context) -> pl.DataFrame:
    """Each flagged (row, rule) with its readable reason, computed once for every rule that flagged a row.

    Reasons are computed over the whole frame (some use medians or neighbours), then cut to the flagged rows.
    """
    if not failures.height:
        return failures.with_columns(pl.lit(None, dtype=pl.String).alias(REASON))
    by_rule = {r.id: r for r in rules}
    wanted = sorted(set(failures["rule_id"].unique().to_list()))
    ids = pl.col(ROW_ID).is_in(pl.Series(failures[ROW_ID].unique(), dtype=pl.UInt32).implode())
    far = [rid for rid in wanted if executor_for(by_rule[rid]).reason_windowed]
    near = [rid for rid in wanted if rid not in far]
    parts = []
    if near:  # a row's own values explain it: cut to the flagged rows first
        parts.append(staged.filter(ids).with_columns([executor_for(by_rule[r]).reason(by_rule[r], ctx).alias(r) for r in near]))
    if far:  # computed over the whole frame (medians, neighbours), then cut
        parts.append(staged.with_columns([executor_for(by_rule[r]).reason(by_rule[r], ctx).alias(r) for r in far]).filter(ids))
    why = pl.concat(
        [
            p.select(ROW_ID, *cols).collect().unpivot(index=ROW_ID, on=cols, variable_name="rule_id", value_name=REASON)
            for p, cols in zip(parts, [c for c in (near, far) if c], strict=True)
        ]
    )
    return failures.join(why, on=[ROW_ID, "rule_id"], how="left")


def _row_outcomes(
    rules: list[RuleBase], failures: pl.DataFrame, flags: list[pl.LazyFrame], staged: pl.LazyFrame, ctx: Context
) -> dict[str, RuleOutcome]:
    if not rules:
        return {}
    counts = {(rid, flag): n for rid, flag, n in failures.group_by("rule_id", "flag").agg(pl.col(ROW_ID).n_unique()).iter_rows()}
    evaluated = pandera_engine.evaluated_counts(flags, rules)
    samples = failures.sort(ROW_ID).group_by("rule_id", maintain_order=True).head(SAMPLES_PER_RULE)
    where = (
        staged.select(ROW_ID, pl.format("{}:{}", pl.col(SOURCE_FILE), pl.col(SOURCE_ROW)).alias("__where"))
        .filter(pl.col(ROW_ID).is_in(pl.Series(samples[ROW_ID].unique(), dtype=pl.UInt32).implode()))
        .collect()
    )
    samples = samples.join(where, on=ROW_ID, how="left").sort(ROW_ID)
    out: dict[str, RuleOutcome] = {}
    for r in rules:
        ex = executor_for(r)
        failed, suspect, n = int(counts.get((r.id, FAIL), 0)), int(counts.get((r.id, SUSPECT), 0)), evaluated.get(r.id, 0)
        picked = samples.filter(pl.col("rule_id") == r.id)
        out[r.id] = RuleOutcome(
            rule_id=r.id, kind=r.kind, severity=r.severity, engine="pandera", columns=r.columns_used(),
            description=r.description, params=describe(r), evaluated=n, failed=failed, suspect=suspect,
            measures=tuple(ex.measures(r, ctx, n, failed, suspect)), samples=tuple(picked[REASON].to_list()),
            sample_rows=tuple(picked["__where"].to_list()),
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
        _, _, outcomes = ge_worker.call(ge_engine.validate, rules, context(loaded), data_file, Path(tmp), {}, rows)
    return outcomes


def validate(loaded: LoadedDataset, ingested: Ingested, *, meanwhile: Callable[[], object] | None = None) -> Validated:
    """Run pandera over the row-level rules and Great Expectations over the dataset-level ones.

    `meanwhile` runs while the Great Expectations worker (`quality.ge_worker`) validates, when there is one.

    Bad data never raises here: it becomes flagged rows and failing measures.
    """
    if ingested.unchanged or ingested.staged is None:
        return Validated(ingested=ingested)
    ctx = context(loaded)
    rules = all_rules(loaded, ingested.partition)
    if SHORT_FIELDS in pl.read_parquet_schema(ingested.staged):  # a file had rows shorter than its header
        rules = [field_count_rule(), *rules]
    row_rules = [r for r in rules if executor_for(r).engine == "pandera"]
    staged = pl.scan_parquet(ingested.staged)
    workdir = ingested.staged.parent
    failures = _with_reasons(pandera_engine.run(staged, row_rules, ctx, workdir), staged, row_rules, ctx)
    failures_path = workdir / FAILURES_FILE
    failures.write_parquet(failures_path)
    flags = [pl.scan_parquet(f) for f in pandera_engine.flag_files(workdir)]
    row_outcomes = _row_outcomes(row_rules, failures, flags, staged, ctx)
    quality = "../../" if ingested.partition else ""  # where the page will sit: quality/ or quality/partitions/<tag>/
    success, other = ge_worker.call(
        validate_and_document, rules, ctx, ingested.staged, workdir, row_outcomes, ingested.rows_in, failures_path,
        ingested.run_id, quality, meanwhile=meanwhile,
    )  # fmt: skip
    ge_worker.validation_done()
    by_id = {**row_outcomes, **{o.rule_id: o for o in other}}
    return Validated(
        ingested=ingested, outcomes=[by_id[r.id] for r in rules], rules=rules, failures=failures_path,
        ge_suite=workdir / GE_SUITE_FILE, ge_result=workdir / GE_RESULT_FILE, data_docs=workdir / DATA_DOCS_FILE,
        ge_success=success,
    )  # fmt: skip
