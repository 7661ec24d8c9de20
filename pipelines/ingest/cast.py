"""Convert raw values to the spec's dtypes, keeping the raw value where a conversion can fail.

Every conversion is non-strict: a value that does not convert becomes null, and the `schema.dtype`
rule flags the row by comparing it with `__raw__<name>`. That holds for the time and unit options too:
an unparseable timestamp, an epoch outside years 1-9999, Excel serial 60 (the fictitious 1900-02-29)
or a local time that a daylight-saving gap skips all give null.

Time. Published `datetime` columns are naive `Datetime("us")` holding **UTC**: the freshness rule
compares them with naive UTC now, the dtype rule's expectation is a DuckDB `TIMESTAMP`, and the
time-series rules only need an order. A column with `timezone` is read as local time there and
converted; the autumn overlap is read as the earlier instant (`ambiguous="earliest"`), the
spring-forward gap gives null (`non_existent="null"`). Values with an offset (`+08:00`, `Z`) use it.
Epoch values are UTC; Excel serials are local wall-clock times like parsed text.

Units. A column with `source_unit` is converted to `unit` by one vectorised affine expression whose
coefficients pint computes once (`pipelines.spec.column_checks.unit_conversion`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import polars as pl

from pipelines.errors import SourceError
from pipelines.ingest.readers import SOURCE_FILE
from pipelines.quality.kinds import POLARS_DTYPES, RAW_PREFIX
from pipelines.spec.column_checks import unit_conversion
from pipelines.spec.models import Column, DatasetSpec, original_name

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]

AUTO = "auto"
AMBIGUOUS: Literal["earliest"] = "earliest"  # the autumn overlap: the first (daylight-saving) instant
SAMPLE_SIZE = 1000  # first non-null values a file's `format: auto` is detected from

# (format, field order). Order decides ties; `dmy` and `mdy` both matching every value is ambiguous.
DATE_FORMATS: tuple[tuple[str, str], ...] = (
    ("%Y-%m-%d", "ymd"),
    ("%Y/%m/%d", "ymd"),
    ("%Y年%m月%d日", "ymd"),
    ("%d.%m.%Y", "dmy"),
    ("%d/%m/%Y", "dmy"),
    ("%m/%d/%Y", "mdy"),
)
DATETIME_FORMATS: tuple[tuple[str, str], ...] = (
    ("%Y-%m-%dT%H:%M:%S%.f", "ymd"),
    ("%Y-%m-%d %H:%M:%S%.f", "ymd"),
    ("%Y-%m-%dT%H:%M:%S%.f%#z", "ymd"),
    ("%Y-%m-%d %H:%M:%S%.f%#z", "ymd"),
    ("%Y-%m-%dT%H:%M", "ymd"),
    ("%Y-%m-%d %H:%M", "ymd"),
    ("%Y/%m/%d %H:%M:%S%.f", "ymd"),
    ("%Y/%m/%d %H:%M", "ymd"),
    ("%Y年%m月%d日 %H:%M:%S", "ymd"),
    ("%Y年%m月%d日 %H:%M", "ymd"),
    ("%Y年%m月%d日 %H时%M分%S秒", "ymd"),
    ("%d.%m.%Y %H:%M:%S%.f", "dmy"),
    ("%d.%m.%Y %H:%M", "dmy"),
    ("%d/%m/%Y %H:%M:%S%.f", "dmy"),
    ("%d/%m/%Y %H:%M", "dmy"),
    ("%m/%d/%Y %H:%M:%S%.f", "mdy"),
    ("%m/%d/%Y %H:%M", "mdy"),
    ("%m/%d/%Y %I:%M:%S %p", "mdy"),
    ("%m/%d/%Y %I:%M %p", "mdy"),
    *DATE_FORMATS,
)

_US_PER_UNIT = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}
_EPOCH = datetime(1970, 1, 1)
_MIN_US = int((datetime(1, 1, 1) - _EPOCH).total_seconds()) * 1_000_000
_MAX_US = int((datetime(9999, 12, 31, 23, 59, 59) - _EPOCH).total_seconds()) * 1_000_000
_EXCEL_UNIX_DAY = 25569  # serial of 1970-01-01 (days since 1899-12-30)
_EXCEL_MAX = 2958466  # first serial after 9999-12-31
_MS_PER_DAY = 86_400_000


def needs_raw(col: Column) -> bool:
    """Whether converting this column can fail (so its raw value must be kept for the dtype rule)."""
    return col.dtype != "string"


def conversion_text(column: Column) -> str | None:
    """The column's unit conversion in words, e.g. `degF -> degC: x * 5/9 - 160/9`; None without `source_unit`.

    Args:
        column: A spec column.

    Returns:
        The text to record in the manifest and the field dictionary, or None when nothing is converted.
    """
    if column.source_unit is None or column.unit is None:
        return None
    return unit_conversion(column.source_unit, column.unit).text()


def _is_string(dtype: pl.DataType | None) -> bool:
    return dtype == pl.String()


def _as_float(raw: pl.Expr, raw_dtype: pl.DataType | None) -> pl.Expr:
    return (raw.str.strip_chars() if _is_string(raw_dtype) else raw).cast(pl.Float64, strict=False)


def _as_int(raw: pl.Expr, raw_dtype: pl.DataType | None) -> pl.Expr:
    """Integer raw values as Int64 (exact), else null; fractional text or floats give null."""
    if _is_string(raw_dtype):
        return raw.str.strip_chars().cast(pl.Int64, strict=False)
    if raw_dtype is not None and raw_dtype.is_integer():
        return raw.cast(pl.Int64, strict=False)
    return pl.lit(None, dtype=pl.Int64)


def _numeric(col: Column, raw: pl.Expr, raw_dtype: pl.DataType | None) -> pl.Expr:
    """A number in the column's dtype, converted from `source_unit` to `unit` when both are declared."""
    target = POLARS_DTYPES[col.dtype]
    if col.source_unit is None or col.unit is None:
        return (raw.str.strip_chars() if _is_string(raw_dtype) else raw).cast(target, strict=False)
    a, b, d = unit_conversion(col.source_unit, col.unit).coefficients()
    x = _as_float(raw, raw_dtype)
    if a != 1:
        x = x * a
    if b:
        x = x + b
    if d != 1:
        x = x / d
    return x.cast(target, strict=False)


