"""Reproducible, leak-free train / validation / test splits of a version for a demand.

* `group`: every entity (the `by` columns, e.g. engine unit) goes whole to one split. The split is
  chosen by a seeded sha256 of the entity's key mapped to [0, 1): the same seed gives the same split,
  and an entity keeps its split in later versions, so a test set never leaks into a later training set.
  Where the hash leaves a split short of entities or a class (few entities), `split_repair` moves the
  fewest entities that make it adequate and reports what still falls short as gaps.
* `random`: the same, per row key.
* `time`: rows before the train quantile of the time column train, then validation, then test.
* `column`: a column names each row's split (`values` maps its values).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from pipelines.errors import IntegrityError
from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW
from pipelines.models.coverage import CLASS, Gap, class_expr
from pipelines.models.demand import SPLITS, Demand
from pipelines.models.keys import ROW_KEY, row_key_expr
from pipelines.models.split_repair import CLASSES, UNIT, repair, split_gaps

SPLIT = "split"
_GROUP = "_group"
# The assignment's own version: a change of how rows are assigned re-cuts every split (see `split_hash`).
ALGORITHM = 2


@dataclass
class SplitStats:
    """Rows, entities and class counts of one split."""

    split: str
    rows: int
    entities: int
    class_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class SplitResult:
    """The assignment (lineage columns + split) and its statistics."""

    assignment: pl.DataFrame
    stats: list[SplitStats]
    split_hash: str
    leak_free: bool
    gaps: list[Gap] = field(default_factory=list)


def split_hash(demand: Demand) -> str:
    """sha256 of what decides the assignment (method, columns, fractions, seed, the label, the algorithm)."""
    what: dict[str, Any] = demand.split.model_dump(mode="json")
    what["_algorithm"] = ALGORITHM
    what["_label"] = list(demand.label_columns)  # the repair places classes
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _unit(seed: int, key: str) -> float:
    """A key's seeded position in [0, 1): stable across runs, machines and Python versions."""
    h = hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def _group_classes(base: pl.DataFrame) -> pl.DataFrame:
    """One row per entity with the sorted list of its classes (empty lists without a class label)."""
    if CLASS in base.columns:
        return base.group_by(_GROUP).agg(pl.col(CLASS).drop_nulls().unique().sort().alias(CLASSES))
    return base.select(_GROUP).unique().with_columns(pl.lit([], dtype=pl.List(pl.String)).alias(CLASSES))


def _by_hash(groups: pl.DataFrame, demand: Demand) -> pl.DataFrame:
    """Entities to splits by their seeded hash, then repaired where that is not adequate."""
    s = demand.split
    groups = groups.sort(_GROUP)
    units = [_unit(s.seed, str(k)) for k in groups.get_column(_GROUP).to_list()]
    cut_train, cut_val = s.train, s.train + s.validation
    names = [SPLITS[0] if u < cut_train else SPLITS[1] if u < cut_val else SPLITS[2] for u in units]
    hashed = groups.with_columns(pl.Series(UNIT, units, dtype=pl.Float64), pl.Series(SPLIT, names, dtype=pl.String))
    return repair(hashed, s)


def _column_split(df: pl.DataFrame, demand: Demand) -> pl.DataFrame:
    s = demand.split
    assert s.column is not None  # guaranteed by SplitSpec's validator
    values = df.get_column(s.column).cast(pl.String)
    mapping = {v: s.split_of(v) for v in values.drop_nulls().unique().to_list()}
    return df.with_columns(values.replace_strict(mapping, default=None, return_dtype=pl.String).alias(SPLIT))


def _unmapped(df: pl.DataFrame, demand: Demand) -> list[Gap]:
    """`method: column`: one gap per column value (or null) that names no split."""
    col = demand.split.column
    assert col is not None  # guaranteed by SplitSpec's validator
    lost = df.filter(pl.col(SPLIT).is_null()).group_by(pl.col(col).cast(pl.String)).len().sort(col, nulls_last=True)
    return [Gap("split", f"rows with {col}={v} (no split)", int(n), 0) for v, n in lost.iter_rows()]


