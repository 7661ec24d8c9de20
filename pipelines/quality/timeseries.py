"""QARTOD-style per-row quality flags for time series, as polars window expressions (ioos_qc semantics)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import polars.selectors as cs

GOOD, NOT_EVALUATED, SUSPECT, FAIL, MISSING = 1, 2, 3, 4, 9

_US = 1_000_000  # timestamps are handled as Int64 micro-units: µs, or 1e-6 of a numeric counter's unit
# ioos_qc.qartod.qartod_compare: later priorities overwrite earlier ones, so FAIL > SUSPECT > GOOD > UNKNOWN > MISSING.
_RANK = {MISSING: 0, NOT_EVALUATED: 1, GOOD: 2, SUSPECT: 3, FAIL: 4}


def _flag(flag: int) -> pl.Expr:
    return pl.lit(flag, dtype=pl.UInt8)


def _tus(ts: str) -> pl.Expr:
    """`ts` as Int64 micro-units, whatever its dtype (resolved lazily against the schema through selectors)."""
    col = cs.by_name(ts)
    return pl.coalesce(
        (col & (cs.datetime() | cs.date())).dt.epoch("us"),
        (col & cs.integer()).cast(pl.Int64) * _US,
        ((col & cs.float()).cast(pl.Float64) * _US).round().cast(pl.Int64),
    )


def _value(value: str) -> pl.Expr:
    """The value as Float64; NaN and infinities count as missing, as numpy.ma.masked_invalid makes them in ioos_qc."""
    x = pl.col(value).cast(pl.Float64)
    return pl.when(x.is_finite()).then(x)


def _per_series(inner: pl.Expr, x: pl.Expr, ts: str, entity: Sequence[str]) -> pl.Expr:
    """Evaluate `inner` per entity in time order. A row without a timestamp has no place in its series:
    it is left out of its neighbours' computations and flagged NOT EVALUATED (or MISSING if its value is null)."""
    series = inner.over([*entity, pl.col(ts).is_null()], order_by=ts)
    unplaced = pl.when(x.is_null()).then(_flag(MISSING)).otherwise(_flag(NOT_EVALUATED))
    return pl.when(pl.col(ts).is_null()).then(unplaced).otherwise(series).cast(pl.UInt8)


def gap_flags(ts: str, entity: Sequence[str], period_s: float, suspect_factor: float = 1.5, fail_factor: float = 3.0) -> pl.Expr:
    """Flag each sample by the interval since the previous sample of its entity.

    Args:
        ts: Timestamp column (Datetime, Date, or a numeric counter whose unit then stands for "seconds").
        entity: Columns identifying one series; empty for a single series.
        period_s: Expected sampling period in seconds.
        suspect_factor: Interval above `period_s * suspect_factor` is SUSPECT.
        fail_factor: Interval above `period_s * fail_factor` is FAIL.

    Returns:
        UInt8 flags in row order: 1, 3 or 4; the first sample of an entity is 1, a null timestamp 9.
    """
    dt = _tus(ts).diff() / _US
    inner = (
        pl.when(dt > period_s * fail_factor)
        .then(_flag(FAIL))
        .when(dt > period_s * suspect_factor)
        .then(_flag(SUSPECT))
        .otherwise(_flag(GOOD))
    )
    series = inner.over([*entity, pl.col(ts).is_null()], order_by=ts)
    return pl.when(pl.col(ts).is_null()).then(_flag(MISSING)).otherwise(series).cast(pl.UInt8)


def increasing_flags(ts: str, entity: Sequence[str]) -> pl.Expr:
    """Flag timestamps that do not strictly increase within an entity, in file order (out-of-order or repeated).

    Args:
        ts: Timestamp column (any orderable dtype).
        entity: Columns identifying one series; empty for a single series.

    Returns:
        UInt8 flags in row order: 4 where `ts` is not greater than the entity's previous non-null timestamp
        in file order, 9 where `ts` is null, else 1.
    """
    t = pl.col(ts)
    flags = (
        pl.when(t.is_null()).then(_flag(MISSING)).when(t <= t.forward_fill().shift(1)).then(_flag(FAIL)).otherwise(_flag(GOOD))
    )
    # The window goes outside the when/then: polars 2.1's streaming engine returns `when(<window condition>)
    # .then(<literal>).otherwise(<literal>)` in group order rather than row order when it is `select`ed.
    return (flags.over(list(entity)) if entity else flags).cast(pl.UInt8)


