"""Dataset cards: one Markdown page (with a Hugging Face dataset-card YAML header) and its HTML rendering per version.

A card is written for every version of a dataset, published or rejected, to
`datasets/<name>/cards/v<N>.md` and `.html`. It is generated from the catalog (`datasets`, `demands`,
`demand_results`, `demand_gaps`, `splits`, `trial_trend`, `model_scores`, `measures`), the version's
manifest and the version's published Parquet (ranges, null counts and class distributions), so a
newcomer can understand the dataset without opening anything else. Like the model page (and unlike
the sealed quality report), a card is rewritten as demands, splits and trials arrive.

Choices made for the YAML header (Hugging Face `README.md` metadata):

* `license`: the spec's SPDX id lowercased when the Hub knows it (`CC-BY-4.0` -> `cc-by-4.0`);
  anything else is `other`, with the original id, slugged, in `license_name`.
* `task_categories`: classification -> `tabular-classification`, regression -> `tabular-regression`,
  forecasting -> `time-series-forecasting`, anomaly_detection -> `tabular-classification` (the Hub
  has no anomaly-detection task category; a detector labels rows normal or anomalous, which is a
  tabular classification), and the tag `anomaly-detection` is added.
* `size_categories`: the Hub's bucket of the published row count (`n<1K`, `1K<n<10K`, ...).
* `source_datasets`: `original` when the spec names no attribution and no parent dataset; otherwise
  `extended|<dataset>` per `derived_from` entry and the one-line attribution of the upstream source.
* `annotations_creators`: `no-annotation` without label columns, `machine-generated` for labels of
  synthetic data, `expert-generated` for labels of measured data.

The card holds no time of generation, so identical inputs give identical files.
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markdown_it import MarkdownIt
from markupsafe import Markup

from pipelines.catalog.client import CatalogClient
from pipelines.quality.anomalies import anomalies_of
from pipelines.quality.anomalies import describe as describe_anomaly
from pipelines.quality.explain import blocking_failures, explain
from pipelines.report.derivation import derivation_lines, lookup_rows
from pipelines.report.level_reasons import reasons_markdown
from pipelines.report.profile_section import profile_markdown
from pipelines.report.set_aside import set_aside_lines
from pipelines.spec.models import NUMERIC_DTYPES, TIME_DTYPES
from pipelines.sql import ident, literal
from pipelines.warehouse import Warehouse

CARDS_DIR = "cards"
CONTINUOUS_TASKS = frozenset({"regression", "forecasting"})
MAX_CLASSES = 50  # value counts shown per label column

TASK_CATEGORIES = {
    "classification": "tabular-classification",
    "regression": "tabular-regression",
    "forecasting": "time-series-forecasting",
    "anomaly_detection": "tabular-classification",
}

# License ids the Hugging Face Hub accepts in `license:` (https://huggingface.co/docs/hub/repositories-licenses),
# the general-purpose ones; any other license becomes `other` with `license_name`.
HF_LICENSES = frozenset(
    {
        "apache-2.0", "mit", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
        "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
        "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
        "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
        "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0",
        "epl-2.0", "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0",
        "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "lppl-1.3c", "ms-pl", "mpl-2.0", "odc-by", "odbl",
        "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl",
    }
)  # fmt: skip

# Hugging Face size buckets: (upper bound, exclusive; label).
SIZE_BUCKETS: tuple[tuple[int, str], ...] = (
    (10**3, "n<1K"),
    (10**4, "1K<n<10K"),
    (10**5, "10K<n<100K"),
    (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"),
    (10**9, "100M<n<1B"),
    (10**10, "1B<n<10B"),
    (10**11, "10B<n<100B"),
    (10**12, "100B<n<1T"),
)


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


# --- small helpers --------------------------------------------------------------------------------


def hf_license(spdx: str | None) -> tuple[str, str | None]:
    """The Hub's license id for an SPDX id, and the `license_name` to add when it is `other`.

    Args:
        spdx: The spec's license, e.g. `CC-BY-4.0`, `Apache-2.0`, `proprietary`.

    Returns:
        `("cc-by-4.0", None)`, or `("other", "us-government-work")` for an id the Hub does not know.
    """
    lowered = (spdx or "").strip().lower()
    if lowered in HF_LICENSES:
        return lowered, None
    return "other", re.sub(r"[^a-z0-9.]+", "-", lowered).strip("-") or "unknown"


def size_category(rows: int) -> str:
    """The Hugging Face `size_categories` bucket of a row count (`1941` -> `1K<n<10K`)."""
    for bound, label in SIZE_BUCKETS:
        if rows < bound:
            return label
    return "n>1T"


def _one_line(text: str | None) -> str:
    """Collapse whitespace and newlines (YAML folded text) to single spaces."""
    return " ".join((text or "").split())


def _cell(value: Any) -> str:
    """A value formatted for a Markdown table cell: pipes escaped, one line."""
    return _fmt(value).replace("|", "\\|").replace("\n", " ")


def _fmt(value: Any) -> str:
    """Human formatting of a catalog or Parquet value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _num(value: Any, digits: int = 4) -> str:
    """A measure for prose and metric tables: fixed decimals, `n/a` when missing."""
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown (GFM) table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return out


