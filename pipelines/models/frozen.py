"""The frozen evaluation set of a demand: test rows and their labels, fixed once, the yardstick of every version.

Accepted corrections change labels in later versions, test rows' labels included, and a detector's
relabels follow the model's own predictions: a test split re-read from each version would move with
the data it judges. So the first published version's `test` split (for `method: column`, the rows the
column puts in test) is frozen by stable row key with its labels, in a Parquet file beside the splits
(`splits/frozen/<demand>.parquet`) and the catalog (`frozen_evals`), and every later version's trial is
scored on those rows with those labels. It is frozen again only when what decides it changes (the
split or the label: `freeze_hash`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import polars as pl

from pipelines.models.demand import Demand
from pipelines.models.keys import row_key_expr
from pipelines.models.splits import SPLIT, split_hash
from pipelines.warehouse import Warehouse

FROZEN_DIR = "frozen"
ROW = "row_key"
LABEL = "label"


def freeze_hash(demand: Demand) -> str:
    """What decides the frozen set: the split's definition, the label and the task (not features, not minimums)."""
    what = {"split": split_hash(demand), "label": list(demand.label_columns), "task": demand.task}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def frozen_path(warehouse: Warehouse, name: str, demand: str) -> Path:
    """Where a demand's frozen evaluation set is kept: `datasets/<name>/splits/frozen/<demand>.parquet`."""
    return warehouse.dataset_dir(name) / "splits" / FROZEN_DIR / f"{demand}.parquet"


def label_values(df: pl.DataFrame, demand: Demand) -> pl.Series:
    """The label of every row as stored in the frozen set: the class as text, or the numeric value."""
    if demand.task in ("regression", "forecasting"):
        assert demand.label is not None  # guaranteed by Demand's validator
        return df.get_column(demand.label).cast(pl.Float64).alias(LABEL)
    from pipelines.models.learn import class_labels

    return class_labels(df, demand).alias(LABEL)


def freeze(rows: pl.DataFrame, demand: Demand, primary_key: list[str]) -> pl.DataFrame:
    """The frozen set of one version's rows with their split: `row_key`, `label` of the `test` rows, by key.

    Args:
        rows: A version's published rows with a `split` column.
        demand: The demand (its label).
        primary_key: The version's primary key (an empty key names rows by lineage).

    Returns:
        One row per test row, sorted by row key.
    """
    test = rows.filter(pl.col(SPLIT) == "test")
    keys = test.select(row_key_expr(primary_key, test.schema)).to_series().alias(ROW)
    return pl.DataFrame([keys, label_values(test, demand)]).sort(ROW)


def ensure_frozen(
    con: duckdb.DuckDBPyConnection, warehouse: Warehouse, name: str, demand: Demand, version: int, rows: pl.LazyFrame
) -> bool:
    """Freeze the demand's evaluation set from `version` unless one under the same `freeze_hash` is kept.

    Args:
        con: An open catalog writer.
        warehouse: The warehouse.
        name: The dataset.
        demand: The demand.
        version: The earliest published version with a split for the demand.
        rows: That version's rows with their split (read only if a set is frozen now).

    Returns:
        True when a set was frozen now.
    """
    h = freeze_hash(demand)
    path = frozen_path(warehouse, name, demand.name)
    kept = con.execute("SELECT freeze_hash FROM frozen_evals WHERE dataset = ? AND demand = ?", [name, demand.name]).fetchall()
    if kept == [(h,)] and path.is_file():
        return False
    frozen = freeze(rows.collect(), demand, list(warehouse.manifest(name, version)["primary_key"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frozen.write_parquet(tmp, metadata={"moshu.freeze_hash": h, "moshu.version": str(version)})
    tmp.replace(path)
    classes = None
    if frozen.schema[LABEL] == pl.String:
        classes = json.dumps(dict(frozen.group_by(LABEL).len().sort(LABEL).iter_rows()))
    con.execute("DELETE FROM frozen_evals WHERE dataset = ? AND demand = ?", [name, demand.name])
    con.execute(
        "INSERT INTO frozen_evals VALUES (?, ?, ?, ?, ?, ?, ?, ?, current_timestamp::TIMESTAMP)",
        [name, demand.name, h, version, demand.split.method, frozen.height, classes, path.relative_to(warehouse.root).as_posix()],
    )
    return True


def load_frozen(warehouse: Warehouse, name: str, demand: Demand) -> pl.DataFrame | None:
    """The demand's frozen set (`row_key`, `label`), or None if none is kept under its current definition."""
    path = frozen_path(warehouse, name, demand.name)
    if not path.is_file() or pl.read_parquet_metadata(path).get("moshu.freeze_hash") != freeze_hash(demand):
        return None
    return pl.read_parquet(path)


def forget(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, name: str, demand: str) -> None:
    """Drop a removed demand's frozen set (record and file)."""
    con.execute("DELETE FROM frozen_evals WHERE dataset = ? AND demand = ?", [name, demand])
    frozen_path(warehouse, name, demand).unlink(missing_ok=True)


__all__ = ["LABEL", "ROW", "ensure_frozen", "forget", "freeze", "freeze_hash", "frozen_path", "load_frozen"]