def spike_flags(
    value: str, ts: str, entity: Sequence[str], suspect_threshold: float | None, fail_threshold: float | None
) -> pl.Expr:
    """QARTOD spike test, as `ioos_qc.qartod.spike_test(method="average")` on each entity's time-sorted series.

    `|x[n] - (x[n-1] + x[n+1]) / 2|` above `fail_threshold` is FAIL, above `suspect_threshold` SUSPECT. The first and
    last samples, and samples with a null neighbour, are NOT EVALUATED; a null value is MISSING. As in ioos_qc a
    threshold of None or 0 disables that level.

    Args:
        value: Value column.
        ts: Timestamp column (Datetime, Date or numeric) that orders the series.
        entity: Columns identifying one series; empty for a single series.
        suspect_threshold: SUSPECT threshold in value units.
        fail_threshold: FAIL threshold in value units.

    Returns:
        UInt8 flags in row order.
    """
    x = _value(value)
    diff = (x - (x.shift(1) + x.shift(-1)) / 2).abs()
    flag = _flag(GOOD)
    if suspect_threshold:
        flag = pl.when(diff > suspect_threshold).then(_flag(SUSPECT)).otherwise(flag)
    if fail_threshold:
        flag = pl.when(diff > fail_threshold).then(_flag(FAIL)).otherwise(flag)
    inner = pl.when(x.is_null()).then(_flag(MISSING)).when(diff.is_null()).then(_flag(NOT_EVALUATED)).otherwise(flag)
    return _per_series(inner, x, ts, entity)


def rate_of_change_flags(
    value: str, ts: str, entity: Sequence[str], threshold_per_s: float, fail_threshold_per_s: float | None = None
) -> pl.Expr:
    """QARTOD rate-of-change test, as `ioos_qc.qartod.rate_of_change_test` on each entity's time-sorted series.

    `|x[n] - x[n-1]| / (t[n] - t[n-1])` above `threshold_per_s` is SUSPECT (above the optional `fail_threshold_per_s`
    FAIL). The first sample and a sample after a null are GOOD; a null value is MISSING. A change over a repeated
    timestamp is an infinite rate; no change over it is not flagged, as in ioos_qc. Deliberate differences: the
    interval keeps its fractional seconds, where ioos_qc truncates it to whole seconds (same result unless the
    timestamps have sub-second parts); an infinite value is missing like NaN, so the sample after it is GOOD,
    where ioos_qc computes the masked infinite difference anyway and flags that sample SUSPECT.

    Args:
        value: Value column.
        ts: Timestamp column (Datetime, Date, or a numeric counter whose unit then stands for "seconds").
        entity: Columns identifying one series; empty for a single series.
        threshold_per_s: SUSPECT threshold in value units per second.
        fail_threshold_per_s: Optional FAIL threshold in value units per second.

    Returns:
        UInt8 flags in row order.
    """
    x = _value(value)
    rate = ((x - x.shift(1)).abs() / (_tus(ts).diff() / _US)).fill_nan(None)
    flag = pl.when(rate > threshold_per_s).then(_flag(SUSPECT)).otherwise(_flag(GOOD))
    if fail_threshold_per_s is not None:
        flag = pl.when(rate > fail_threshold_per_s).then(_flag(FAIL)).otherwise(flag)
    return _per_series(pl.when(x.is_null()).then(_flag(MISSING)).otherwise(flag), x, ts, entity)