def _records(cat: CatalogClient, query: str, params: list[Any]) -> list[dict[str, Any]]:
    """Rows of a catalog query as dicts keyed by column name."""
    rel = cat.sql(query, params)
    cols = rel.columns
    return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]


def _json(value: Any) -> Any:
    """A JSON column parsed (None stays None)."""
    return json.loads(value) if isinstance(value, str) and value else value


# --- gathering ------------------------------------------------------------------------------------


def _parquet(warehouse: Warehouse, name: str, version: int) -> str | None:
    """SQL literal of the version's data files, or None when it has none."""
    pattern = warehouse.data_glob(name, version)
    if not glob.glob(pattern):
        return None
    return f"read_parquet({literal(Path(pattern).as_posix())})"


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
    )
    data.labels = _label_tables(cat, source, data)
    return data


# --- the YAML header ------------------------------------------------------------------------------


def _annotations(data: CardData) -> str:
    """How the labels were made, in the Hub's vocabulary."""
    labelled = any(c.get("role") == "label" for c in data.manifest.get("schema", [])) or any(
        d.get("label_columns") and d.get("task") not in CONTINUOUS_TASKS for d in data.demands
    )
    if not labelled:
        return "no-annotation"
    return "machine-generated" if data.manifest.get("synthetic") else "expert-generated"


def _source_datasets(data: CardData) -> list[str]:
    """`original`, or what the data extends: parent datasets and the attributed upstream source."""
    out = [f"extended|{d}" for d in data.dataset.get("derived_from") or data.classification.get("derived_from") or []]
    attribution = _one_line(data.dataset.get("attribution"))
    if attribution:
        out.append(attribution)
    return out or ["original"]


def _header(data: CardData) -> dict[str, Any]:
    """The Hugging Face dataset-card metadata, plus moshu's own under `moshu:`."""
    m, ds = data.manifest, data.dataset
    license_id, license_name = hf_license(ds.get("license"))
    tasks = sorted({TASK_CATEGORIES[d["task"]] for d in data.demands if d.get("task") in TASK_CATEGORIES})
    tags = list(ds.get("tags") or [])
    if any(d.get("task") == "anomaly_detection" for d in data.demands) and "anomaly-detection" not in tags:
        tags.append("anomaly-detection")
    if m.get("synthetic") and "synthetic" not in tags:
        tags.append("synthetic")
    meta: dict[str, Any] = {"pretty_name": ds.get("title") or data.name, "license": license_id}
    if license_name:
        meta["license_name"] = license_name
    q = m.get("quality", {})
    meta |= {
        "tags": tags,
        "task_categories": tasks,
        "size_categories": [size_category(int(m.get("counts", {}).get("rows_published", 0)))],
        "source_datasets": _source_datasets(data),
        "annotations_creators": [_annotations(data)],
        "moshu": {
            "dataset": data.name,
            "version": data.version,
            "status": m.get("status", "published"),
            "grade": ds.get("grade") or data.classification.get("grade"),
            "domain": ds.get("domain") or data.classification.get("domain"),
            "level": q.get("level"),
            "score": None if q.get("overall") is None else round(float(q["overall"]), 4),
            "data_hash": m.get("data_hash"),
            "synthetic": bool(m.get("synthetic")),
            "created_at": str(m.get("created_at", "")),
        },
    }
    return meta


