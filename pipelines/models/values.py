"""A suggested value converted to a spec dtype exactly as a run applies it (shared by feedback and corrections)."""

from __future__ import annotations

import polars as pl

from pipelines.quality.kinds import POLARS_DTYPES


def typed_value(value: str, dtype: str) -> pl.Series:
    """`value` converted to a spec dtype exactly as a correction is applied; ValueError if it does not convert."""
    text = pl.Series([value], dtype=pl.String)
    try:
        if dtype == "bool":
            flags = {"true": True, "false": False, "1": True, "0": False}
            if value.lower() not in flags:
                raise ValueError
            return pl.Series([flags[value.lower()]], dtype=pl.Boolean)
        if dtype == "datetime":
            return text.str.to_datetime(time_unit="us", strict=True)
        if dtype == "date":
            return text.str.to_date(strict=True)
        return text.cast(POLARS_DTYPES[dtype], strict=True)
    except (ValueError, pl.exceptions.PolarsError):
        raise ValueError(f"`{value}` is not a valid {dtype}") from None
