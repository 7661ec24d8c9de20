"""After a version is registered: record the demands, measure them on every version, cut splits, diff versions.

Everything here is derived from immutable versions and the demand files, so it is computed only where
the catalog lacks it (a new version, a new or edited demand) and can always be recomputed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from pipelines.catalog.db import writer
from pipelines.models import frozen
from pipelines.models.coverage import Gap, measure
from pipelines.models.demand import Demand, demand_hash
from pipelines.models.splits import make_split
from pipelines.paths import relative
from pipelines.spec.loader import LoadedDataset
from pipelines.warehouse import Warehouse

if TYPE_CHECKING:
    from pipelines.models.diff import VersionDiff

SPLITS_DIR = "splits"
DIFFS_DIR = "diffs"


@dataclass
class ModelsOutcome:
    """What the stage did for one dataset."""

    dataset: str
    measured: list[tuple[int, str]] = field(default_factory=list)
    split: list[tuple[int, str]] = field(default_factory=list)
    frozen: list[tuple[int, str]] = field(default_factory=list)
    diffed: list[tuple[int, int]] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def split_path(warehouse: Warehouse, name: str, version: int, demand: str) -> Path:
    """Where a version's split assignment for a demand is kept (outside the immutable version folder)."""
    return warehouse.dataset_dir(name) / SPLITS_DIR / f"v{version}" / f"{demand}.parquet"


def diff_path(warehouse: Warehouse, name: str, v1: int, v2: int) -> Path:
    """Where the row-level diff of two versions is kept."""
    return warehouse.dataset_dir(name) / DIFFS_DIR / f"v{v1}-v{v2}.parquet"


def sync_demands(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, loaded: LoadedDataset, root: Path) -> None:
    """Make the `demands` table hold exactly this dataset's current demands; drop what removed demands left.

    Model runs and findings made for a removed demand stay: they are records, not derived data.
    """
    current = {d.name for d in loaded.demands}
    gone = [r[0] for r in con.execute("SELECT demand FROM demands WHERE dataset = ?", [loaded.name]).fetchall()]
    gone += [r[0] for r in con.execute("SELECT DISTINCT demand FROM demand_results WHERE dataset = ?", [loaded.name]).fetchall()]
    for demand in sorted(set(gone) - current):
        for table in ("demand_results", "demand_gaps", "demand_counts", "splits"):
            con.execute(f"DELETE FROM {table} WHERE dataset = ? AND demand = ?", [loaded.name, demand])
        for v in warehouse.versions(loaded.name):
            split_path(warehouse, loaded.name, v, demand).unlink(missing_ok=True)
        frozen.forget(con, warehouse, loaded.name, demand)
    con.execute("DELETE FROM demands WHERE dataset = ?", [loaded.name])
    for d in loaded.demands:
        con.execute(
            "INSERT INTO demands VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                d.name, d.dataset, d.title, d.team, d.task, list(d.label_columns), list(d.features),
                json.dumps(d.strata, default=str), d.min_per_stratum, d.min_per_class, d.split.method, list(d.split.by),
                d.split.seed, d.primary_metric, demand_hash(d), d.model_dump_json(),
                relative(root / "dataset_specs" / "demands" / f"{d.name}.yaml", root), _now(),
            ],
        )  # fmt: skip