# --- the Markdown sections ------------------------------------------------------------------------


def _identity(data: CardData) -> list[str]:
    """Name, title, version, status, creation, data hash, counts, key and tags."""
    m, ds, c = data.manifest, data.dataset, data.manifest.get("counts", {})
    rows = [
        ["dataset", f"`{data.name}`"],
        ["title", ds.get("title", "")],
        ["version", f"v{data.version}"],
        ["status", m.get("status", "published")],
        ["created", m.get("created_at", "")],
        ["data hash", f"`{m.get('data_hash', '')}`"],
        ["rows", f"{c.get('rows_published')} published of {c.get('rows_in')} read ({c.get('rows_quarantined')} quarantined, "
                 f"{c.get('rows_warned')} flagged)"],
        ["primary key", ", ".join(f"`{k}`" for k in m.get("primary_key") or []) or "none (rows are named by lineage)"],
        ["tags", ", ".join(ds.get("tags") or [])],
    ]  # fmt: skip
    return ["## Identity", "", *_table(["property", "value"], rows)]


def _governance(data: CardData) -> list[str]:
    """Owner, accountable CDO, GB/T 43697 grade, domain, sensitivity, license, retention, parents."""
    ds, cl = data.dataset, data.classification
    rows = [
        ["owner", ds.get("owner", "")],
        ["accountable CDO", ds.get("cdo") or cl.get("cdo", "")],
        ["grade (GB/T 43697)", ds.get("grade") or cl.get("grade", "")],
        ["domain", ds.get("domain") or cl.get("domain", "")],
        ["default sensitivity", cl.get("default_sensitivity", "")],
        ["license", ds.get("license", "")],
        ["retention (ISO 8601)", ds.get("retention") or cl.get("retention", "")],
        ["derived from", ", ".join(ds.get("derived_from") or cl.get("derived_from") or []) or "none"],
    ]
    return ["## Ownership and governance", "", *_table(["property", "value"], rows)]


def _attribution(data: CardData) -> list[str]:
    """How to cite the upstream source, or who produced the data."""
    text = _one_line(data.dataset.get("attribution"))
    body = f"Cite as: {text}" if text else f"No external source: the data was produced by `{data.dataset.get('owner', '')}`."
    return ["## Attribution and citation", "", body]


def _synthetic(data: CardData) -> list[str]:
    """The GB 45438 content label: synthetic with generator, version and seed, or measured."""
    s = data.manifest.get("synthetic") or _json(data.dataset.get("synthetic_meta"))
    if not s:
        return ["## Content label (GB 45438)", "", "**Measured data.** The rows are measurements, not generated content."]
    seed = "not recorded" if s.get("seed") is None else str(s["seed"])
    return [
        "## Content label (GB 45438)",
        "",
        f"**Synthetic data.** Generated by {s.get('generator', 'an unnamed generator')}, generator version "
        f"{s.get('generator_version') or 'not recorded'}, seed {seed}.",
        "",
        _one_line(s.get("description")),
    ]


