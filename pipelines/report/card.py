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

This module holds the public entry points, the YAML header and the HTML rendering; the gathering is in
`card_data`, the Markdown sections in `card_sections` and their formatting helpers in `card_format`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markdown_it import MarkdownIt
from markupsafe import Markup

from pipelines.catalog.client import CatalogClient
from pipelines.report.card_data import CONTINUOUS_TASKS, MAX_CLASSES, CardData, LabelTable, _gather
from pipelines.report.card_format import _fmt, _one_line
from pipelines.report.card_sections import (
    _attribution,
    _fields,
    _governance,
    _identity,
    _labels,
    _limitations,
    _loading,
    _provenance,
    _quality,
    _splits,
    _synthetic,
    _tasks,
    _transformations,
    _trial_section,
)
from pipelines.warehouse import Warehouse

__all__ = [
    "CARDS_DIR",
    "CONTINUOUS_TASKS",
    "HF_LICENSES",
    "MAX_CLASSES",
    "SIZE_BUCKETS",
    "TASK_CATEGORIES",
    "CardData",
    "LabelTable",
    "card_html",
    "card_markdown",
    "hf_license",
    "size_category",
    "split_front_matter",
    "write_card",
    "write_cards",
]

CARDS_DIR = "cards"

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


# --- Hugging Face vocabulary ----------------------------------------------------------------------


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
        # Paths relative to the dataset folder (`datasets/<name>/`, the card's repository root on the Hub): the
        # version's files in the `published` Delta table (a partitioned version may keep files an earlier version
        # wrote), so `datasets.load_dataset("parquet", data_files=...)` reads exactly the version's published rows.
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": list(data.data_files)}]}],
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


# --- rendering ------------------------------------------------------------------------------------


def _render(data: CardData) -> str:
    """The whole card: YAML header (`huggingface_hub.DatasetCardData`) and Markdown body, as a `DatasetCard`."""
    from huggingface_hub import DatasetCard, DatasetCardData

    head = DatasetCardData(**_header(data)).to_yaml()
    title = data.dataset.get("title") or data.name
    sections = [
        [f"# {title} (`{data.name}` v{data.version})", "", _one_line(data.dataset.get("description"))],
        _identity(data), _governance(data), _attribution(data), _synthetic(data), _tasks(data), _fields(data),
        _labels(data), _splits(data), _provenance(data), _transformations(data), _quality(data), _trial_section(data),
        _limitations(data), _loading(data),
    ]  # fmt: skip
    body = "\n\n".join("\n".join(s) for s in sections)
    return str(DatasetCard(f"---\n{head}\n---\n\n{body}\n"))


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
 body{font-family:system-ui,"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222;line-height:1.45}
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
    return out