def _group_expr(demand: Demand, primary_key: list[str], schema: pl.Schema) -> pl.Expr:
    if demand.split.method == "group" or (demand.split.method == "column" and demand.split.by):
        return row_key_expr(demand.split.by, schema).alias(_GROUP)  # the entity, written like a row key
    return row_key_expr(primary_key, schema).alias(_GROUP)


def _time_split(df: pl.DataFrame, demand: Demand) -> pl.DataFrame:
    s = demand.split
    t = df.get_column(s.by[0]).to_physical()  # datetimes as their integer instants
    q_train = t.quantile(s.train, "lower")
    q_val = t.quantile(s.train + s.validation, "lower") if s.validation else q_train
    col = pl.col(s.by[0]).to_physical()
    return df.with_columns(
        pl.when(col <= q_train)
        .then(pl.lit(SPLITS[0]))
        .when(col <= q_val)
        .then(pl.lit(SPLITS[1]))
        .otherwise(pl.lit(SPLITS[2]))
        .alias(SPLIT)
    )


def _leak_free(df: pl.DataFrame, demand: Demand) -> bool:
    if demand.split.method == "time":
        col = demand.split.by[0]
        bounds = df.group_by(SPLIT).agg(pl.col(col).min().alias("lo"), pl.col(col).max().alias("hi"))
        b = {r[SPLIT]: (r["lo"], r["hi"]) for r in bounds.iter_rows(named=True)}
        present = [x for x in SPLITS if x in b]
        return all(b[a][1] <= b[c][0] for a, c in itertools.pairwise(present))
    assigned = df.filter(pl.col(SPLIT).is_not_null())
    return bool(assigned.group_by(_GROUP).agg(pl.col(SPLIT).n_unique()).get_column(SPLIT).max() in (None, 1))


def make_split(lf: pl.LazyFrame, demand: Demand, primary_key: list[str]) -> SplitResult:
    """Assign every published row of a version to train, validation or test."""
    own = [demand.split.column] if demand.split.column else []
    cols = [SOURCE_FILE, SOURCE_ROW, *dict.fromkeys([*demand.split.by, *own, *demand.label_columns, *primary_key])]
    try:  # reading the footer (the schema) and then the rows
        df = lf.select(cols)
        df = df.with_columns(_group_expr(demand, primary_key, df.collect_schema()))
        if demand.task == "classification":
            df = df.with_columns(class_expr(demand))
        base = df.collect()
    except pl.exceptions.ComputeError as e:  # a damaged Parquet file ("File out of specification", ...)
        raise IntegrityError(
            f"demand `{demand.name}`: the published data cannot be read to cut its split: {e}; run `moshu verify` to "
            "find the damaged file, and restore it from a copy whose sha256 matches the version's manifest"
        ) from e
    classes = _group_classes(base)
    gaps: list[Gap] = []
    if demand.split.method == "time":
        assigned = _time_split(base, demand)
    elif demand.split.method == "column":
        assigned = _column_split(base, demand)
        gaps += _unmapped(assigned, demand)
    else:
        assigned = base.join(_by_hash(classes, demand).select(_GROUP, SPLIT), on=_GROUP, how="left")
    per_group = assigned.group_by(_GROUP).agg(pl.col(SPLIT).first()).join(classes, on=_GROUP)
    unit = "group" if demand.split.method == "group" or (demand.split.method == "column" and demand.split.by) else "row"
    gaps += split_gaps(per_group.filter(pl.col(SPLIT).is_not_null()), demand.split, unit)
    stats = []
    for name in SPLITS:
        part = assigned.filter(pl.col(SPLIT) == name)
        counts = {str(k): int(n) for k, n in part.group_by(CLASS).len().sort(CLASS).iter_rows()} if CLASS in part.columns else {}
        stats.append(SplitStats(name, part.height, part.get_column(_GROUP).n_unique(), counts))
    assignment = assigned.select(SOURCE_FILE, SOURCE_ROW, SPLIT).sort(SOURCE_FILE, SOURCE_ROW)
    return SplitResult(assignment, stats, split_hash(demand), _leak_free(assigned, demand), gaps)


def stats_dicts(result: SplitResult) -> list[dict[str, Any]]:
    """JSON-serialisable split statistics."""
    return [s.__dict__ for s in result.stats]


__all__ = ["ROW_KEY", "SPLIT", "SplitResult", "SplitStats", "make_split", "split_hash", "stats_dicts"]
