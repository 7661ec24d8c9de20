"""Convert raw values to the spec's dtypes, keeping the raw value where a conversion can fail."""

from __future__ import annotations

import polars as pl

from pipelines.quality.kinds import POLARS_DTYPES, RAW_PREFIX
from pipelines.spec.models import Column, DatasetSpec

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


def _convert(col: Column, raw: pl.Expr, raw_is_string: bool) -> pl.Expr:
    target = POLARS_DTYPES[col.dtype]
    if not raw_is_string:
        return raw.cast(target, strict=False)
    s = raw.str.strip_chars()
    if col.dtype == "string":
        return raw
    if col.dtype == "bool":
        low = s.str.to_lowercase()
        return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).otherwise(None)
    if col.dtype == "datetime":
        return s.str.to_datetime(format=col.format, time_unit="us", strict=False)
    if col.dtype == "date":
        return s.str.to_date(format=col.format, strict=False)
    return s.cast(target, strict=False)


def needs_raw(col: Column) -> bool:
    """Whether converting this column can fail (so its raw value must be kept for the dtype rule)."""
    return col.dtype != "string"


def typed(lf: pl.LazyFrame, spec: DatasetSpec, raw_schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    """Rename source columns to clean names and convert them; keep `__raw__<name>` where conversion may fail."""
    exprs: list[pl.Expr] = []
    for col in spec.columns:
        raw = pl.col(col.source_name)
        is_str = raw_schema.get(col.source_name) == pl.String()
        exprs.append(_convert(col, raw, is_str).alias(col.name))
        if needs_raw(col):
            exprs.append(raw.alias(RAW_PREFIX + col.name))
    # `with_columns` then `select`: polars 2.1 can return a lazy `select` of when/then expressions
    # (the bool conversion) in the wrong row order.
    names = [e.meta.output_name() for e in exprs]
    temp = [e.alias(f"__typed__{n}") for e, n in zip(exprs, names, strict=True)]
    keep = [c for c in lf.collect_schema().names() if c not in {c.source_name for c in spec.columns}]
    return lf.with_columns(temp).select([*(pl.col(f"__typed__{n}").alias(n) for n in names), *keep])
