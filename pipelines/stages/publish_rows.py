"""Stage 3, rows: split a run's staged rows into the published data file and the quarantine file.

Each quarantined row carries the error rules that sent it there, with their reasons; each published row
the warn rules that flagged it. Both files are counted and digested as they stream (`quality.integrity`),
and the counts must add up to the rows that came in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.errors import CountMismatchError
from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW
from pipelines.models.corrections import EXCLUDED
from pipelines.models.feedback import EXCLUDE_RULE
from pipelines.quality.integrity import Tally, tallied, written_entry
from pipelines.quality.kinds import FAIL, GOOD, POLARS_DTYPES, SUSPECT
from pipelines.spec.loader import LoadedDataset
from pipelines.stages.ingest import ROW_ID
from pipelines.stages.validate import Validated, all_rules

WARN_RULES = "_warn_rules"
QC_FLAG = "_qc_flag"
FAILED_RULES = "_failed_rules"
REASONS = "_reasons"
_LIST = pl.List(pl.String)


def _per_row(failures: pl.LazyFrame, rules: list[Any]) -> pl.LazyFrame:
    """Per flagged row: the error rules that quarantine it (with their reasons, in rule order), the rules that flag it."""
    sev = pl.DataFrame(
        {"rule_id": [r.id for r in rules], "severity": [r.severity for r in rules], "_order": list(range(len(rules)))},
        schema={"rule_id": pl.String, "severity": pl.String, "_order": pl.UInt32},
    ).lazy()
    f = failures.join(sev, on="rule_id", how="left")
    quarantine = (pl.col("flag") == FAIL) & (pl.col("severity") == "error")
    flagged = (pl.col("flag") == SUSPECT) | ((pl.col("flag") == FAIL) & (pl.col("severity") == "warn"))
    return f.group_by(ROW_ID).agg(
        pl.col("rule_id").filter(quarantine).unique().sort().alias(FAILED_RULES),
        pl.col("rule_id").filter(flagged).unique().sort().alias(WARN_RULES),
        pl.col("flag").filter(flagged).max().alias(QC_FLAG),
        pl.format("{}: {}", pl.col("rule_id"), pl.col("reason"))
        .filter(quarantine)
        .sort_by(pl.col("_order").filter(quarantine))
        .alias(REASONS),
    )


def _flagged_rows(staged: pl.LazyFrame, failures: pl.LazyFrame, rules: list[Any]) -> pl.DataFrame:
    """`_per_row` of the failures, plus the rows accepted feedback excludes (quarantined under `feedback.exclude`)."""
    flagged = _per_row(failures, rules).collect()
    if EXCLUDED not in staged.collect_schema().names():
        return flagged
    out = staged.filter(pl.col(EXCLUDED).is_not_null()).select(ROW_ID, EXCLUDED).collect()
    empty = pl.lit([], dtype=_LIST)
    return (
        flagged.join(out, on=ROW_ID, how="full", coalesce=True)
        .with_columns(pl.col(FAILED_RULES, WARN_RULES, REASONS).fill_null(empty))
        .with_columns(
            pl.when(pl.col(EXCLUDED).is_not_null())
            .then(pl.concat_list([pl.col(FAILED_RULES), pl.lit([EXCLUDE_RULE], dtype=_LIST)]))
            .otherwise(pl.col(FAILED_RULES))
            .alias(FAILED_RULES),
            pl.when(pl.col(EXCLUDED).is_not_null())
            .then(pl.concat_list([pl.col(REASONS), pl.format("{}: {}", pl.lit(EXCLUDE_RULE), pl.col(EXCLUDED))]))
            .otherwise(pl.col(REASONS))
            .alias(REASONS),
        )
        .drop(EXCLUDED)
    )


def _release(staged: pl.LazyFrame, flagged: pl.DataFrame, marked: pl.DataFrame, columns: list[str]) -> pl.LazyFrame:
    """The published rows, in staged order, as one stream: `columns` of every staged row no error rule quarantines.

    The rows no rule flagged stream through with `GOOD` and no warn rules; the (few) flagged rows that are
    published (`marked`, already joined with their flags) are merged back in by `_row_id` (both sides are in its
    order). This holds far less memory than a streamed order-keeping join of every row.
    """
    plain = (
        staged.filter(~pl.col(ROW_ID).is_in(flagged[ROW_ID].implode()))
        .with_columns(pl.lit(GOOD, dtype=pl.UInt8).alias(QC_FLAG), pl.lit([], dtype=_LIST).alias(WARN_RULES))
        .select(ROW_ID, *columns)
    )
    shown = marked.with_columns(pl.col(QC_FLAG).fill_null(GOOD).cast(pl.UInt8)).select(ROW_ID, *columns)
    return plain.merge_sorted(shown.lazy(), key=ROW_ID).select(columns)


@dataclass
class Rows:
    """What writing a run's rows produced: the counts and which rules sent or flagged how many rows."""

    rows_in: int
    rows_published: int
    rows_quarantined: int
    rows_warned: int
    quarantine_summary: list[dict[str, Any]]
    files: list[dict[str, Any]]  # the data and quarantine files as written: sha256, and rows and digest streamed

    @property
    def counts(self) -> dict[str, int]:
        """The manifest's `counts`."""
        return {k: getattr(self, k) for k in ("rows_in", "rows_published", "rows_quarantined", "rows_warned")}


