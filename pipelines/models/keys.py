"""The row key: how feedback, diffs and splits name one row of a dataset across versions."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW

ROW_KEY = "_row_key"
KEY_SEPARATOR = "|"


def row_key_expr(primary_key: Sequence[str]) -> pl.Expr:
    """The row key as a string: the primary key's values joined by `|` (e.g. `17`, `FD001|3|42`).

    A dataset without a primary key falls back to its lineage, `<source file>#<source row>`, which
    names a row as long as the raw files keep their names and row order.
    """
    if primary_key:
        parts = [pl.col(c).cast(pl.String) for c in primary_key]
        return pl.concat_str(parts, separator=KEY_SEPARATOR).alias(ROW_KEY)
    return pl.concat_str([pl.col(SOURCE_FILE), pl.col(SOURCE_ROW).cast(pl.String)], separator="#").alias(ROW_KEY)


def row_key_sql(primary_key: Sequence[str]) -> str:
    """The same key as a DuckDB SQL expression (for `moshu sql` users and SQL-submitted feedback)."""
    from pipelines.sql import ident

    if primary_key:
        return " || '|' || ".join(f"CAST({ident(c)} AS VARCHAR)" for c in primary_key)
    return f"{ident(SOURCE_FILE)} || '#' || CAST({ident(SOURCE_ROW)} AS VARCHAR)"
