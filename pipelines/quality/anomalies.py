"""Anomalies across versions and partitions: volume, null shares, distinct counts and distribution shift (K-6).

A batch (a new version's published data, or one newly built partition) is compared with its history
(earlier published versions, or the partitions before it): row count and distinct counts against the
median of the history's batches, null shares and distributions against the history pooled. Numeric
columns are compared by the population stability index (PSI) over ten bins cut at the pooled
history's deciles; text columns by the total variation distance between their category shares. Each
comparison is one finding; a finding whose score exceeds the threshold of the spec's sensitivity is
an anomaly. Every pass over the data is a polars aggregation (streamed, linear in rows).

The interface is two functions (`detect`, `measure`) over LazyFrames, so the statistics can later be
read from stored column profiles instead of the Parquet files.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from pipelines.quality.anomaly_findings import CLAUSE, RULE_ID, anomalies_of, describe, measure
from pipelines.spec.anomalies import Anomalies
from pipelines.spec.models import NUMERIC_DTYPES

BINS = 10
MAX_CATEGORIES = 100  # text columns with more distinct values in the history are not compared by share
LOW_CARDINALITY = 0.5  # distinct counts are compared only where distinct / rows is at most this
_EPS = 1e-4  # floor of a bin's share in PSI (an empty bin would make it infinite)
_WATCHED_ROLES = ("measurement", "label", "attribute")
_TEXT = ("string", "bool")


@dataclass(frozen=True)
class Finding:
    """One comparison of a batch with its history."""

    metric: str  # volume | null_rate | distinct | psi | share_shift
    column: str | None  # None for volume
    baseline: float  # the history's value (median rows, pooled null share, median distinct; 0 for psi/share)
    observed: float  # the batch's value (rows, null share, distinct, PSI, total variation distance)
    score: float  # the size of the change, compared with the threshold
    threshold: float
    reference: str  # what the history was: `v3`, `v1..v3`, `2026-03-01..2026-03-07`
    partition: str | None = None  # the partition compared, for a partitioned dataset

    @property
    def flagged(self) -> bool:
        """True when the change is an anomaly."""
        return self.score > self.threshold

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the manifest and the catalog."""
        return {**asdict(self), "flagged": self.flagged}


def watched_columns(spec: Any, cfg: Anomalies) -> dict[str, str]:
    """Column name -> "numeric" | "text" for the columns the detector compares (personal columns never by share)."""
    out = {}
    for c in spec.published_columns:
        if cfg.columns and c.name not in cfg.columns:
            continue
        if not cfg.columns and (c.role not in _WATCHED_ROLES or c.name in spec.primary_key):
            continue
        if c.dtype in NUMERIC_DTYPES:
            out[c.name] = "numeric"
        elif c.dtype in _TEXT:
            out[c.name] = "text" if spec.sensitivity(c.name) != "personal" else "nulls"
    return out


def _counts(lf: pl.LazyFrame, cols: list[str]) -> dict[str, Any]:
    """Rows, nulls and distinct values per column, in one aggregation."""
    exprs = [pl.len().alias("__rows")]
    for i, c in enumerate(cols):
        exprs += [pl.col(c).null_count().alias(f"n{i}"), pl.col(c).drop_nulls().n_unique().alias(f"d{i}")]
    return lf.select(exprs).collect().row(0, named=True)


def _shares(lf: pl.LazyFrame, expr: pl.Expr) -> dict[Any, float]:
    """Share of each value of `expr` among its non-null values."""
    vc = lf.select(expr.alias("v")).drop_nulls().group_by("v").len().collect()
    total = vc["len"].sum()
    return {v: n / total for v, n in vc.iter_rows()} if total else {}


def _bin(col: str, edges: list[float]) -> pl.Expr:
    return pl.sum_horizontal([(pl.col(col) > e).cast(pl.UInt8) for e in edges]) if edges else pl.lit(0)


