"""Profile a sample column by column: dtype, time format, unit, role, nulls, spread, distinct values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

from pipelines.ingest.cast import DATE_FORMATS, detect_format
from pipelines.init import names as nm

NULL_TOKENS = ("NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "none", "-", "#N/A")
NUMERIC_SHARE = 0.01  # share of values that may fail to read as numbers in a numeric column (bad rows, not text)
TIME_SHARE = 0.75  # share of a time-named column's numbers in an epoch or Excel-serial range that decides its encoding
MAX_CLASSES = 20  # distinct values up to which a text or label column gets an `in_set`
FORMAT_VALUES = 1000  # values a time format is detected from
_DATE_FORMATS = {f for f, _ in DATE_FORMATS}
_BOOL = {"true", "false", "yes", "no", "t", "f", "y", "n"}
_TIMEISH = re.compile(r"^\s*\d{1,4}[-/.年]\d{1,2}[-/.月]\d{1,4}")
# (encoding, lowest, highest) of numbers that are evidently time instants in a time-named column
_EPOCHS = (("epoch_s", 9e8, 4e9), ("epoch_ms", 9e11, 4e12), ("epoch_us", 9e14, 4e15), ("excel_serial", 20_000, 80_000))


@dataclass
class ColumnProfile:
    """What the sample says about one raw column.

    Attributes:
        raw: The raw column name (header, names file, or generated).
        name: The spec column name (snake_case).
        dtype: The inferred spec dtype.
        unit: Unit for the spec (pint-readable), from the header or the name's ending.
        unit_raw: The unit as the header wrote it.
        role: timestamp, entity, measurement, label or attribute.
        rows: Rows sampled.
        nulls: Null or empty values.
        distinct: Distinct non-null values.
        format: strftime format of a text time column.
        time_encoding: epoch_s/ms/us or excel_serial for a numeric time column.
        personal: Whether the name suggests a person.
        from_path: Regular expression taking the value from the file's path.
        classes: The distinct values, when few (never for a personal column).
        lo: The 0.5 % quantile of a numeric column.
        hi: The 99.5 % quantile.
        vmin: The smallest value.
        vmax: The largest value.
        notes: What a person should review.
    """

    raw: str
    name: str
    dtype: str
    unit: str | None = None
    unit_raw: str | None = None
    role: str = "attribute"
    rows: int = 0
    nulls: int = 0
    distinct: int = 0
    format: str | None = None
    time_encoding: str | None = None
    personal: bool = False
    from_path: str | None = None
    classes: list[str | int | bool] = field(default_factory=list)
    lo: float | None = None
    hi: float | None = None
    vmin: float | None = None
    vmax: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def numeric(self) -> bool:
        """Whether the column holds numbers."""
        return self.dtype in ("int64", "float64")

    @property
    def complete(self) -> bool:
        """Whether no sampled value is missing."""
        return self.rows > 0 and self.nulls == 0


def _present(s: pl.Series) -> pl.Series:
    v = s.str.strip_chars()
    return v.filter(v.is_not_null() & (v != ""))


def _time_format(values: pl.Series) -> tuple[str | None, str | None]:
    """(dtype, format) when the text values are dates or datetimes, else (None, note or None)."""
    head = values.head(200)
    if head.len() == 0 or head.str.contains(_TIMEISH.pattern).mean() < 0.9:  # type: ignore[operator]
        return None, None
    sample = values.unique(maintain_order=True).head(FORMAT_VALUES).to_list()
    for dtype in ("datetime", "date"):
        try:
            fmt = detect_format(sample, dtype)
        except ValueError as e:
            if "day and month" in str(e):
                return None, f"time values read both day-first and month-first ({e}); declare `format:` by hand"
            continue
        parsed = (
            values.str.to_date(format=fmt, strict=False)
            if dtype == "date"
            else values.str.to_datetime(format=fmt, time_unit="us", strict=False)
        )
        if parsed.null_count() <= 0.01 * values.len():
            return ("date" if fmt in _DATE_FORMATS else "datetime"), fmt
    return None, None


def infer_text(s: pl.Series, name: str) -> tuple[str, str | None, list[str], str | None]:
    """(dtype, time format, null tokens seen, note) of a text column.

    Args:
        s: The raw values as text.
        name: The column's spec name (a time-like name allows epoch and Excel-serial numbers).
    """
    values = _present(s)
    if values.len() == 0:
        return "string", None, [], "no value in the sample: typed as text"
    tokens = [t for t in NULL_TOKENS if values.eq(t).any()]
    rest = values.filter(~values.is_in(tokens)) if tokens else values
    bad = rest.cast(pl.Float64, strict=False).null_count()
    tolerated = max(NUMERIC_SHARE * rest.len(), 1 if rest.len() >= 4 else 0)  # one bad cell of a short file
    numeric = rest.len() > bad and bad <= tolerated
    if not numeric:
        tokens = []
        low = values.str.to_lowercase()
        if low.is_in(list(_BOOL)).all() and low.n_unique() <= 2 and not low.is_in(["y", "n", "t", "f"]).all():
            return "bool", None, [], None
        dtype, fmt = _time_format(values)
        if dtype is not None:
            return dtype, fmt, [], None
        return "string", None, [], fmt  # fmt holds an ambiguity note, if any
    note = f"{bad} values that are not numbers fail `schema.dtype` (quarantined)" if bad else None
    numbers = rest.filter(rest.cast(pl.Float64, strict=False).is_not_null())
    if numbers.str.contains(r"^[+-]?\d+$").all():
        if numbers.str.contains(r"^0\d").any():
            return "string", None, [], "integers written with leading zeros (codes): kept as text"
        return "int64", None, tokens, note
    return "float64", None, tokens, note


def time_encoding(values: pl.Series, name: str) -> str | None:
    """`epoch_s`, `epoch_ms`, `epoch_us` or `excel_serial` when a time-named numeric column evidently holds such values."""
    if not nm.TIMESTAMP.search(name) or values.len() == 0:
        return None
    f = values.cast(pl.Float64, strict=False).drop_nulls()
    if f.len() == 0:
        return None
    for encoding, low, high in _EPOCHS:
        if f.is_between(low, high).mean() >= TIME_SHARE:  # type: ignore[operator]
            return encoding
    return None


def _numeric_stats(p: ColumnProfile, f: pl.Series) -> None:
    f = f.drop_nulls().filter(f.drop_nulls().is_finite())
    if f.len() == 0:
        return
    p.lo, p.hi = float(f.quantile(0.005) or 0), float(f.quantile(0.995) or 0)
    p.vmin, p.vmax = float(f.min()), float(f.max())  # type: ignore[arg-type]


def profile_column(
    raw: str, name: str, unit: str | None, s: pl.Series, native: pl.DataType | None
) -> tuple[ColumnProfile, list[str]]:
    """Profile one column of the sample.

    Args:
        raw: Its raw name.
        name: Its spec name.
        unit: The unit read from its header or name.
        s: Its sampled values (text for csv/xlsx, native types for jsonl/parquet).
        native: Its raw type when not text.

    Returns:
        The profile, and the null tokens (`NA`, `-`, ...) seen in it.
    """
    _, _, unit_raw = nm.split_unit(raw)
    p = ColumnProfile(raw=raw, name=name, dtype="string", unit=unit, unit_raw=unit_raw, rows=s.len())
    tokens: list[str] = []
    if native is not None and native != pl.Null:
        p.dtype = _native_dtype(native)
        p.nulls = s.null_count()
        present = s.drop_nulls()
    else:
        text = s.cast(pl.String)
        p.dtype, p.format, tokens, note = infer_text(text, name)
        if note:
            p.notes.append(note)
        present = _present(text)
        present = present.filter(~present.is_in(tokens)) if tokens else present
        p.nulls = p.rows - present.len()
    p.personal = nm.is_person(name, raw)
    if p.personal:
        p.dtype, p.format = "string", None
    if p.numeric:
        f = present.cast(pl.Float64, strict=False)
        encoding = time_encoding(f, name)
        if encoding:
            p.dtype, p.time_encoding = ("date" if encoding == "excel_serial" and (f == f.floor()).all() else "datetime"), encoding
        else:
            _numeric_stats(p, f)
    p.distinct = present.n_unique()
    if not p.personal and p.distinct <= MAX_CLASSES and p.dtype in ("string", "int64", "bool"):
        typed = present.cast(pl.Int64, strict=False) if p.dtype == "int64" else present
        p.classes = sorted(typed.unique().to_list(), key=str)
    if p.unit is None and unit_raw:
        p.notes.append(f"header unit `{unit_raw}` is not a unit pint reads: declare `unit:` by hand")
    return p, tokens


def _native_dtype(t: pl.DataType) -> str:
    if t.is_integer():
        return "int64"
    if t.is_float():
        return "float64"
    if t == pl.Boolean:
        return "bool"
    if isinstance(t, pl.Datetime):
        return "datetime"
    if t == pl.Date:
        return "date"
    return "string"


def typed_series(p: ColumnProfile, s: pl.Series) -> pl.Series:
    """The sampled values converted as the spec would (for keys, periods and label checks); text stays text."""
    if s.dtype != pl.String:
        return s
    v = s.str.strip_chars()
    if p.dtype == "int64":
        return v.cast(pl.Int64, strict=False)
    if p.dtype == "float64":
        return v.cast(pl.Float64, strict=False)
    if p.dtype == "datetime" and p.format:
        return v.str.to_datetime(format=p.format, time_unit="us", strict=False)
    if p.dtype == "date" and p.format:
        return v.str.to_date(format=p.format, strict=False)
    if p.time_encoding == "excel_serial":
        days = v.cast(pl.Float64, strict=False) - 25569  # days since 1970-01-01
        return (days * 86_400_000).round().cast(pl.Int64, strict=False).cast(pl.Datetime("ms"))
    if p.time_encoding:
        per_s = {"epoch_s": 1, "epoch_ms": 1_000, "epoch_us": 1_000_000}[p.time_encoding]
        us = (v.cast(pl.Float64, strict=False) * (1_000_000 / per_s)).round()
        inside = us.abs() < 2.5e17  # years 1 to 9999; outside is null, as at ingest
        return pl.select(pl.when(pl.lit(inside)).then(pl.lit(us)).cast(pl.Int64).cast(pl.Datetime("us"))).to_series()
    return v
