"""What a dataset card shows, gathered once from the catalog, the version's manifest and its Parquet files."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.catalog.client import CatalogClient
from pipelines.spec.models import NUMERIC_DTYPES, TIME_DTYPES
from pipelines.sql import ident, literal
from pipelines.warehouse import Warehouse

CONTINUOUS_TASKS = frozenset({"regression", "forecasting"})
MAX_CLASSES = 50  # value counts shown per label column


@dataclass
class LabelTable:
    """The class distribution of one label column or one one-hot label group."""

    title: str
    counts: list[tuple[str, int]]
    note: str = ""


@dataclass
class CardData:
    """Everything a card shows, gathered once from the catalog, the manifest and the Parquet files."""

    name: str
    version: int
    dataset: dict[str, Any]
    manifest: dict[str, Any]
    classification: dict[str, Any]
    demands: list[dict[str, Any]]
    results: list[dict[str, Any]]
    splits: list[dict[str, Any]]
    trials: list[dict[str, Any]]
    below: list[dict[str, Any]]
    stats: dict[str, dict[str, Any]]
    labels: list[LabelTable] = field(default_factory=list)
    model_page: bool = False
    data_files: list[str] = field(default_factory=list)  # the published files, relative to `datasets/<name>/`


def _records(cat: CatalogClient, query: str, params: list[Any]) -> list[dict[str, Any]]:
    """Rows of a catalog query as dicts keyed by column name."""
    rel = cat.sql(query, params)
    cols = rel.columns
    return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]


def _json(value: Any) -> Any:
    """A JSON column parsed (None stays None)."""
    return json.loads(value) if isinstance(value, str) and value else value


def _parquet(warehouse: Warehouse, name: str, version: int) -> str | None:
    """SQL literal of the version's data files, or None when it has none."""
    files = [Path(f).as_posix() for f in warehouse.data_files(name, version) if Path(f).is_file()]
    if not files:
        return None
    return "read_parquet([" + ", ".join(literal(f) for f in files) + "])"