def _epoch(encoding: str, raw: pl.Expr, raw_dtype: pl.DataType | None) -> pl.Expr:
    """Seconds, milliseconds or microseconds since 1970-01-01 UTC -> naive UTC datetime; null outside years 1-9999."""
    per = _US_PER_UNIT[encoding]
    f = _as_float(raw, raw_dtype)
    us = pl.coalesce(_as_int(raw, raw_dtype) * per, (f * per).round().cast(pl.Int64, strict=False))
    ok = f.is_finite() & f.is_between(_MIN_US / per, _MAX_US / per)
    return pl.when(ok).then(us).otherwise(None).cast(pl.Datetime("us"))


def _excel(raw: pl.Expr, raw_dtype: pl.DataType | None) -> pl.Expr:
    """Excel 1900-system serial -> naive datetime, to the millisecond.

    Serials from 61 (1900-03-01) count days since 1899-12-30; 1 to 59 since 1899-12-31, because Excel
    counts a 1900-02-29 that did not exist as serial 60, which is invalid (null), as is anything below 1.
    """
    f = _as_float(raw, raw_dtype)
    unix_days = (
        pl.when((f >= 61) & (f < _EXCEL_MAX))
        .then(f - _EXCEL_UNIX_DAY)
        .when((f >= 1) & (f < 60))
        .then(f - (_EXCEL_UNIX_DAY - 1))
        .otherwise(None)
    )
    ms = (unix_days * _MS_PER_DAY).round().cast(pl.Int64, strict=False)
    return (ms * 1000).cast(pl.Datetime("us"))