def write_result(con: duckdb.DuckDBPyConnection, name: str, version: int, r: dict[str, Any]) -> None:
    """(Re)write one demand's result, gaps and counts for one version (`r` is `DemandResult.as_dict()` + hash)."""
    demand = r["demand"]
    for table in ("demand_results", "demand_gaps", "demand_counts"):
        con.execute(f"DELETE FROM {table} WHERE dataset = ? AND version = ? AND demand = ?", [name, version, demand])
    con.execute(
        "INSERT INTO demand_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [name, version, demand, r["demand_hash"], r["rows"], r["required_strata"], r["covered_strata"],
         r["representativeness"], len(r["classes"]) or None, r["class_balance"], r["time_coverage"], len(r["gaps"]),
         r["met"], _now()],
    )  # fmt: skip
    if r["gaps"]:
        con.executemany(
            "INSERT INTO demand_gaps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[name, version, demand, g["kind"], g["key"], g["required"], g["observed"], g["shortfall"]] for g in r["gaps"]],
        )
    counts = [("stratum", k, n) for k, n in r["strata"].items()] + [("class", k, n) for k, n in r["classes"].items()]
    if counts:
        con.executemany("INSERT INTO demand_counts VALUES (?, ?, ?, ?, ?, ?)", [[name, version, demand, *c] for c in counts])


def measured(lf: pl.LazyFrame, demand: Demand) -> dict[str, Any]:
    """A demand measured on published rows, as stored (with the demand's hash)."""
    return {**measure(lf, demand).as_dict(), "demand_hash": demand_hash(demand)}


def _measure_missing(con: duckdb.DuckDBPyConnection, wh: Warehouse, loaded: LoadedDataset, out: ModelsOutcome) -> None:
    have = {
        (v, d, h)
        for v, d, h in con.execute(
            "SELECT version, demand, demand_hash FROM demand_results WHERE dataset = ?", [loaded.name]
        ).fetchall()
    }
    for v in wh.versions(loaded.name):
        for d in loaded.demands:
            h = demand_hash(d)
            if (v, d.name, h) not in have:
                write_result(con, loaded.name, v, measured(pl.scan_parquet(wh.data_files(loaded.name, v)), d))
                out.measured.append((v, d.name))


def _split_gaps(con: duckdb.DuckDBPyConnection, name: str, v: int, d: Demand, gaps: list[Gap]) -> None:
    """Record what the split lacks as the demand's `split` gaps (a demand with any gap is not met)."""
    con.execute("DELETE FROM demand_gaps WHERE dataset = ? AND version = ? AND demand = ? AND kind = 'split'", [name, v, d.name])
    if gaps:
        con.executemany(
            "INSERT INTO demand_gaps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[name, v, d.name, g.kind, g.key, g.required, g.observed, g.shortfall] for g in gaps],
        )
    key = [name, v, d.name]
    counted = con.execute("SELECT count(*) FROM demand_gaps WHERE dataset = ? AND version = ? AND demand = ?", key).fetchone()
    n = int(counted[0]) if counted else 0
    con.execute("UPDATE demand_results SET gaps = ?, met = ? WHERE dataset = ? AND version = ? AND demand = ?", [n, n == 0, *key])


def _split_one(con: duckdb.DuckDBPyConnection, wh: Warehouse, loaded: LoadedDataset, v: int, d: Demand) -> None:
    res = make_split(pl.scan_parquet(wh.data_files(loaded.name, v)), d, list(wh.manifest(loaded.name, v)["primary_key"]))
    path = split_path(wh, loaded.name, v, d.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")

    res.assignment.write_parquet(tmp, metadata=loaded.spec.parquet_metadata())
    tmp.replace(path)
    rel = path.relative_to(wh.root).as_posix()
    con.execute("DELETE FROM splits WHERE dataset = ? AND version = ? AND demand = ?", [loaded.name, v, d.name])
    con.executemany(
        "INSERT INTO splits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[loaded.name, v, d.name, s.split, d.split.method, d.split.seed, res.split_hash, s.rows, s.entities,
          json.dumps(s.class_counts) if s.class_counts else None, res.leak_free, rel, _now()] for s in res.stats],
    )  # fmt: skip
    _split_gaps(con, loaded.name, v, d, res.gaps)


