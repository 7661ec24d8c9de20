"""The row key: how feedback, diffs and splits name one row of a dataset across versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW

ROW_KEY = "_row_key"
KEY_SEPARATOR = "|"
_SECONDS = "%Y-%m-%d %H:%M:%S"


def _part(col: str, dtype: pl.DataType | None) -> pl.Expr:
    c = pl.col(col)
    if isinstance(dtype, pl.Datetime):  # `2026-03-02 06:00:00`, with `.ffffff` only when there are sub-seconds
        whole = c.dt.timestamp("us") % 1_000_000 == 0
        return pl.when(whole).then(c.dt.strftime(_SECONDS)).otherwise(c.dt.strftime(_SECONDS + ".%6f"))
    return c.cast(pl.String)


def row_key_expr(primary_key: Sequence[str], schema: Mapping[str, pl.DataType] | None = None) -> pl.Expr:
    """The row key as a string: the primary key's values joined by `|` (e.g. `17`, `FD001|3|42`).

    Values are written as DuckDB's `CAST(x AS VARCHAR)` writes them (`row_key_sql` is the same key in
    SQL); timestamps as `2026-03-02 06:00:00`. Pass the frame's schema so timestamps are formatted so.
    A dataset without a primary key falls back to its lineage, `<source file>#<source row>`, which
    names a row as long as the raw files keep their names and content (a finding on such a key is
    not applied once its source file changed).
    """
    if primary_key:
        parts = [_part(c, (schema or {}).get(c)) for c in primary_key]
        return pl.concat_str(parts, separator=KEY_SEPARATOR).alias(ROW_KEY)
    return pl.concat_str([pl.col(SOURCE_FILE), pl.col(SOURCE_ROW).cast(pl.String)], separator="#").alias(ROW_KEY)


def row_key_sql(primary_key: Sequence[str], dtypes: Mapping[str, str] | None = None) -> str:
    """The same key as a DuckDB SQL expression (`dtypes`: the spec's dtype per column, e.g. `datetime`)."""
    from pipelines.sql import ident

    def part(c: str) -> str:
        if (dtypes or {}).get(c) == "datetime":
            return (
                f"CASE WHEN epoch_us({ident(c)}) % 1000000 = 0 THEN strftime({ident(c)}, '{_SECONDS}') "
                f"ELSE strftime({ident(c)}, '{_SECONDS}.%f') END"
            )
        return f"CAST({ident(c)} AS VARCHAR)"

    if primary_key:
        return " || '|' || ".join(part(c) for c in primary_key)
    return f"{ident(SOURCE_FILE)} || '#' || CAST({ident(SOURCE_ROW)} AS VARCHAR)"