def _has_offset(fmt: str | None) -> bool:
    return bool(fmt and re.search(r"%[:#]?z", fmt))


def _to_naive_utc(expr: pl.Expr) -> pl.Expr:
    """A time-zone-aware datetime as naive UTC."""
    return expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)


def _local_to_utc(expr: pl.Expr, timezone: str) -> pl.Expr:
    """Naive local times in `timezone` as naive UTC; a time the DST gap skips is null, an overlap the earlier instant."""
    return _to_naive_utc(expr.dt.replace_time_zone(timezone, ambiguous=AMBIGUOUS, non_existent="null"))


def _instant(col: Column, raw: pl.Expr, raw_dtype: pl.DataType | None, fmt: str | None) -> tuple[pl.Expr, bool]:
    """The raw value as a datetime (or date), and whether it is a local time that `timezone` applies to."""
    if isinstance(raw_dtype, pl.Datetime) and raw_dtype.time_zone is not None:
        return _to_naive_utc(raw.cast(pl.Datetime("us", raw_dtype.time_zone))), False
    if col.time_encoding is not None and not isinstance(raw_dtype, pl.Datetime | pl.Date):
        if col.time_encoding == "excel_serial":
            return _excel(raw, raw_dtype), True
        return _epoch(col.time_encoding, raw, raw_dtype), False
    if not _is_string(raw_dtype):
        return raw.cast(POLARS_DTYPES[col.dtype], strict=False), True
    s = raw.str.strip_chars()
    if col.dtype == "date":
        return s.str.to_date(format=fmt, strict=False), False
    parsed = s.str.to_datetime(format=fmt, time_unit="us", strict=False)
    if _has_offset(fmt):
        return _to_naive_utc(parsed), False
    return parsed, True


def _time(col: Column, raw: pl.Expr, raw_dtype: pl.DataType | None, fmt: str | None) -> pl.Expr:
    """A `date`/`datetime` value; datetimes are naive UTC (see the module docstring)."""
    value, local = _instant(col, raw, raw_dtype, fmt)
    if col.dtype == "date":
        return value.cast(pl.Date, strict=False)
    if local and col.timezone is not None:
        value = _local_to_utc(value, col.timezone)
    return value.cast(pl.Datetime("us"), strict=False)


def _convert(col: Column, raw: pl.Expr, raw_dtype: pl.DataType | None, fmt: str | None) -> pl.Expr:
    if col.dtype in ("date", "datetime"):
        return _time(col, raw, raw_dtype, fmt)
    if not _is_string(raw_dtype):
        return _numeric(col, raw, raw_dtype)
    if col.dtype == "string":
        return raw
    if col.dtype == "bool":
        low = raw.str.strip_chars().str.to_lowercase()
        return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).otherwise(None)
    return _numeric(col, raw, raw_dtype)


def detect_format(values: Sequence[str], dtype: str) -> str:
    """The format among the known ones (`DATETIME_FORMATS`, `DATE_FORMATS`) that reads the most `values`.

    Args:
        values: Stripped, non-empty raw values (a file's first ones).
        dtype: `datetime` or `date`.

    Returns:
        The format; the first known one when `values` is empty.

    Raises:
        ValueError: no format reads any value, or day-first and month-first formats read equally many
            (e.g. every value is `03/02/2026 14:00`), so the day cannot be told from the month.
    """
    candidates = DATE_FORMATS if dtype == "date" else DATETIME_FORMATS
    if not values:
        return candidates[0][0]
    v = pl.col("v")

    def parse(fmt: str) -> pl.Expr:
        if dtype == "date":
            return v.str.to_date(format=fmt, strict=False)
        return v.str.to_datetime(format=fmt, time_unit="us", strict=False)

    frame = pl.DataFrame({"v": list(values)}, schema={"v": pl.String})
    counts = frame.select([parse(f).is_not_null().sum().alias(str(i)) for i, (f, _) in enumerate(candidates)]).row(0)
    best = max(counts)
    if best == 0:
        raise ValueError(f"values such as `{values[0]}` match none of the formats `format: auto` knows")
    winners = [candidates[i] for i, n in enumerate(counts) if n == best]
    orders = {order for _, order in winners}
    if {"dmy", "mdy"} <= orders:
        dmy = next(f for f, o in winners if o == "dmy")
        mdy = next(f for f, o in winners if o == "mdy")
        example = frame.filter(parse(dmy).is_not_null() & parse(mdy).is_not_null())["v"][0]
        raise ValueError(f"day and month cannot be told apart: values such as `{example}` read both as `{dmy}` and as `{mdy}`")
    return winners[0][0]