def _split_missing(con: duckdb.DuckDBPyConnection, wh: Warehouse, loaded: LoadedDataset, out: ModelsOutcome) -> None:
    from pipelines.models.splits import split_hash

    have = {
        (v, d, h)
        for v, d, h in con.execute("SELECT version, demand, split_hash FROM splits WHERE dataset = ?", [loaded.name]).fetchall()
    }
    for v in wh.versions(loaded.name):
        if wh.manifest(loaded.name, v).get("status", "published") != "published":
            continue  # rejected candidates are not for training
        for d in loaded.demands:
            stale = (v, d.name, split_hash(d)) not in have or (v, d.name) in out.measured  # re-measured: gaps rewritten
            if stale or not split_path(wh, loaded.name, v, d.name).is_file():
                _split_one(con, wh, loaded, v, d)
                out.split.append((v, d.name))


def _freeze_missing(con: duckdb.DuckDBPyConnection, wh: Warehouse, loaded: LoadedDataset, out: ModelsOutcome) -> None:
    """Freeze each labelled demand's evaluation set from the earliest published version, once."""
    published = [v for v in wh.versions(loaded.name) if wh.manifest(loaded.name, v).get("status", "published") == "published"]
    for d in loaded.demands:
        path = split_path(wh, loaded.name, published[0], d.name) if published else None
        if not d.label_columns or path is None or not path.is_file():
            continue
        data = pl.scan_parquet(wh.data_files(loaded.name, published[0]))
        rows = data.join(pl.scan_parquet(path), on=["_source_file", "_source_row"], how="inner", maintain_order="left")
        if frozen.ensure_frozen(con, wh, loaded.name, d, published[0], rows):
            out.frozen.append((published[0], d.name))


def _diff_missing(con: duckdb.DuckDBPyConnection, wh: Warehouse, name: str, out: ModelsOutcome) -> None:
    from pipelines.models.diff import diff_versions

    have = {
        (a, b) for a, b in con.execute("SELECT from_version, to_version FROM version_diffs WHERE dataset = ?", [name]).fetchall()
    }
    local = wh.versions(name)
    for v in local:
        parent = wh.manifest(name, v).get("parent_version")
        if parent is None or (parent, v) in have or parent not in local:
            continue  # a parent only on the remote warehouse: the machine that published `v` diffed it
        store_diff(con, wh, diff_versions(wh, name, parent, v))
        out.diffed.append((parent, v))


def store_diff(con: duckdb.DuckDBPyConnection, wh: Warehouse, diff: VersionDiff) -> None:
    """Write a diff's rows next to its versions and its summary into `version_diffs`."""
    from pipelines.models.diff import summary, write_rows

    name, v1, v2 = diff.dataset, diff.v1, diff.v2
    path = diff_path(wh, name, v1, v2)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_rows(diff, path)
    s = summary(diff)
    delta = None if diff.score_v1 is None or diff.score_v2 is None else diff.score_v2 - diff.score_v1
    con.execute("DELETE FROM version_diffs WHERE dataset = ? AND from_version = ? AND to_version = ?", [name, v1, v2])
    con.execute(
        "INSERT INTO version_diffs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [name, v1, v2, diff.rows_added, diff.rows_removed, diff.rows_changed, diff.labels_changed, diff.quarantine_added,
         diff.quarantine_removed, delta, json.dumps(s, default=str), path.relative_to(wh.root).as_posix()],
    )  # fmt: skip


def curate_for_models(loaded: LoadedDataset, warehouse: Warehouse, root: Path) -> ModelsOutcome:
    """Sync demands; measure, split, freeze evaluation sets and diff whatever the catalog lacks for this dataset."""
    out = ModelsOutcome(loaded.name)
    with writer(warehouse) as con:
        con.execute("BEGIN TRANSACTION")
        sync_demands(con, warehouse, loaded, root)
        _measure_missing(con, warehouse, loaded, out)
        _split_missing(con, warehouse, loaded, out)
        _freeze_missing(con, warehouse, loaded, out)
        _diff_missing(con, warehouse, loaded.name, out)
        con.execute("COMMIT")
    return out