def _demand_block(d: dict[str, Any], result: dict[str, Any] | None) -> list[str]:
    """One demand: what it needs, how the version measures against it, and its gaps."""
    definition = d.get("definition") or {}
    labels = ", ".join(f"`{c}`" for c in d.get("label_columns") or []) or "none"
    out = [
        f"### `{d['demand']}`: {d.get('title') or ''}",
        "",
        f"Task **{d.get('task')}** for team `{d.get('team') or ''}`; label {labels}; "
        f"{len(d.get('features') or [])} features; trial metric `{d.get('metric') or 'default'}`.",
    ]
    if definition.get("description"):
        out += ["", _one_line(definition["description"])]
    if result is None:
        return [*out, "", "Not measured on this version."]
    met = "**met**" if result.get("met") else f"**not met**: {len(result.get('gaps') or [])} gaps"
    out += ["", f"On this version: {result.get('rows')} rows; representativeness {_num(result.get('representativeness'))}, "
                f"class balance {_num(result.get('class_balance'))}, time coverage {_num(result.get('time_coverage'))}; {met}."]  # fmt: skip
    gaps = [[g["kind"], g["key"], g["required"], g["observed"], g["shortfall"]] for g in result.get("gaps") or []]
    return out + (["", *_table(["gap", "key", "required", "observed", "shortfall"], gaps)] if gaps else [])


def _tasks(data: CardData) -> list[str]:
    """Every demand on the dataset, with its result on this version."""
    out = ["## Intended tasks and demands", ""]
    if not data.demands and not data.results:
        return [*out, "No model demand is declared for this dataset."]
    results = {r["demand"]: r for r in data.results}
    known = {d["demand"] for d in data.demands}
    demands = data.demands + [{"demand": n, "definition": {}} for n in results if n not in known]
    for d in demands:
        out += [*_demand_block(d, results.get(d["demand"])), ""]
    return out[:-1]


def _sensitivity(col: dict[str, Any]) -> str:
    """A column's sensitivity, with pseudonymised columns marked."""
    s = col.get("sensitivity") or ""
    return f"**{s}, pseudonymised**" if col.get("pseudonymised") else s


def _fields(data: CardData) -> list[str]:
    """The field dictionary: type, unit, role, sensitivity, description, range and nulls per column."""
    rows = []
    for c in data.manifest.get("schema", []):
        st = data.stats.get(c["name"], {})
        rows.append([f"`{c['name']}`", c["dtype"], c.get("unit") or "-", c.get("role") or "", _sensitivity(c),
                     c.get("description") or "", _fmt(st.get("min")), _fmt(st.get("max")), st.get("nulls", "")])  # fmt: skip
    return [
        "## Field dictionary",
        "",
        *_table(["column", "type", "unit", "role", "sensitivity", "description", "min", "max", "nulls"], rows),
        "",
        "Every row also carries its lineage and quality flags: `_source_file`, `_source_row`, `_qc_flag` "
        "(QARTOD: 1 pass, 3 suspect, 4 fail) and `_warn_rules`.",
        *derivation_lines(data.manifest),
    ]


def _continuous_targets(data: CardData) -> list[str]:
    """One line per continuous target of a regression or forecasting demand, with its range."""
    out = []
    for d in data.demands:
        if d.get("task") not in CONTINUOUS_TASKS:
            continue
        for col in d.get("label_columns") or []:
            st = data.stats.get(col, {})
            out.append(f"- `{col}`: continuous target of `{d['demand']}` ({d['task']}), from {_fmt(st.get('min'))} "
                       f"to {_fmt(st.get('max'))}, {st.get('nulls', 'n/a')} nulls.")  # fmt: skip
    return out


def _labels(data: CardData) -> list[str]:
    """Class distributions of the categorical labels and the ranges of continuous targets."""
    out = ["## Label taxonomy and class distribution", ""]
    for t in data.labels:
        total = sum(n for _, n in t.counts) or 1
        out += [f"**{t.title}**", "", *_table(["class", "rows", "share"], [[k, n, f"{n / total:.1%}"] for k, n in t.counts])]
        out += ["", t.note, ""] if t.note else [""]
    targets = _continuous_targets(data)
    if targets:
        out += [*targets, ""]
    if not data.labels and not targets:
        out += ["No label column: the dataset is unlabelled.", ""]
    return out[:-1]


