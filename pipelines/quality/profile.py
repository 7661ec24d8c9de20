"""The baseline profile of a version: per-column completeness, distinct values, constants, copies, spans; duplicate rows; labels.

Computed for every version whatever its rules, on the published rows, with polars over the version's
Parquet. Columns are read in chunks of `CHUNK` by the streaming engine; a numeric column's quantiles
sort that column alone, so memory is bounded by one column's values (and each row's 64-bit hash), and
time grows linearly with rows and columns; no statistic compares every pair of columns. Duplicated
columns are found by hashing each column once (the sum of its values' 64-bit hashes, with the null
count) and comparing only the columns whose hashes collide, value by value. Duplicate rows are
counted on a 64-bit hash of each row over the profiled columns (moshu's lineage columns are not
profiled, so two rows from different source rows still count as duplicates).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import polars as pl

CHUNK = 64  # columns read per pass
QUANTILES: tuple[tuple[str, float], ...] = (("p01", 0.01), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p99", 0.99))
TOP = 5  # top values kept per text column
EXACT_DISTINCT_ROWS = 1_000_000  # above this, distinct counts are HyperLogLog estimates
SEED = 0x6D6F736875  # fixed, so a profile is reproducible


def family(dtype: pl.DataType) -> str:
    """Columns compare equal across dtypes of one family (an int column equals a float column of the same values)."""
    return "number" if dtype.is_numeric() or dtype == pl.Boolean else str(dtype)


def comparable(col: str, dtype: pl.DataType) -> pl.Expr:
    """The column as compared for equality: numbers (and booleans) as Float64, the rest as they are."""
    return pl.col(col).cast(pl.Float64) if family(dtype) == "number" else pl.col(col)


def _text(v: Any) -> str | None:
    if v is None:
        return None
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


_ROW_HASH = "__moshu_row_hash__"


def _one_column(lf: pl.LazyFrame, col: str, present: int, *, quantiles: bool, estimate: bool) -> dict[str, Any]:
    """What needs one column alone, in one pass over it: its `QUANTILES` (a numeric column with `present` non-null
    values: the sorted values are gathered at the quantiles' indices inside the query, as polars'
    `quantile(q, "nearest")` picks them: index round-half-up(q x (n - 1))) and, above `EXACT_DISTINCT_ROWS`, its
    HyperLogLog distinct count (on the in-memory engine, whose estimate the streaming engine does not reproduce)."""
    e = pl.col(col)
    aggs = [e.drop_nulls().approx_n_unique().alias("distinct")] if estimate else []
    at = [math.floor(q * (present - 1) + 0.5) for _, q in QUANTILES] if quantiles and present else []
    if at:
        aggs.append(e.drop_nulls().sort().cast(pl.Float64).gather(at).implode().alias("q"))
    if not aggs:
        return {name: None for name, _ in QUANTILES} if quantiles else {}
    row = lf.select(aggs).collect(engine="in-memory").row(0, named=True)
    out: dict[str, Any] = {"distinct": row["distinct"]} if estimate else {}
    if quantiles:
        values = row["q"] if at else [None] * len(QUANTILES)
        out |= {name: v for (name, _), v in zip(QUANTILES, values, strict=True)}
    return out


def _column_stats(
    lf: pl.LazyFrame, schema: pl.Schema, cols: list[str], rows: int, personal: set[str]
) -> tuple[list[dict[str, Any]], pl.Series]:
    """Nulls, distinct values, span, quantiles, the column hash of each of `cols`, and each row's hash over `cols`.

    The per-column scalars come from one streamed pass, each row's hash from another; the quantiles from one
    pass per numeric column (a sort of that column alone). Memory is then bounded by one column, not by `cols`.
    """
    aggs: list[pl.Expr] = []
    for i, c in enumerate(cols):
        dtype, e = schema[c], pl.col(c)
        aggs += [e.null_count().alias(f"{i}.nulls"), comparable(c, dtype).hash(SEED).sum().alias(f"{i}.hash")]
        if rows <= EXACT_DISTINCT_ROWS:
            aggs.append(e.drop_nulls().n_unique().alias(f"{i}.distinct"))
        if dtype.is_nested():
            continue
        aggs += [e.min().alias(f"{i}.min"), e.max().alias(f"{i}.max")]
    got = lf.select(aggs).collect(engine="streaming").row(0, named=True)
    estimate = rows > EXACT_DISTINCT_ROWS
    for i, c in enumerate(cols):
        quantiles = schema[c].is_numeric() and c not in personal  # a personal column's quantiles are never kept
        if quantiles or estimate:
            one = _one_column(lf, c, rows - int(got[f"{i}.nulls"]), quantiles=quantiles, estimate=estimate)
            got |= {f"{i}.{name}": value for name, value in one.items()}
    # Each row's hash is taken once the one-column passes are done, so that it is not held while they sort.
    row_hash = lf.select(pl.struct(cols).hash(SEED).alias(_ROW_HASH)).collect(engine="streaming").get_column(_ROW_HASH)
    out = []
    for i, c in enumerate(cols):
        nulls = int(got[f"{i}.nulls"])
        lo, hi = got.get(f"{i}.min"), got.get(f"{i}.max")
        hidden = c in personal
        entry: dict[str, Any] = {
            "name": c,
            "dtype": str(schema[c]),
            "nulls": nulls,
            "completeness": (rows - nulls) / rows if rows else None,
            "distinct": int(got[f"{i}.distinct"]),
            "constant": rows > 0 and (lo == hi if f"{i}.min" in got else int(got[f"{i}.distinct"]) <= 1),
            "duplicate_of": None,
            "min": None if hidden else _text(lo),
            "max": None if hidden else _text(hi),
            **{name: (None if hidden else got.get(f"{i}.{name}")) for name, _ in QUANTILES},
            "top": [],
            "_hash": (family(schema[c]), int(got[f"{i}.hash"] or 0), nulls),
        }
        out.append(entry)
    return out, row_hash


def _mark_copies(lf: pl.LazyFrame, schema: pl.Schema, stats: list[dict[str, Any]]) -> None:
    """Set `duplicate_of` on every column equal, value by value, to an earlier one (hash collisions confirmed)."""
    groups: dict[tuple[str, int, int], list[str]] = {}
    for s in stats:
        groups.setdefault(s.pop("_hash"), []).append(s["name"])
    by_name = {s["name"]: s for s in stats}
    pending = [names for names in groups.values() if len(names) > 1]
    while pending:
        checks = [(g[0], other) for g in pending for other in g[1:]]
        equal: list[bool] = []
        for start in range(0, len(checks), CHUNK // 2):  # at most CHUNK columns read at once
            exprs = [
                comparable(a, schema[a]).eq_missing(comparable(b, schema[b])).all().alias(str(k))
                for k, (a, b) in enumerate(checks[start : start + CHUNK // 2])
            ]
            equal += list(lf.select(exprs).collect().row(0))
        rest: list[list[str]] = []
        k = 0
        for g in pending:
            left = []
            for other in g[1:]:
                if equal[k]:
                    by_name[other]["duplicate_of"] = g[0]
                else:
                    left.append(other)
                k += 1
            if len(left) > 1:
                rest.append(left)
        pending = rest


def _top_values(lf: pl.LazyFrame, col: str) -> list[dict[str, Any]]:
    counts = lf.group_by(col).len().drop_nulls(col).sort(["len", col], descending=[True, False]).head(TOP).collect()
    return [{"value": _text(v), "n": int(n)} for v, n in counts.rows()]


def _labels(lf: pl.LazyFrame, labels: Sequence[str], rows: int) -> list[dict[str, Any]]:
    out = []
    for c in labels:
        counts = lf.group_by(c).len().sort(["len", c], descending=[True, False], nulls_last=True).collect()
        classes: list[dict[str, Any]] = [{"value": _text(v), "n": int(n)} for v, n in counts.rows() if v is not None]
        labelled = sum(int(x["n"]) for x in classes)

        out.append(
            {
                "column": c,
                "rows": rows,
                "labelled": labelled,
                "completeness": labelled / rows if rows else None,
                "classes": classes,
            }
        )
    return out


def profile(
    lf: pl.LazyFrame, columns: Sequence[str], *, labels: Sequence[str] = (), personal: Sequence[str] = ()
) -> dict[str, Any]:
    """The baseline profile of `columns` of `lf` (a scan of a version's Parquet).

    Args:
        lf: The version's rows.
        columns: The columns to profile (the spec's published columns; never moshu's lineage columns).
        labels: Columns with role `label`: their completeness and class counts are reported.
        personal: Columns with sensitivity `personal`: their values (span, quantiles, top values) are not kept.

    Returns:
        A plain dict for the manifest: `rows`, `duplicate_rows`, `columns` (one entry per column) and `labels`.
    """
    schema = lf.collect_schema()
    cols = [c for c in columns if c in schema]
    rows = int(lf.select(pl.len()).collect().item())
    hidden = set(personal)
    stats: list[dict[str, Any]] = []
    row_hash: pl.Series | None = None  # each row's hash over the columns read so far
    for start in range(0, len(cols), CHUNK):
        chunk, chunk_hash = _column_stats(lf, schema, cols[start : start + CHUNK], rows, hidden)
        stats += chunk
        if row_hash is None:
            row_hash = chunk_hash
        else:
            both = pl.DataFrame({"a": row_hash, "b": chunk_hash})
            row_hash = both.select(pl.struct("a", "b").hash(SEED)).to_series()
    _mark_copies(lf, schema, stats)
    label_counts = _labels(lf, [c for c in labels if c in schema], rows)
    classes = {x["column"]: x["classes"] for x in label_counts}  # a text label's top values are its first classes
    for s in stats:
        if schema[s["name"]] in (pl.String, pl.Categorical) and s["name"] not in hidden:
            s["top"] = classes[s["name"]][:TOP] if s["name"] in classes else _top_values(lf, s["name"])
    duplicate_rows = rows - row_hash.n_unique() if row_hash is not None and rows else 0
    return {"rows": rows, "duplicate_rows": duplicate_rows, "columns": stats, "labels": label_counts}