def _flat(x: pl.Expr, t: pl.Expr, threshold_s: float, tolerance: float) -> pl.Expr:
    """Per-series condition of ioos_qc's flat line test for one threshold (evaluated inside the series window)."""
    pos = pl.int_range(pl.len(), dtype=pl.Int64)
    median_us = t.diff().median()
    interval = (median_us // _US).cast(pl.Int64)  # ioos_qc: median interval truncated to whole seconds
    # count = int(threshold) // interval previous samples, plus the current one. The count window is a
    # rolling-by window on pos * m with a fixed width n: n > count * (count + 1) lets m = ceil(n / (count + 1))
    # separate count steps (< n) from count + 1 steps (>= n). count <= int(threshold) because interval >= 1, and
    # pos * m ~ threshold * series span (in s^2) stays far below 2**63.
    whole = int(threshold_s)
    n = whole * (whole + 1) + 1
    count = pl.lit(whole, dtype=pl.Int64) // interval
    by = pos * ((n + count) // (count + 1))
    by_count = (x.rolling_max_by(by, f"{n}i") - x.rolling_min_by(by, f"{n}i") < tolerance) & (pos >= count)
    # Sub-second sampling (interval truncates to 0, where ioos_qc divides by zero): a time window
    # [t - threshold, t] instead, once `threshold / median interval` samples precede.
    span = f"{round(threshold_s * _US)}i"
    by_time = (x.rolling_max_by(t, span, closed="both") - x.rolling_min_by(t, span, closed="both") < tolerance) & (
        pos >= (threshold_s * _US / median_us).floor()
    )
    return pl.when(interval >= 1).then(by_count).otherwise(by_time).fill_null(False) & (pl.len() >= 3)


def flat_line_flags(value: str, ts: str, entity: Sequence[str], suspect_s: float, fail_s: float, tolerance: float) -> pl.Expr:
    """QARTOD flat line test, as `ioos_qc.qartod.flat_line_test` on each entity's time-sorted series.

    ioos_qc windows by observations, not by time: with `interval` the series' median sampling interval truncated to
    whole seconds, a sample is flagged when it and the `int(threshold) // interval` samples before it (nulls ignored,
    gaps not considered) span a range `max - min < tolerance`. Samples before the first full window, and every
    sample of a series shorter than 3, are GOOD. Deliberate differences: a null value is MISSING even in a series
    shorter than 3 (ioos_qc returns GOOD there); when the median interval is under one second (ioos_qc divides by
    zero) the window is the time window `[t - threshold, t]`; a series whose median interval is 0 is never flagged.

    Args:
        value: Value column.
        ts: Timestamp column (Datetime, Date, or a numeric counter whose unit then stands for "seconds").
        entity: Columns identifying one series; empty for a single series.
        suspect_s: Seconds of flat signal before SUSPECT.
        fail_s: Seconds of flat signal before FAIL.
        tolerance: The range a non-flat window reaches (strictly-below is flat).

    Returns:
        UInt8 flags in row order: 1, 3, 4, or 9 for a null value.
    """
    x, t = _value(value), _tus(ts)
    inner = (
        pl.when(x.is_null())
        .then(_flag(MISSING))
        .when(_flat(x, t, fail_s, tolerance))
        .then(_flag(FAIL))
        .when(_flat(x, t, suspect_s, tolerance))
        .then(_flag(SUSPECT))
        .otherwise(_flag(GOOD))
    )
    return _per_series(inner, x, ts, entity)


def attenuated_flags(
    value: str,
    ts: str,
    entity: Sequence[str],
    window_s: float | None,
    suspect_threshold: float,
    fail_threshold: float,
    check_type: str = "std",
    min_obs: int | None = None,
) -> pl.Expr:
    """QARTOD attenuated signal test, as `ioos_qc.qartod.attenuated_signal_test` on each entity's time-sorted series.

    The check value is the population std (`check_type="std"`) or the range (`"range"`) of the non-null values in
    the time window `(t - window_s, t]`, or of the whole series when `window_s` is None or 0. Below `fail_threshold`
    is FAIL, below `suspect_threshold` SUSPECT; a window with fewer than `min_obs` non-null values (default 1) is
    NOT EVALUATED, and, as in ioos_qc (pandas applies `np.ptp` to the raw window), so is a "range" window holding a
    null. A null value is MISSING. Deliberate differences: samples sharing a timestamp all see the same window,
    holding every one of them (pandas ends the window at the current row, so the earlier ones see fewer);
    ioos_qc's `min_period` is not offered (pass `min_obs`).

    Args:
        value: Value column.
        ts: Timestamp column (Datetime, Date, or a numeric counter whose unit then stands for "seconds").
        entity: Columns identifying one series; empty for a single series.
        window_s: Window length in seconds, or None for the whole series.
        suspect_threshold: Check values below this are SUSPECT, in value units.
        fail_threshold: Check values below this are FAIL, in value units.
        check_type: "std" or "range".
        min_obs: Minimum non-null values in a window for a result.

    Returns:
        UInt8 flags in row order.
    """
    if check_type not in ("std", "range"):
        raise ValueError(f'check_type "{check_type}" is not one of ["std", "range"]')
    x, t = _value(value), _tus(ts)
    if not window_s:
        check = x.std(ddof=0) if check_type == "std" else x.max() - x.min()
    else:
        span = f"{round(window_s * _US)}i"
        if check_type == "std":
            check = x.rolling_std_by(t, span, ddof=0)
        else:
            nulls = x.is_null().cast(pl.Int64).rolling_sum_by(t, span)
            check = pl.when(nulls == 0).then(x.rolling_max_by(t, span) - x.rolling_min_by(t, span))
        if min_obs is not None:
            check = pl.when(x.is_not_null().cast(pl.Int64).rolling_sum_by(t, span) >= min_obs).then(check)
    inner = (
        pl.when(x.is_null())
        .then(_flag(MISSING))
        .when(check.is_null())
        .then(_flag(NOT_EVALUATED))
        .when(check < fail_threshold)
        .then(_flag(FAIL))
        .when(check < suspect_threshold)
        .then(_flag(SUSPECT))
        .otherwise(_flag(GOOD))
    )
    return _per_series(inner, x, ts, entity)


def worst(flags: list[pl.Expr]) -> pl.Expr:
    """Aggregate flags per row as `ioos_qc.qartod.qartod_compare`: FAIL > SUSPECT > GOOD > NOT EVALUATED > MISSING.

    Args:
        flags: Flag expressions (other values and nulls are ignored).

    Returns:
        UInt8 aggregate flag; 9 where no input has a QARTOD flag.
    """
    if not flags:
        raise ValueError("worst() needs at least one flag expression")
    ranks = [f.replace_strict(_RANK, default=None, return_dtype=pl.UInt8) for f in flags]
    back = {rank: flag for flag, rank in _RANK.items()}
    return pl.max_horizontal(ranks).replace_strict(back, default=MISSING, return_dtype=pl.UInt8)