def _class_counts(raw: Any) -> str:
    """A split's class counts (JSON) as `class: rows, ...`."""
    counts = _json(raw) or {}
    return ", ".join(f"{k}: {v}" for k, v in counts.items())


def _splits(data: CardData) -> list[str]:
    """Train / validation / test splits per demand."""
    out = ["## Splits", ""]
    if not data.splits:
        return [*out, "No split recorded for this version (splits are made for published versions with demands)."]
    rows = [[s["demand"], s["split"], s["method"], s["seed"], s["rows"], s["entities"], _class_counts(s["class_counts"]),
             s["leak_free"]] for s in data.splits]  # fmt: skip
    return [*out, *_table(["demand", "split", "method", "seed", "rows", "entities", "class counts", "leak-free"], rows),
            "", f"Read a split with `select * from split('{data.name}', {data.version}, '<demand>')`."]  # fmt: skip


def _provenance(data: CardData) -> list[str]:
    """Source files with their sha256 and rows, parent version, code version and hashes."""
    m, ds = data.manifest, data.dataset
    files = [[f["path"], f"`{f['sha256'][:12]}`", f.get("size", ""), f.get("rows", "")] for f in m.get("source_files", [])]
    files += lookup_rows(m)  # the `enrich` files joined on
    parent = f"v{m['parent_version']}" if m.get("parent_version") else "none (first version)"
    return [
        "## Provenance and lineage",
        "",
        f"Read from `{ds.get('source_path', '')}` ({ds.get('source_format', '')}); parent version {parent}; "
        f"built by `{m.get('code_version', '')}` in run `{m.get('run_id', '')}`.",
        "",
        *_table(["source file", "sha256", "bytes", "rows"], files),
        *set_aside_lines(m, _table),
        "",
        f"Spec data hash `{m.get('spec_data_hash', '')[:12]}`, rules hash `{m.get('rules_hash', '')[:12]}`.",
    ]


def _conversion(data: CardData) -> list[str]:
    """Renamed columns and rows whose values did not convert to the declared type."""
    summary = {q["rule_id"]: q["rows"] for q in data.manifest.get("quarantine_summary", [])}
    rows = [[f"`{c.get('source') or c['name']}`", f"`{c['name']}`", c["dtype"], summary.get(f"schema.dtype.{c['name']}", 0)]
            for c in data.manifest.get("schema", [])
            if (c.get("source") or c["name"]) != c["name"] or summary.get(f"schema.dtype.{c['name']}")]  # fmt: skip
    out = ["### Type conversion", "", "Every raw column is converted to its declared type (see the field dictionary); "
           "a value that does not convert fails `schema.dtype.<column>` and its row is quarantined."]  # fmt: skip
    return out + (["", *_table(["raw column", "column", "type", "rows not converted"], rows)] if rows else [])


def _quarantine(data: CardData) -> list[str]:
    """Rows quarantined by error rules and flagged by warn rules, per rule."""
    summary, c = data.manifest.get("quarantine_summary", []), data.manifest.get("counts", {})
    errors = [[f"`{q['rule_id']}`", q["rows"]] for q in summary if q["severity"] == "error"]
    warns = [[f"`{q['rule_id']}`", q["rows"]] for q in summary if q["severity"] != "error"]
    out = ["### Quarantine and flags", "",
           f"{c.get('rows_in')} rows read = {c.get('rows_published')} published + {c.get('rows_quarantined')} quarantined "
           f"(read them with `select * from quarantine('{data.name}', {data.version})`). A row can fail several rules, "
           "so the counts per rule may add up to more than the rows."]  # fmt: skip
    if errors:
        out += ["", *_table(["quarantined by rule", "rows"], errors)]
    if warns:
        out += ["", *_table(["flagged (published) by rule", "rows"], warns)]
    return out


