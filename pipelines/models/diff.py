"""What changed between two versions of a dataset: rows, labels, QC flags, quarantine, schema and score.

A version's rows are its published rows (`data/*.parquet`) and its quarantined rows
(`quarantine*.parquet`). Rows are matched across versions by their row key
(`pipelines.models.keys.row_key_expr`, computed with each version's own primary key), and every key
seen in either version falls into exactly one class:

| class        | v1                        | v2                        | reported in `rows` as |
|--------------|---------------------------|---------------------------|-----------------------|
| added        | absent                    | published                 | `added`               |
| removed      | published                 | absent                    | `removed`             |
| changed      | published                 | published, values differ  | `changed`             |
| unchanged    | published                 | published, same values    | (not listed)          |
| quarantined  | published or absent       | quarantined               | `quarantined`         |
| released     | quarantined               | published or absent       | `released`            |
| still held   | quarantined               | quarantined               | (not listed)          |

So a row that was published in v1 and is quarantined in v2 counts in `quarantine_added`, not in
`rows_removed`; the classes partition the keys, and the counters are the sizes of the classes.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW
from pipelines.models.keys import ROW_KEY, row_key_expr
from pipelines.warehouse import Warehouse

__all__ = ["CHANGE_KINDS", "ROWS_SCHEMA", "VersionDiff", "diff_versions", "summary", "write_rows"]

QC_FLAG = "_qc_flag"  # as written by `pipelines.stages.publish` (not imported: that module pulls in GE)
CHANGE_KINDS = ("added", "changed", "quarantined", "released", "removed")
ROWS_SCHEMA = pl.Schema(
    [
        ("row_key", pl.String()),
        ("change", pl.String()),
        ("columns_changed", pl.List(pl.String())),
        ("before", pl.String()),
        ("after", pl.String()),
    ]
)
_OCCURRENCE_SEPARATOR = "~"
_QUARANTINED = "__quarantined"
_KIND = "__kind"
_FLAG_CHANGED = "__flag_changed"
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class VersionDiff:
    """The difference between versions `v1` and `v2` of one dataset (see the module docstring for the classes).

    Attributes:
        dataset: Dataset name.
        v1: The older (left) version.
        v2: The newer (right) version.
        rows_added: Keys published in v2 and in neither v1's data nor its quarantine.
        rows_removed: Keys published in v1 and in neither v2's data nor its quarantine.
        rows_changed: Keys published in both whose dataset-column values differ (over the columns of
            both schemas; nulls equal nulls, floats compare exactly, NaN equals NaN).
        rows_unchanged: Keys published in both with equal values.
        labels_changed: Changed rows where at least one label column changed.
        changed_by_column: For every column of both schemas, the changed rows where it changed.
        flags_changed: Keys published in both whose `_qc_flag` differs (a flag change alone does not
            make a row changed).
        quarantine_added: Keys quarantined in v2 but not in v1.
        quarantine_removed: Keys quarantined in v1 but not in v2.
        columns_added: Columns of v2's schema missing from v1's, in v2's order.
        columns_removed: Columns of v1's schema missing from v2's, in v1's order.
        score_v1: v1's overall quality score, or None.
        score_v2: v2's overall quality score, or None.
        level_v1: v1's certification level.
        level_v2: v2's certification level.
        dimension_deltas: v2 - v1 per quality dimension of either version (None if either is missing).
        rows: One row per listed key (`ROWS_SCHEMA`): `row_key`, `change` (one of `CHANGE_KINDS`),
            `columns_changed`, and `before` / `after` as JSON objects: the changed columns' values when
            the key is in both versions, the whole row on the side it is in and `{}` on the other when
            it is in one only. Sorted by change, then row key.
    """

    dataset: str
    v1: int
    v2: int
    rows_added: int
    rows_removed: int
    rows_changed: int
    rows_unchanged: int
    labels_changed: int
    changed_by_column: dict[str, int]
    flags_changed: int
    quarantine_added: int
    quarantine_removed: int
    columns_added: tuple[str, ...]
    columns_removed: tuple[str, ...]
    score_v1: float | None
    score_v2: float | None
    level_v1: str
    level_v2: str
    dimension_deltas: dict[str, float | None]
    rows: pl.DataFrame = field(compare=False, repr=False)


@dataclass(frozen=True)
class _Side:
    """One version as the diff sees it: its manifest facts and its rows, keyed."""

    columns: tuple[str, ...]
    labels: frozenset[str]
    quality: dict[str, Any]
    frame: pl.LazyFrame


def diff_versions(warehouse: Warehouse, name: str, v1: int, v2: int) -> VersionDiff:
    """Compare version `v1` of dataset `name` with version `v2`.

    Row keys that repeat within a version (possible when the primary-key rule only warns) are told
    apart by occurrence in lineage order (`_source_file`, `_source_row`), counted over the published
    and quarantined rows together: the first keeps its key, the second becomes `<key>~2`, and so on.
    A row whose primary key holds a null is keyed by its lineage, `<_source_file>#<_source_row>`.

    Args:
        warehouse: The warehouse holding the dataset.
        name: Dataset name.
        v1: The older version.
        v2: The newer version (may equal `v1`: the diff is then empty).

    Returns:
        The diff.

    Raises:
        NotFoundError: Either version does not exist.
    """
    left, right = _side(warehouse, name, v1), _side(warehouse, name, v2)
    common = tuple(c for c in right.columns if c in left.columns)
    frame = _classify(left, right, common).collect()
    changed = frame.filter(pl.col(_KIND) == "changed")
    labels = [c for c in common if c in left.labels | right.labels]
    return VersionDiff(
        dataset=name,
        v1=v1,
        v2=v2,
        rows_added=_count(frame, "added"),
        rows_removed=_count(frame, "removed"),
        rows_changed=changed.height,
        rows_unchanged=_count(frame, "unchanged"),
        labels_changed=changed.filter(pl.any_horizontal(_changed(c) for c in labels)).height if labels else 0,
        changed_by_column={c: int(changed[_changed(c)].sum()) for c in common},
        flags_changed=int(frame[_FLAG_CHANGED].sum()),
        quarantine_added=_count(frame, "quarantined"),
        quarantine_removed=_count(frame, "released"),
        columns_added=tuple(c for c in right.columns if c not in left.columns),
        columns_removed=tuple(c for c in left.columns if c not in right.columns),
        score_v1=_float(left.quality.get("overall")),
        score_v2=_float(right.quality.get("overall")),
        level_v1=str(left.quality.get("level", "uncertified")),
        level_v2=str(right.quality.get("level", "uncertified")),
        dimension_deltas=_dimension_deltas(left.quality.get("dimensions") or {}, right.quality.get("dimensions") or {}),
        rows=_rows(frame, left.columns, right.columns, common),
    )


def write_rows(diff: VersionDiff, path: Path) -> None:
    """Write the diff's `rows` frame to Parquet at `path`, atomically (a temporary file renamed into place).

    Args:
        diff: The diff.
        path: Target file; its folder is created if missing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        diff.rows.write_parquet(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def summary(diff: VersionDiff) -> dict[str, Any]:
    """Every field of the diff but `rows`, as a JSON-serialisable dict (tuples become lists).

    Args:
        diff: The diff.

    Returns:
        The fields by name.
    """
    out: dict[str, Any] = {}
    for f in fields(diff):
        if f.name == "rows":
            continue
        value = getattr(diff, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, dict) else value
    return out


# --- reading one version ------------------------------------------------------------------------


def _side(warehouse: Warehouse, name: str, version: int) -> _Side:
    manifest = warehouse.manifest(name, version)
    schema = manifest.get("schema", [])
    columns = tuple(str(c["name"]) for c in schema)
    return _Side(
        columns=columns,
        labels=frozenset(str(c["name"]) for c in schema if c.get("role") == "label"),
        quality=dict(manifest.get("quality") or {}),
        frame=_keyed(warehouse, name, version, columns, manifest.get("primary_key") or []),
    )


def _keyed(warehouse: Warehouse, name: str, version: int, columns: Sequence[str], primary_key: Sequence[str]) -> pl.LazyFrame:
    """Published and quarantined rows of one version: row key, quarantine marker, QC flag, values."""
    keep = [*columns, SOURCE_FILE, SOURCE_ROW]
    data = (
        pl.scan_parquet(warehouse.data_files(name, version))
        .select([*keep, QC_FLAG])
        .with_columns(pl.lit(False).alias(_QUARANTINED))
    )
    parts = [data]
    held = warehouse.quarantine_files(name, version)
    if held:
        quarantine = (
            pl.scan_parquet(held)
            .select(keep)
            .with_columns(pl.lit(None, dtype=pl.UInt8).alias(QC_FLAG), pl.lit(True).alias(_QUARANTINED))
            .select([*keep, QC_FLAG, _QUARANTINED])
        )
        parts.append(quarantine)
    rows = pl.concat(parts, how="vertical_relaxed")
    return (
        rows.sort([SOURCE_FILE, SOURCE_ROW], maintain_order=True)
        .with_columns(row_key_expr(primary_key, rows.collect_schema()))
        .with_columns(pl.col(ROW_KEY).fill_null(row_key_expr(())))
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).over(ROW_KEY).alias("__occurrence"))
        .with_columns(
            pl.when(pl.col("__occurrence") > 1)
            .then(pl.format("{}" + _OCCURRENCE_SEPARATOR + "{}", pl.col(ROW_KEY), pl.col("__occurrence")))
            .otherwise(pl.col(ROW_KEY))
            .alias(ROW_KEY)
        )
        .select([ROW_KEY, _QUARANTINED, QC_FLAG, *columns])
    )