def write_rows(loaded: LoadedDataset, v: Validated, folder: Path, data: str, quarantine: str) -> Rows:
    """Split a run's staged rows into the published data file and the quarantine file; check the counts add up.

    `data` and `quarantine` are paths inside the version `folder`. Each file's rows are counted and
    digested as the writer streams them (`quality.integrity.Tally`), the evidence X-1 checks.

    Raises:
        CountMismatchError: rows were lost or duplicated.
    """
    spec = loaded.spec
    ing = v.ingested
    assert ing.staged is not None and v.failures is not None
    rules = v.rules or all_rules(loaded)
    staged = pl.scan_parquet(ing.staged)
    flagged = _flagged_rows(staged, pl.scan_parquet(v.failures), rules)  # small: only rows some rule flagged
    bad = pl.col(FAILED_RULES).list.len() > 0
    cols = spec.column_names
    data_file, quarantine_file = folder / data, folder / quarantine
    for f in (data_file, quarantine_file):  # in the version folder, or in a Delta table beside it (`../published/...`)
        f.parent.mkdir(parents=True, exist_ok=True)
    written, held = Tally(), Tally()
    meta = spec.parquet_metadata()
    # The (few) flagged rows, cut from the staged file in one streamed pass and joined with their flags in memory.
    cut = (
        staged.filter(pl.col(ROW_ID).is_in(flagged[ROW_ID].implode()))
        .collect(engine="streaming")
        .join(flagged, on=ROW_ID, how="inner", maintain_order="left")
    )
    release = _release(staged, flagged, cut.filter(~bad), [*cols, QC_FLAG, WARN_RULES, SOURCE_FILE, SOURCE_ROW])
    tallied(release, written).sink_parquet(data_file, metadata=meta)
    q = cut.filter(bad).select([*cols, FAILED_RULES, REASONS, WARN_RULES, SOURCE_FILE, SOURCE_ROW])
    q = q.cast({c.name: POLARS_DTYPES[c.dtype] for c in spec.published_columns})
    q.write_parquet(quarantine_file, metadata=meta)
    held.add(q)
    files = [written_entry(folder, data, written), written_entry(folder, quarantine, held)]

    rows_published = written.rows
    rows_quarantined = q.height
    released = flagged.filter(~bad)
    rows_warned = released.filter(pl.col(WARN_RULES).list.len() > 0).height
    if ing.rows_in != rows_published + rows_quarantined:
        where = f" partition {ing.partition}:" if ing.partition else ""
        raise CountMismatchError(
            f"dataset `{spec.name}`:{where} rows_in={ing.rows_in} but published={rows_published} + "
            f"quarantined={rows_quarantined} = {rows_published + rows_quarantined}; nothing was published"
        )
    quarantine_summary = (
        q.select(pl.col(FAILED_RULES).explode().alias("rule_id")).drop_nulls().group_by("rule_id").len().sort("rule_id").rows()
    )
    warn_summary = (
        released.select(pl.col(WARN_RULES).explode().alias("rule_id"))
        .drop_nulls()
        .group_by("rule_id")
        .len()
        .sort("rule_id")
        .rows()
    )
    summary = [{"rule_id": r, "rows": n, "severity": "error"} for r, n in quarantine_summary] + [
        {"rule_id": r, "rows": n, "severity": "warn"} for r, n in warn_summary
    ]
    return Rows(ing.rows_in, rows_published, rows_quarantined, rows_warned, summary, files)