def psi(base: dict[Any, float], cur: dict[Any, float]) -> float:
    """Population stability index of two share tables: sum over bins of (cur - base) * ln(cur / base)."""
    total = 0.0
    for k in set(base) | set(cur):
        p, q = max(base.get(k, 0.0), _EPS), max(cur.get(k, 0.0), _EPS)
        total += (q - p) * math.log(q / p)
    return total


def total_variation(base: dict[Any, float], cur: dict[Any, float]) -> float:
    """Total variation distance of two share tables: half the sum of absolute share differences (0 to 1)."""
    return 0.5 * sum(abs(base.get(k, 0.0) - cur.get(k, 0.0)) for k in set(base) | set(cur))


def detect(
    batch: pl.LazyFrame,
    history: list[pl.LazyFrame],
    columns: dict[str, str],
    cfg: Anomalies,
    reference: str,
    partition: str | None = None,
) -> list[Finding]:
    """Compare `batch` with `history` (oldest first); no findings when the history is shorter than `min_history`.

    Args:
        batch: The new data (a version's published rows, or one partition's).
        history: The earlier batches the baseline is made of (at most `cfg.window` are used, the newest).
        columns: What to compare, as `watched_columns` returns.
        cfg: The spec's `anomalies` block.
        reference: How findings name the history (`v3`, `2026-03-01..2026-03-07`).
        partition: The partition `batch` is, for a partitioned dataset.
    """
    history = history[-cfg.window :]
    if len(history) < cfg.min_history:
        return []
    t = cfg.thresholds
    cols = list(columns)
    past = [_counts(h, cols) for h in history]
    now = _counts(batch, cols)
    pooled = pl.concat(history, how="vertical_relaxed")
    out: list[Finding] = []

    def add(metric: str, column: str | None, base: float, seen: float, score: float, thr: float) -> None:
        out.append(Finding(metric, column, base, seen, score, thr, reference, partition))

    base_rows = statistics.median(p["__rows"] for p in past)
    rows = now["__rows"]
    if base_rows:
        add("volume", None, base_rows, rows, abs(rows / base_rows - 1), t.volume)
    pooled_rows = sum(p["__rows"] for p in past)
    if not rows or not pooled_rows:
        return out
    numeric = [c for c in cols if columns[c] == "numeric"]  # every column's decile edges in one pass over the history
    deciles = (
        pooled.select(pl.col(c).quantile(q / BINS, "linear").alias(f"{c}\x00{q}") for c in numeric for q in range(1, BINS))
        .collect()
        .row(0, named=True)
        if numeric
        else {}
    )
    for i, c in enumerate(cols):
        base_null = sum(p[f"n{i}"] for p in past) / pooled_rows
        null = now[f"n{i}"] / rows
        add("null_rate", c, base_null, null, abs(null - base_null), t.null_rate)
        base_d = statistics.median(p[f"d{i}"] for p in past)
        if columns[c] != "nulls" and base_d and base_d <= LOW_CARDINALITY * base_rows:
            add("distinct", c, base_d, now[f"d{i}"], abs(now[f"d{i}"] / base_d - 1), t.distinct)
        if columns[c] == "numeric":
            edges = sorted({float(v) for q in range(1, BINS) if (v := deciles[f"{c}\x00{q}"]) is not None})
            if edges:
                s = psi(_shares(pooled.filter(pl.col(c).is_not_null()), _bin(c, edges)),
                        _shares(batch.filter(pl.col(c).is_not_null()), _bin(c, edges)))  # fmt: skip
                add("psi", c, 0.0, s, s, t.psi)
        elif columns[c] == "text" and max(p[f"d{i}"] for p in past) <= MAX_CATEGORIES:
            s = total_variation(_shares(pooled, pl.col(c).cast(pl.String)), _shares(batch, pl.col(c).cast(pl.String)))
            add("share_shift", c, 0.0, s, s, t.share)
    return out


__all__ = ["CLAUSE", "RULE_ID", "anomalies_of", "describe", "detect", "measure", "psi", "total_variation", "watched_columns"]