def _corrections(data: CardData) -> list[str]:
    """Accepted feedback applied to the version, and its changelog against the parent."""
    rows = [[c.get("feedback_id"), c.get("row_key"), c.get("action"), c.get("column"), c.get("old_value"), c.get("new_value"),
             c.get("rows_affected"), c.get("new_in_version")] for c in data.manifest.get("corrections", [])]  # fmt: skip
    changes = [f"- {e['change']}: {_one_line(e['detail'])}" for e in data.manifest.get("changelog", [])]
    out = ["### Accepted corrections and changelog", ""]
    if rows:
        out += [*_table(["feedback", "row key", "action", "column", "old", "new", "rows", "new here"], rows), ""]
    else:
        out += ["No accepted feedback is applied to this version.", ""]
    return out + (changes or ["- no changelog entry"])


def _pseudonymisation(data: CardData) -> list[str]:
    """Which columns were pseudonymised, how, and with which key id."""
    p = data.manifest.get("pseudonymisation") or {}
    if not p.get("columns"):
        return ["### Pseudonymisation", "", "No column is pseudonymised."]
    cols = ", ".join(f"`{c}`" for c in p["columns"])
    return ["### Pseudonymisation", "", f"{cols} replaced at ingest by {p.get('method', 'a keyed pseudonym')} "
            f"(key id `{p.get('key_id', '')}`); raw values are never published."]  # fmt: skip


def _transformations(data: CardData) -> list[str]:
    """What happened between the raw files and the published rows."""
    parts = [_conversion(data), _quarantine(data), _corrections(data), _pseudonymisation(data)]
    return ["## Transformations", "", *[line for p in parts for line in [*p, ""]]][:-1]


def _quality(data: CardData) -> list[str]:
    """Level, score, dimension scores, failed gates, rules below threshold, and links to the reports."""
    m = data.manifest
    q = m.get("quality", {})
    score = "n/a" if q.get("overall") is None else f"{q['overall']:.4f}"
    gates = ", ".join(f"`{g}`" for g in q.get("failed_gates") or []) or "none"
    dims = [[d, f"{v:.4f}"] for d, v in sorted((q.get("dimensions") or {}).items())]
    below = [[f"`{b['rule_id']}`", b["clause"], b["dimension"], f"{b['x']:.4f}", b["threshold"], b["gate"]] for b in data.below]
    links = [f"[quality report](../v{data.version}/{m.get('report', 'quality/report.html')})"]
    if (m.get("ge") or {}).get("data_docs"):
        links.append(f"[Great Expectations Data Docs](../v{data.version}/{m['ge']['data_docs']})")
    if data.model_page:
        links.append(f"[model page](../models/v{data.version}.html)")
    out = ["## Quality and certification", "",
           f"Level **{q.get('level')}**, overall score **{score}** (publish gate: at least {q.get('min_level', 'uncertified')}; "
           f"status {m.get('status', 'published')}). Failed hard gates: {gates}.", "", *reasons_markdown(q),
           *_table(["dimension", "score"], dims)]  # fmt: skip
    if below:
        out += ["", *_table(["rule below its threshold", "clause", "dimension", "X", "threshold", "gate"], below)]
    return [*out, "", " · ".join(links), "", *profile_markdown(m.get("profile"))]


def _trial_rows(data: CardData) -> list[list[Any]]:
    """Rows of the trial-training table."""
    return [[t["demand"], t["model"], t["metric"], _num(t["value"]), _num(t["previous_value"]), _num(t["lift"]), _num(t["cv_std"]), t["verdict"],
             ", ".join(f"{k} {v:.4f}" for k, v in t["test_metrics"].items() if v is not None)] for t in data.trials]  # fmt: skip


def _trial_section(data: CardData) -> list[str]:
    """Trial training of the baseline model on this version."""
    out = ["## Trial training", ""]
    if not data.trials:
        return [*out, "No trial training recorded for this version."]
    header = ["demand", "model", "metric", "test value", "previous version", "lift", "cv std", "verdict", "test metrics"]
    return [*out, "The same baseline protocol on every version (train on `train`, score on `test`):", "",
            *_table(header, _trial_rows(data))]  # fmt: skip


