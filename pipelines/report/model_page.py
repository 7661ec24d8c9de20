"""The model page of a version (`datasets/<name>/models/v<N>.html`): demands and gaps, splits, trial
training beside the previous version, feedback and corrections, the diff to the parent.

Unlike the quality report, which is sealed into the immutable version, this page is rewritten as
models report back (new demands, trials, findings, reviews); everything on it comes from the catalog.
"""

from __future__ import annotations

from typing import Any

import jinja2

from pipelines.warehouse import Warehouse

MODELS_DIR = "models"

_TEMPLATE = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ name }} v{{ version }}: models and data</title>
<style>
 body{font-family:system-ui,"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif;margin:2rem;max-width:1100px;color:#222}
 table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0 1.5rem}
 th,td{border-bottom:1px solid #ddd;padding:.3rem .4rem;text-align:left;vertical-align:top}
 th{background:#f5f5f5} .fail{color:#c62828;font-weight:600} .ok{color:#2e7d32} code{background:#f3f3f3;padding:0 .2rem}
</style></head><body>
<h1>{{ name }} v{{ version }}: what models need, and what they found</h1>
<p><a href="../v{{ version }}/quality/report.html">quality report</a> &middot; status {{ v.status }}, level {{ v.level }}</p>
{% for title, cols, rows in sections %}
<h2>{{ title }}</h2>
{% if rows %}<table><tr>{% for c in cols %}<th>{{ header(c) }}</th>{% endfor %}</tr>
{% for r in rows %}<tr>{% for x in r %}<td>{{ fmt(x) }}</td>{% endfor %}</tr>{% endfor %}</table>
{% else %}<p>None.</p>{% endif %}
{% endfor %}
</body></html>
"""
)

_SECTIONS: list[tuple[str, str]] = [
    (
        "Demands",
        "SELECT demand, rows, covered_strata || ' / ' || required_strata AS strata, round(representativeness, 3) AS representativeness, "
        "round(class_balance, 4) AS class_balance, round(time_coverage, 3) AS time_coverage, gaps, met "
        "FROM demand_results WHERE dataset = $1 AND version = $2 ORDER BY demand",
    ),
    (
        "Gaps (what falls short, by how much)",
        "SELECT demand, kind, key, observed, required, shortfall FROM demand_gaps WHERE dataset = $1 AND version = $2 "
        "ORDER BY demand, kind, shortfall DESC",
    ),
    (
        "Splits",
        "SELECT demand, split, method, seed, rows, entities, class_counts, leak_free FROM splits "
        "WHERE dataset = $1 AND version = $2 ORDER BY demand, split",
    ),
    (
        "Trial training (same protocol on every version, scored on the frozen evaluation set)",
        "SELECT demand, version, metric, round(value, 4) AS frozen, round(previous_value, 4) AS previous, round(lift, 4) AS lift, "
        "round(noise, 4) AS noise, verdict, round(current_value, 4) AS current_labels, relabelled, missing "
        "FROM trial_trend WHERE dataset = $1 AND version <= $2 ORDER BY demand, version",
    ),
    (
        "Models trained on this version",
        "SELECT model, kind, demand, metric, split, round(value, 4) AS value, registered_by, registered_at FROM model_scores "
        "WHERE dataset = $1 AND version = $2 ORDER BY kind, model, metric, split",
    ),
    (
        "Feedback on this version",
        "SELECT kind, status, count(*) AS findings, round(avg(confidence), 3) AS mean_confidence FROM feedback_status "
        "WHERE dataset = $1 AND version = $2 GROUP BY ALL ORDER BY kind, status",
    ),
    (
        "Corrections applied in this version",
        "SELECT feedback_id, row_key, action, column_name, old_value, new_value, rows_affected, new_in_version, reason "
        "FROM corrections WHERE dataset = $1 AND version = $2 ORDER BY feedback_id",
    ),
    ("Changelog", "SELECT change, detail FROM changelog WHERE dataset = $1 AND version = $2 ORDER BY seq"),
    (
        "Diff to the parent version",
        "SELECT from_version, to_version, rows_added, rows_removed, rows_changed, labels_changed, quarantine_added, "
        "quarantine_removed, round(score_delta, 4) AS score_delta FROM version_diffs WHERE dataset = $1 AND to_version = $2",
    ),
]


def _fmt(v: Any) -> str:
    """A cell as a person reads it: yes/no, whole numbers without `.0`, timestamps to the second, JSON as `key=value`."""
    import datetime as dt
    import json

    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return (
            f"{int(v):,}"
            if v.is_integer() and abs(v) >= 1
            else f"{v:.4g}"
            if abs(v) < 1e-3 and v
            else f"{v:,.4f}".rstrip("0").rstrip(".")
        )
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S") + (
            " UTC" if v.tzinfo is None or v.utcoffset() == dt.timedelta(0) else v.strftime(" %z")
        )
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return _fmt(json.loads(v))
        except ValueError:
            return v
    return str(v)


def _header(column: str) -> str:
    """A column name as a heading: words, not identifiers."""
    return column.replace("_", " ")


def model_page_html(cat: Any, name: str, version: int, status: str, level: str) -> str:
    """The model page of one version, from the catalog (an open `CatalogClient`)."""
    sections = []
    for title, query in _SECTIONS:
        rel = cat.sql(query, [name, version])
        sections.append((title, rel.columns, rel.fetchall()))
    return _TEMPLATE.render(
        name=name, version=version, v={"status": status, "level": level}, sections=sections, fmt=_fmt, header=_header
    )


def write_model_pages(warehouse: Warehouse, name: str) -> list[str]:
    """(Re)write the model page of every version of `name`; returns their paths relative to the warehouse."""
    from pipelines.catalog.client import CatalogClient

    out = []
    with CatalogClient(warehouse.root) as cat:
        versions = cat.rows("SELECT version, status, level FROM versions WHERE name = ? ORDER BY version", [name])
        for version, status, level in versions:
            html = model_page_html(cat, name, version, status, level)
            path = warehouse.dataset_dir(name) / MODELS_DIR / f"v{version}.html"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(html, encoding="utf-8")
            out.append(path.relative_to(warehouse.root).as_posix())
    return out