# --- comparing ----------------------------------------------------------------------------------


def _v(column: str, side: int) -> str:
    return f"__v{side}__{column}"


def _changed(column: str) -> str:
    return f"__changed__{column}"


def _prefixed(frame: pl.LazyFrame, side: int) -> pl.LazyFrame:
    return frame.rename({c: _v(c, side) for c in frame.collect_schema().names() if c != ROW_KEY})


def _classify(left: _Side, right: _Side, common: Sequence[str]) -> pl.LazyFrame:
    """Full join of both versions on the row key, with each key's class and per-column change markers."""
    joined = _prefixed(left.frame, 1).join(_prefixed(right.frame, 2), on=ROW_KEY, how="full", coalesce=True)
    types = joined.collect_schema()
    q1, q2 = pl.col(_v(_QUARANTINED, 1)), pl.col(_v(_QUARANTINED, 2))
    in_both = q1.is_not_null() & q2.is_not_null()
    published_both = in_both & ~q1 & ~q2
    joined = joined.with_columns(
        [_differs(c, types).and_(in_both).alias(_changed(c)) for c in common]
        + [pl.col(_v(QC_FLAG, 1)).ne_missing(pl.col(_v(QC_FLAG, 2))).and_(published_both).alias(_FLAG_CHANGED)]
    )
    any_changed = pl.any_horizontal(pl.col(_changed(c)) for c in common) if common else pl.lit(False)
    kind = (
        pl.when(q2.fill_null(False) & ~q1.fill_null(False))
        .then(pl.lit("quarantined"))
        .when(q1.fill_null(False) & ~q2.fill_null(False))
        .then(pl.lit("released"))
        .when(q1.is_null())
        .then(pl.lit("added"))
        .when(q2.is_null())
        .then(pl.lit("removed"))
        .when(published_both & any_changed)
        .then(pl.lit("changed"))
        .when(published_both)
        .then(pl.lit("unchanged"))
        .otherwise(pl.lit("held"))
    )
    # with_columns, never a select of when/then: polars 2.1 can misorder such a select over scanned Parquet.
    return joined.with_columns(kind.alias(_KIND))


