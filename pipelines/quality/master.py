"""Master (reference) data for referential-integrity rules, e.g. an equipment master."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.errors import SourceError


def read_master_keys(root: Path | None, rel: str, column: str, dtype: pl.DataType) -> pl.Series:
    """The distinct keys of `column` in the master file `rel` (CSV or Parquet, relative to the project root)."""
    path = (root or Path.cwd()) / rel
    if not path.is_file():
        raise SourceError(f"master data `{rel}` does not exist; put it there or fix `master:` in the rule")
    df = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema=False)
    if column not in df.columns:
        raise SourceError(f"master data `{rel}` has no column `{column}`; its columns are {', '.join(df.columns)}")
    return df[column].cast(dtype, strict=False).drop_nulls().unique().sort()