def _limitations(data: CardData) -> list[str]:
    """The spec's known limitations, plus unmet demands, rejection and flagged rows."""
    m, c = data.manifest, data.manifest.get("counts", {})
    items = [_one_line(x) for x in data.classification.get("known_limitations") or []]
    for r in data.results:
        if not r.get("met"):
            keys = "; ".join(f"{g['key']} (short by {g['shortfall']})" for g in r.get("gaps") or [])
            items.append(f"Demand `{r['demand']}` is not met on this version: {keys}.")
    items += [f"Anomaly against earlier data (K-6): {describe_anomaly(f)}." for f in anomalies_of(m.get("anomalies") or [])]
    blocked = blocking_failures(m.get("rules", []))
    items += [f"This version is a **rejected candidate**: blocking rule {explain(o)}." for o in blocked]
    if m.get("status") == "rejected" and not blocked:
        items.append(f"This version is a **rejected candidate**: its level is below the publish gate "
                     f"`{m.get('quality', {}).get('min_level')}`; it never becomes the latest version.")  # fmt: skip
    if c.get("rows_warned"):
        items.append(
            f"{c['rows_warned']} published rows are flagged by warn rules or as suspect (`_qc_flag` 3 or 4, `_warn_rules`)."
        )
    return ["## Known limitations", "", *[f"- {x}" for x in items or ["None recorded."]]]


def _loading(data: CardData) -> list[str]:
    """SQL and Python snippets that load the version."""
    n, v = data.name, data.version
    return [
        "## How to load it",
        "",
        "```sql",
        f"select * from dataset('{n}', {v});",
        "```",
        "",
        "```python",
        "from pipelines.catalog.client import CatalogClient",
        "",
        'with CatalogClient("warehouse") as cat:  # the warehouse folder',
        f'    df = cat.sql("select * from dataset(?, ?)", ["{n}", {v}]).pl()',
        "```",
        "",
        f"Or read the Parquet files directly: `datasets/{n}/v{v}/data/*.parquet` in the warehouse.",
    ]


def _render(data: CardData) -> str:
    """The whole card: YAML header and Markdown body."""
    head = yaml.safe_dump(_header(data), sort_keys=False, allow_unicode=True, default_flow_style=False)
    title = data.dataset.get("title") or data.name
    sections = [
        [f"# {title} (`{data.name}` v{data.version})", "", _one_line(data.dataset.get("description"))],
        _identity(data), _governance(data), _attribution(data), _synthetic(data), _tasks(data), _fields(data),
        _labels(data), _splits(data), _provenance(data), _transformations(data), _quality(data), _trial_section(data),
        _limitations(data), _loading(data),
    ]  # fmt: skip
    body = "\n\n".join("\n".join(s) for s in sections)
    return f"---\n{head}---\n\n{body}\n"


# --- public API -----------------------------------------------------------------------------------


def card_markdown(warehouse: Warehouse, name: str, version: int, cat: CatalogClient | None = None) -> str:
    """The Markdown card of one version, with a Hugging Face-compatible YAML header.

    Args:
        warehouse: The warehouse holding the catalog and the version folder.
        name: The dataset.
        version: The version (published or a rejected candidate).
        cat: An open catalog client to read through (default: one opened for the call).

    Returns:
        The card: `---`, the YAML header, `---`, then the Markdown body.

    Raises:
        NotFoundError: The version has no manifest.
        CatalogError: The catalog is missing or cannot be read.
    """
    warehouse.manifest(name, version)  # a clear NotFoundError before the catalog is opened
    if cat is not None:
        return _render(_gather(cat, warehouse, name, version))
    with CatalogClient(warehouse.root) as own:
        return _render(_gather(own, warehouse, name, version))


