"""Measure a demand against a version: strata covered, class balance, time covered, and the gap list."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from pipelines.models.demand import Demand

CLASS = "_class"
_TRUNC = {"hour": "1h", "day": "1d", "week": "1w", "month": "1mo"}


@dataclass(frozen=True)
class Gap:
    """One stratum, class or time span below what the demand requires."""

    kind: str  # stratum | class | time
    key: str
    required: int
    observed: int

    @property
    def shortfall(self) -> int:
        """Rows missing to meet the demand."""
        return max(self.required - self.observed, 0)


@dataclass
class DemandResult:
    """A demand measured against one version."""

    demand: str
    rows: int
    required_strata: int | None = None
    covered_strata: int | None = None
    classes: dict[str, int] = field(default_factory=dict)
    strata: dict[str, int] = field(default_factory=dict)
    periods_required: int | None = None
    periods_covered: int | None = None
    gaps: list[Gap] = field(default_factory=list)

    @property
    def representativeness(self) -> float | None:
        """Covered / required strata (None when the demand declares no strata)."""
        if not self.required_strata:
            return None
        return (self.covered_strata or 0) / self.required_strata

    @property
    def class_balance(self) -> float | None:
        """Smallest / largest class count (None without classes)."""
        if not self.classes:
            return None
        counts = list(self.classes.values())
        return min(counts) / max(counts) if max(counts) else None

    @property
    def time_coverage(self) -> float | None:
        """Covered / required periods (None without a time coverage demand)."""
        if not self.periods_required:
            return None
        return (self.periods_covered or 0) / self.periods_required

    @property
    def met(self) -> bool:
        """True when nothing falls short."""
        return not self.gaps

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for the manifest and the report)."""
        return {
            "demand": self.demand,
            "rows": self.rows,
            "required_strata": self.required_strata,
            "covered_strata": self.covered_strata,
            "representativeness": self.representativeness,
            "classes": self.classes,
            "class_balance": self.class_balance,
            "strata": self.strata,
            "time_coverage": self.time_coverage,
            "met": self.met,
            "gaps": [{**g.__dict__, "shortfall": g.shortfall} for g in self.gaps],
        }


def class_expr(demand: Demand) -> pl.Expr:
    """A row's class as text: the label's value, or the name of the one-hot column holding 1."""
    if demand.label:
        return pl.col(demand.label).cast(pl.String).alias(CLASS)
    cols = demand.one_hot_labels
    hot = pl.sum_horizontal([(pl.col(c).cast(pl.Int64) == 1).cast(pl.Int64) for c in cols])
    which = pl.coalesce([pl.when(pl.col(c).cast(pl.Int64) == 1).then(pl.lit(c)) for c in cols])
    return pl.when(hot == 1).then(which).when(hot == 0).then(pl.lit("none")).otherwise(pl.lit("multiple")).alias(CLASS)


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def stratum_key(values: dict[str, object]) -> str:
    """`type=L, machine=M3`."""
    return ", ".join(f"{k}={_text(v)}" for k, v in values.items())


def _required_values(values: tuple[object, ...], dtype: pl.DataType) -> pl.Series:
    """A demand's declared values in the column's own type (YAML `1` matches a float column's 1.0)."""
    s = pl.Series(values)
    try:
        return s.cast(dtype, strict=True)
    except pl.exceptions.PolarsError:
        return pl.Series([_text(v) for v in values]).cast(dtype, strict=False)


def _measure_strata(lf: pl.LazyFrame, demand: Demand, out: DemandResult) -> None:
    cols = list(demand.strata)
    schema = lf.collect_schema()
    counts = lf.group_by(cols).len().collect()
    observed = {tuple(r[c] for c in cols): int(r["len"]) for r in counts.iter_rows(named=True)}
    typed = [_required_values(demand.strata[c], schema[c]).to_list() for c in cols]
    shown = [[_text(v) for v in demand.strata[c]] for c in cols]
    need = max(demand.min_per_stratum, 1)
    out.required_strata = 0
    out.covered_strata = 0
    for combo, labels in zip(itertools.product(*typed), itertools.product(*shown), strict=True):
        out.required_strata += 1
        n = observed.get(combo, 0)
        key = stratum_key(dict(zip(cols, labels, strict=True)))
        out.strata[key] = n
        if n >= need:
            out.covered_strata += 1
        else:
            out.gaps.append(Gap("stratum", key, need, n))


def _measure_classes(lf: pl.LazyFrame, demand: Demand, out: DemandResult) -> None:
    counts = lf.with_columns(class_expr(demand)).group_by(CLASS).len().collect()
    observed = {str(r[CLASS]): int(r["len"]) for r in counts.iter_rows(named=True) if r[CLASS] is not None}
    wanted = [_text(c) for c in demand.classes] or sorted(observed)
    for c in wanted:
        n = observed.get(c, 0)
        out.classes[c] = n
        if n < max(demand.min_per_class, 1 if demand.classes else 0):
            out.gaps.append(Gap("class", f"class={c}", max(demand.min_per_class, 1), n))


def _measure_time(lf: pl.LazyFrame, demand: Demand, out: DemandResult) -> None:
    tc = demand.time_coverage
    assert tc is not None
    every = _TRUNC[tc.period]
    start, end = tc.start.replace(tzinfo=None), tc.end.replace(tzinfo=None)
    periods = pl.datetime_range(start, end, every, closed="left", eager=True).dt.truncate(every).unique().sort()
    col = pl.col(tc.column).cast(pl.Datetime("us"))
    counts = lf.filter((col >= start) & (col < end)).group_by(col.dt.truncate(every).alias("period")).len().collect()
    observed = {r["period"]: int(r["len"]) for r in counts.iter_rows(named=True)}
    out.periods_required = len(periods)
    out.periods_covered = 0
    run: list[tuple[datetime, int]] = []
    for p in periods:
        n = observed.get(p, 0)
        if n >= tc.min_rows_per_period:
            out.periods_covered += 1
            _close_run(run, tc.period, tc.min_rows_per_period, out)
        else:
            run.append((p, n))
    _close_run(run, tc.period, tc.min_rows_per_period, out)


def _close_run(run: list[tuple[datetime, int]], period: str, need: int, out: DemandResult) -> None:
    """Turn a run of consecutive short periods into one time gap."""
    if not run:
        return
    fmt = "%Y-%m-%d %H:00" if period == "hour" else "%Y-%m-%d"
    first, last = run[0][0].strftime(fmt), run[-1][0].strftime(fmt)
    key = first if len(run) == 1 else f"{first} .. {last} ({len(run)} {period}s)"
    out.gaps.append(Gap("time", key, need * len(run), sum(n for _, n in run)))
    run.clear()


def measure(lf: pl.LazyFrame, demand: Demand) -> DemandResult:
    """Measure `demand` against the published rows `lf` of one version."""
    out = DemandResult(demand=demand.name, rows=int(lf.select(pl.len()).collect().item()))
    if demand.strata:
        _measure_strata(lf, demand, out)
    if demand.task == "classification":
        _measure_classes(lf, demand, out)
    if demand.time_coverage:
        _measure_time(lf, demand, out)
    return out