def _differs(column: str, types: pl.Schema) -> pl.Expr:
    """Null-aware inequality of a column's two sides; sides of different dtypes are compared as text."""
    a, b = pl.col(_v(column, 1)), pl.col(_v(column, 2))
    if types[_v(column, 1)] != types[_v(column, 2)]:
        a, b = a.cast(pl.String), b.cast(pl.String)
    return a.ne_missing(b)


def _count(frame: pl.DataFrame, kind: str) -> int:
    return int((frame[_KIND] == kind).sum())


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _dimension_deltas(d1: dict[str, Any], d2: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for dim in sorted({*d1, *d2}):
        a, b = d1.get(dim), d2.get(dim)
        out[dim] = None if a is None or b is None else float(b) - float(a)
    return out


# --- the rows frame -----------------------------------------------------------------------------


def _rows(frame: pl.DataFrame, cols1: Sequence[str], cols2: Sequence[str], common: Sequence[str]) -> pl.DataFrame:
    """One row per listed key with the changed columns and their before / after values as JSON."""
    listed = frame.filter(pl.col(_KIND).is_in(CHANGE_KINDS)).with_columns(_changed_list(common))
    if listed.is_empty():
        return pl.DataFrame(schema=ROWS_SCHEMA)
    side1 = {c: listed[_v(c, 1)].to_list() for c in cols1}
    side2 = {c: listed[_v(c, 2)].to_list() for c in cols2}
    present1 = listed[_v(_QUARANTINED, 1)].is_not_null().to_list()
    present2 = listed[_v(_QUARANTINED, 2)].is_not_null().to_list()
    before, after = [], []
    for i, changed in enumerate(listed["columns_changed"].to_list()):
        shown1 = changed if present2[i] else (cols1 if present1[i] else ())
        shown2 = changed if present1[i] else (cols2 if present2[i] else ())
        before.append(_json({c: side1[c][i] for c in shown1}))
        after.append(_json({c: side2[c][i] for c in shown2}))
    out = listed.select(
        pl.col(ROW_KEY).alias("row_key"),
        pl.col(_KIND).alias("change"),
        pl.col("columns_changed"),
        pl.Series("before", before, dtype=pl.String),
        pl.Series("after", after, dtype=pl.String),
    )
    return out.cast(ROWS_SCHEMA).sort(["change", "row_key"])


def _changed_list(common: Sequence[str]) -> pl.Expr:
    """The names of the columns of both schemas whose values differ, in schema order."""
    if not common:
        return pl.lit([], dtype=pl.List(pl.String)).alias("columns_changed")
    names = [pl.when(pl.col(_changed(c))).then(pl.lit(c)).otherwise(pl.lit(None, dtype=pl.String)) for c in common]
    return pl.concat_list(names).list.drop_nulls().alias("columns_changed")


def _json(values: dict[str, Any]) -> str:
    """`json.dumps(values, default=str, ensure_ascii=False, sort_keys=True)`, with the encoder built once."""
    return _ENCODER.encode(values)