def _column_stats(cat: CatalogClient, source: str | None, schema: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Min and max (numeric, date, datetime columns) and null count of every schema column."""
    if source is None:
        return {}
    present = {r[0] for r in cat.rows(f"DESCRIBE SELECT * FROM {source}")}
    cols = [c for c in schema if c["name"] in present]
    if not cols:
        return {}
    parts = []
    for c in cols:
        q = ident(c["name"])
        ranged = c["dtype"] in NUMERIC_DTYPES or c["dtype"] in TIME_DTYPES
        parts += [f"min({q})" if ranged else "NULL", f"max({q})" if ranged else "NULL", f"count(*) - count({q})"]
    row = cat.rows(f"SELECT {', '.join(parts)} FROM {source}")[0]
    return {c["name"]: {"min": row[3 * i], "max": row[3 * i + 1], "nulls": row[3 * i + 2]} for i, c in enumerate(cols)}


def _one_hot_table(cat: CatalogClient, source: str, demand: str, group: list[str]) -> LabelTable:
    """Rows per class of a one-hot label group (the class of a row is the column holding 1)."""
    hot = [f"coalesce(CAST({ident(c)} AS INTEGER) = 1, false)" for c in group]
    total = " + ".join(f"CAST({h} AS INTEGER)" for h in hot)
    parts = [f"count(*) FILTER (WHERE {h})" for h in hot]
    parts += [f"count(*) FILTER (WHERE {total} = 0)", f"count(*) FILTER (WHERE {total} > 1)"]
    row = cat.rows(f"SELECT {', '.join(parts)} FROM {source}")[0]
    counts = sorted(zip(group, (int(x) for x in row[: len(group)]), strict=True), key=lambda t: (-t[1], t[0]))
    note = f"rows with no class: {row[-2]}; rows with more than one class: {row[-1]}"
    return LabelTable(f"one-hot group of demand `{demand}`: {', '.join(f'`{c}`' for c in group)}", counts, note)


def _value_counts(cat: CatalogClient, source: str, column: str) -> LabelTable:
    """Rows per value of one label column (the most frequent `MAX_CLASSES`)."""
    q = ident(column)
    rows = cat.rows(
        f"SELECT CAST({q} AS VARCHAR) AS v, count(*) AS n FROM {source} GROUP BY ALL ORDER BY n DESC, v LIMIT {MAX_CLASSES + 1}"
    )
    note = f"only the {MAX_CLASSES} most frequent values are shown" if len(rows) > MAX_CLASSES else ""
    counts = [("null" if v is None else str(v), int(n)) for v, n in rows[:MAX_CLASSES]]
    return LabelTable(f"`{column}`", counts, note)


def _label_tables(cat: CatalogClient, source: str | None, data: CardData) -> list[LabelTable]:
    """Class distributions: each demand's one-hot group, then every other categorical label column."""
    if source is None:
        return []
    out: list[LabelTable] = []
    grouped: set[str] = set()
    for d in data.demands:
        group = list((d.get("definition") or {}).get("one_hot_labels") or [])
        if group:
            out.append(_one_hot_table(cat, source, d["demand"], group))
            grouped |= set(group)
    for col in _single_labels(data):
        if col not in grouped:
            out.append(_value_counts(cat, source, col))
    return out


def _single_labels(data: CardData) -> list[str]:
    """Categorical label columns: role `label` or a classification demand's label (continuous targets left out)."""
    schema = {c["name"]: c for c in data.manifest.get("schema", [])}
    continuous = {c for d in data.demands if d.get("task") in CONTINUOUS_TASKS for c in d.get("label_columns") or []}
    labels = [c for c in schema if schema[c].get("role") == "label"]
    labels += [c for d in data.demands for c in d.get("label_columns") or [] if c in schema and c not in labels]
    return [c for c in labels if c not in continuous and schema[c]["dtype"] not in ("float32", "float64")]


def _demands(cat: CatalogClient, name: str) -> list[dict[str, Any]]:
    """The dataset's demands, with their definitions parsed."""
    rows = _records(
        cat,
        "SELECT demand, title, team, task, label_columns, features, metric, definition FROM demands WHERE dataset = ? ORDER BY demand",
        [name],
    )
    for r in rows:
        r["definition"] = _json(r["definition"]) or {}
    return rows


def _results(cat: CatalogClient, name: str, version: int, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Each demand measured on the version, with its gaps: from the catalog, else from the manifest."""
    rows = _records(
        cat,
        "SELECT demand, rows, representativeness, class_balance, time_coverage, met FROM demand_results "
        "WHERE dataset = ? AND version = ? ORDER BY demand",
        [name, version],
    )
    if not rows:
        return [dict(r) for r in manifest.get("demands", [])]
    gaps = _records(
        cat,
        "SELECT demand, kind, key, required, observed, shortfall FROM demand_gaps WHERE dataset = ? AND version = ? "
        "ORDER BY demand, kind, shortfall DESC, key",
        [name, version],
    )
    for r in rows:
        r["gaps"] = [g for g in gaps if g["demand"] == r["demand"]]
    return rows


def _trials(cat: CatalogClient, name: str, version: int) -> list[dict[str, Any]]:
    """The version's trial training per demand, with every test metric of the trial run."""
    rows = _records(
        cat,
        "SELECT demand, metric, value, previous_value, lift, cv_std, verdict, run_id FROM trial_trend "
        "WHERE dataset = ? AND version = ? ORDER BY demand",
        [name, version],
    )
    for r in rows:
        metrics = _records(
            cat,
            "SELECT model, metric, value FROM model_scores WHERE run_id = ? AND split = 'test' ORDER BY metric",
            [r["run_id"]],
        )
        r["model"] = metrics[0]["model"] if metrics else ""
        r["test_metrics"] = {m["metric"]: m["value"] for m in metrics}
    return rows


def _gather(cat: CatalogClient, warehouse: Warehouse, name: str, version: int) -> CardData:
    """Read everything the card of one version needs."""
    manifest = warehouse.manifest(name, version)
    ds = next(iter(_records(cat, "SELECT * FROM datasets WHERE name = ?", [name])), {})
    classification = _json(ds.get("classification")) or manifest.get("classification") or {}
    source = _parquet(warehouse, name, version)
    data = CardData(
        name=name,
        version=version,
        dataset=ds,
        manifest=manifest,
        classification=classification,
        demands=_demands(cat, name),
        results=_results(cat, name, version, manifest),
        splits=_records(
            cat,
            "SELECT demand, split, method, seed, rows, entities, class_counts, leak_free FROM splits "
            "WHERE dataset = ? AND version = ? ORDER BY demand, CASE split WHEN 'train' THEN 0 WHEN 'validation' THEN 1 ELSE 2 END",
            [name, version],
        ),
        trials=_trials(cat, name, version),
        below=_records(
            cat,
            "SELECT rule_id, clause, dimension, x, threshold, gate FROM measures "
            "WHERE name = ? AND version = ? AND NOT passed ORDER BY x - threshold, rule_id",
            [name, version],
        ),
        stats=_column_stats(cat, source, manifest.get("schema", [])),
        model_page=(warehouse.dataset_dir(name) / "models" / f"v{version}.html").is_file(),
        data_files=[
            Path(os.path.relpath(f, warehouse.dataset_dir(name))).as_posix() for f in warehouse.data_files(name, version)
        ],
    )
    data.labels = _label_tables(cat, source, data)
    return data