def split_front_matter(markdown_text: str) -> tuple[dict[str, Any], str]:
    """Separate a card's YAML header from its body.

    Args:
        markdown_text: A card, or any Markdown text (without a header the metadata is empty).

    Returns:
        The parsed header and the body.
    """
    match = re.match(r"\A---\n(.*?\n)---\n", markdown_text, flags=re.DOTALL)
    if not match:
        return {}, markdown_text
    meta = yaml.safe_load(match.group(1))
    return (meta if isinstance(meta, dict) else {}), markdown_text[match.end() :]


def _flatten(meta: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Header keys and values as rows, nested mappings as `moshu.grade`."""
    out: list[tuple[str, str]] = []
    for k, v in meta.items():
        if isinstance(v, dict):
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", _fmt(v)))
    return out


_HTML = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
 body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222;line-height:1.45}
 table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0 1.2rem}
 th,td{border-bottom:1px solid #ddd;padding:.3rem .4rem;text-align:left;vertical-align:top}
 th{background:#f5f5f5} code{background:#f3f3f3;padding:0 .2rem}
 pre{background:#f6f8fa;padding:.8rem;overflow-x:auto} pre code{background:none}
 h2{border-bottom:1px solid #eee;padding-bottom:.2rem;margin-top:2rem}
 details{margin:0 0 1.5rem} summary{cursor:pointer;color:#555}
</style></head><body>
{% if meta %}
<details class="metadata"><summary>card metadata (Hugging Face YAML header)</summary>
<table>{% for k, v in meta %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
</details>
{% endif %}
{{ body }}
</body></html>
"""
)


def card_html(markdown_text: str, title: str) -> str:
    """A self-contained HTML page of a card: the body rendered by markdown-it-py, the YAML header as a table.

    Raw HTML in the Markdown is escaped, not passed through.

    Args:
        markdown_text: The card as written by `card_markdown`.
        title: The page title.

    Returns:
        The HTML page.
    """
    meta, body = split_front_matter(markdown_text)
    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(body)
    return _HTML.render(title=title, meta=_flatten(meta), body=Markup(rendered))


def _write(cat: CatalogClient, warehouse: Warehouse, name: str, version: int) -> list[Path]:
    """Write one version's `.md` and `.html` card with an open catalog client; returns both paths."""
    data = _gather(cat, warehouse, name, version)
    text = _render(data)
    title = f"{data.dataset.get('title') or name} ({name} v{version}): dataset card"
    folder = warehouse.dataset_dir(name) / CARDS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    md, html = folder / f"v{version}.md", folder / f"v{version}.html"
    md.write_text(text, encoding="utf-8")
    html.write_text(card_html(text, title), encoding="utf-8")
    return [md, html]


def write_card(warehouse: Warehouse, name: str, version: int) -> list[Path]:
    """Write the Markdown and HTML card of one version (for `moshu card DATASET@V`).

    Args:
        warehouse: The warehouse.
        name: The dataset.
        version: The version (published or a rejected candidate).

    Returns:
        The `.md` and `.html` paths.

    Raises:
        NotFoundError: The version has no manifest.
        CatalogError: The catalog is missing or cannot be read.
    """
    warehouse.manifest(name, version)
    with CatalogClient(warehouse.root) as cat:
        return _write(cat, warehouse, name, version)


def write_cards(warehouse: Warehouse, name: str) -> list[Path]:
    """Write the Markdown and HTML card of every version of a dataset.

    Files go to `datasets/<name>/cards/v<N>.md` and `v<N>.html` in the warehouse and are rewritten on
    every call. The catalog is opened read-only, so call this after the catalog writer is closed. With a
    remote warehouse, the dataset's derived files (these cards, splits, diffs, model pages) are uploaded.

    Args:
        warehouse: The warehouse.
        name: The dataset.

    Returns:
        The paths written, `.md` then `.html` per version, in version order.
    """
    out: list[Path] = []
    with CatalogClient(warehouse.root) as cat:
        for version in warehouse.versions(name):
            out += _write(cat, warehouse, name, version)
    if warehouse.remote:  # the last step of a run: its splits, diffs, cards and model pages go to the remote too
        from pipelines.remote_sync import push_derived

        push_derived(warehouse, name)
    return out
