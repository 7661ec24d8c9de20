"""Row positions, derived columns (`expr`) and value maps (`map`), applied after typing and enrichment.

`_file_row` (1-based position in the file) is added to each file's frame before the files are stacked;
`_entity_row` (1-based position within the rows sharing the `entity` columns, files in path order then
rows) after. A derived column's expression is evaluated with `pl.sql_expr`, in the order the columns are
declared, and its value is converted to the declared dtype exactly as a raw value is (`cast.typed`): a
value that does not convert is null and fails `schema.dtype`. A column's `map` respells its values; the
original spelling of each respelled value is kept in `__mapped__<name>` for the manifest's counts.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.ingest.cast import typed
from pipelines.spec.derive import ENTITY_ROW, FILE_ROW
from pipelines.spec.models import Column, DatasetSpec

MAPPED_PREFIX = "__mapped__"
_EXPR_PREFIX = "__expr__"


def reading_spec(spec: DatasetSpec) -> DatasetSpec:
    """The spec as the source-file readers see it: its derived columns left out (they are computed, not read)."""
    if not any(c.expr is not None for c in spec.columns):
        return spec
    return spec.model_copy(update={"columns": tuple(c for c in spec.columns if c.expr is None)})


def with_file_row(frame: pl.LazyFrame) -> pl.LazyFrame:
    """One file's frame with `_file_row`, its rows' 1-based positions (Int64, for arithmetic in expressions)."""
    return frame.with_row_index(FILE_ROW, offset=1).with_columns(pl.col(FILE_ROW).cast(pl.Int64))


def _mapped(rows: pl.LazyFrame, columns: list[Column]) -> pl.LazyFrame:
    cols = [c for c in columns if c.map]
    if not cols:
        return rows
    keep = [pl.when(pl.col(c.name).is_in(list(c.map or {}))).then(pl.col(c.name)).alias(MAPPED_PREFIX + c.name) for c in cols]
    # `with_columns` twice: the originals are kept before the values are respelled.
    return rows.with_columns(keep).with_columns(
        [pl.col(c.name).replace(list(c.map or {}), list((c.map or {}).values())) for c in cols]
    )


def _derived(rows: pl.LazyFrame, spec: DatasetSpec, col: Column) -> pl.LazyFrame:
    """Evaluate one derived column and convert it to its dtype like a raw value (keeping `__raw__<name>`)."""
    tmp = _EXPR_PREFIX + col.name
    rows = rows.with_columns(pl.sql_expr(col.expr or "").alias(tmp))
    one = col.model_copy(update={"source": tmp, "expr": None})
    mini = spec.model_copy(update={"columns": (one,), "enrich": ()})
    return typed(rows, mini, dict(rows.collect_schema()))


def derive(rows: pl.LazyFrame, spec: DatasetSpec) -> pl.LazyFrame:
    """Respell mapped read columns, then compute the derived columns in order (each then respelled); drop the row positions.

    Args:
        rows: Every file's typed and enriched rows, stacked in file order, with `_file_row`.
        spec: The dataset spec.

    Returns:
        The rows with every declared column; `__mapped__<name>` beside each mapped column.
    """
    derived = [c for c in spec.columns if c.expr is not None]
    rows = _mapped(rows, [c for c in spec.declared_columns if c.expr is None])
    entity = [c.name for c in spec.declared_columns if c.role == "entity" and c.expr is None]
    if derived and entity:
        rows = rows.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(entity).alias(ENTITY_ROW))
    for c in derived:
        rows = _mapped(_derived(rows, spec, c), [c])
    names = rows.collect_schema().names()
    return rows.drop([n for n in (FILE_ROW, ENTITY_ROW) if n in names])


def mapped_counts(staged: Path, spec: DatasetSpec) -> dict[str, dict[str, int]]:
    """Per mapped column, how many values each `map` entry respelled (from the staged file's `__mapped__` columns)."""
    cols = [c.name for c in spec.declared_columns if c.map]
    if not cols:
        return {}
    lf = pl.scan_parquet(staged)
    out: dict[str, dict[str, int]] = {}
    for name in cols:
        counts = lf.group_by(MAPPED_PREFIX + name).len().drop_nulls().collect().rows()
        got = {str(k): int(n) for k, n in counts}
        out[name] = {k: got.get(k, 0) for k in spec.column(name).map or {}}
    return out


__all__ = ["MAPPED_PREFIX", "derive", "mapped_counts", "reading_spec", "with_file_row"]