def _sample(lf: pl.LazyFrame, col: Column) -> tuple[list[str], str]:
    """A file's first non-empty values of a column (stripped), and the file's name for messages."""
    v = pl.col(col.source_name).str.strip_chars()
    where = pl.col(SOURCE_FILE) if SOURCE_FILE in lf.collect_schema().names() else pl.lit("the raw file")
    df = (
        lf.select(v.alias("v"), where.cast(pl.String).alias("f"))
        .filter(pl.col("v").is_not_null() & (pl.col("v") != ""))
        .head(SAMPLE_SIZE)
        .collect()
    )
    return df["v"].to_list(), (df["f"][0] if df.height else "the raw file")


def detected_formats(lf: pl.LazyFrame, spec: DatasetSpec, raw_schema: dict[str, pl.DataType]) -> dict[str, str]:
    """For each text column with `format: auto`, the format its first values are written in (one file's frame).

    Raises:
        SourceError: a column's values match no known format, or read both day-first and month-first.
    """
    out: dict[str, str] = {}
    for col in spec.columns:
        if col.format != AUTO or not _is_string(raw_schema.get(col.source_name)):
            continue
        values, display = _sample(lf, col)
        try:
            out[col.name] = detect_format(values, col.dtype)
        except ValueError as e:
            raise SourceError(
                f"`{display}`: column `{col.name}` (`{col.source_name}`) has `format: auto`, but {e}; "
                f'declare the format on column `{col.name}`, e.g. `format: "%d/%m/%Y %H:%M"`'
            ) from None
    return out


def typed(lf: pl.LazyFrame, spec: DatasetSpec, raw_schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    """Rename source columns to clean names and convert them; keep `__raw__<name>` where conversion may fail.

    A column with `keep_original` also gets `<name>_original`, its raw value as text. A `format: auto`
    column's format is detected from this frame's first values (see `detected_formats`).

    Raises:
        SourceError: a `format: auto` column cannot be detected.
    """
    formats = detected_formats(lf, spec, raw_schema)
    exprs: list[pl.Expr] = []
    for col in spec.columns:
        raw = pl.col(col.source_name)
        raw_dtype = raw_schema.get(col.source_name)
        exprs.append(_convert(col, raw, raw_dtype, formats.get(col.name, col.format)).alias(col.name))
        if col.keep_original:
            exprs.append(raw.cast(pl.String).alias(original_name(col.name)))
        if needs_raw(col):
            exprs.append(raw.alias(RAW_PREFIX + col.name))
    # `with_columns` then `select`: polars 2.1 can return a lazy `select` of when/then expressions
    # (the bool conversion) in the wrong row order.
    names = [e.meta.output_name() for e in exprs]
    temp = [e.alias(f"__typed__{n}") for e, n in zip(exprs, names, strict=True)]
    keep = [c for c in lf.collect_schema().names() if c not in {c.source_name for c in spec.columns}]
    return lf.with_columns(temp).select([*(pl.col(f"__typed__{n}").alias(n) for n in names), *keep])
