"""The HTML quality report of one version: verdict, dimension scores, gates, rules by impact, samples, charts."""

from __future__ import annotations

from typing import Any

import jinja2

from pipelines.quality.anomaly_findings import anomalies_of
from pipelines.quality.explain import blocking_failures, explain
from pipelines.quality.guide import BY_ID, DIMENSIONS, LEVELS
from pipelines.report import charts
from pipelines.report.level_reasons import reasons_html
from pipelines.report.profile_section import profile_html

_TEMPLATE = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }} ({{ m.dataset }} v{{ m.version }}) quality report</title>
<style>
 body{font-family:system-ui,"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif;margin:2rem;max-width:1100px;color:#222}
 h1{margin-bottom:.2rem} .sub{color:#555;margin-top:0}
 .badge{display:inline-block;padding:.2rem .7rem;border-radius:1rem;color:#fff;font-weight:600;text-transform:uppercase}
 .gold{background:#b8860b}.silver{background:#708090}.bronze{background:#a0522d}.uncertified{background:#c62828}
 .rejected{background:#c62828}.published{background:#2e7d32}
 table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0 1.5rem}
 th,td{border-bottom:1px solid #ddd;padding:.3rem .4rem;text-align:left;vertical-align:top}
 th{background:#f5f5f5} .fail{color:#c62828;font-weight:600} .warn{color:#b26a00;font-weight:600} .ok{color:#2e7d32} .na{color:#888}
 .grid{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem} .kpi{font-size:1.6rem;font-weight:600}
 code{background:#f3f3f3;padding:0 .2rem}
</style></head><body>
<h1>{{ title }} <small>({{ m.dataset }} v{{ m.version }})</small></h1>
<p class="sub">created {{ m.created_at }} &middot; data hash <code>{{ m.data_hash[:12] }}</code>
{% if m.parent_version %}&middot; parent v{{ m.parent_version }}{% endif %}
{% if m.synthetic %}&middot; <b>synthetic data</b> ({{ m.synthetic.generator }}){% endif %}</p>
<p><span class="badge {{ q.level }}">{{ q.level }}</span>
 <span class="badge {{ m.status }}">{{ m.status }}</span>
 &nbsp;publish gate: at least <b>{{ q.min_level }}</b></p>
{{ reasons|safe }}
<div class="grid">
 <div><div class="kpi">{{ "%.3f"|format(q.overall) if q.overall is not none else "n/a" }}</div>overall score
  (gold &ge; {{ levels.gold }}, silver &ge; {{ levels.silver }}, bronze &ge; {{ levels.bronze }})</div>
 <div><div class="kpi">{{ "{:,}".format(c.rows_published) }} / {{ "{:,}".format(c.rows_in) }}</div>rows published
  ({{ "{:,}".format(c.rows_quarantined) }} quarantined, {{ "{:,}".format(c.rows_warned) }} flagged)</div>
</div>
{% if blocked %}<h2>Why this version was rejected</h2>
<p class="fail">Failed dataset-level error rules cannot quarantine rows, so this candidate never becomes latest:</p>
<ul>{% for b in blocked %}<li>{{ b }}</li>{% endfor %}</ul>{% endif %}
<h2>Hard gates</h2>
{% if q.failed_gates %}<p class="fail">Failed: {{ q.failed_gates|join(", ") }} &mdash; the version cannot be certified.</p>
{% else %}<p class="ok">All {{ gates|length }} hard gates hold for the release.</p>{% endif %}
<table><tr><th>rule</th><th>clause</th><th>measure</th><th>X (input)</th><th>threshold</th><th>release</th></tr>
{% for g in gates %}<tr><td>{{ g.rule_id }}</td><td>{{ g.clause }} {{ clauses[g.clause].title }}</td><td>{{ g.measure_id or "" }}</td>
<td>{{ fmt(g.x) }}</td><td>{{ g.threshold }}</td><td class="{{ 'ok' if g.gate_passed else 'fail' }}">{{ "holds" if g.gate_passed else "FAILS" }}</td></tr>{% endfor %}
{% for kind, n in held %}<tr><td colspan="5">{{ "{:,}".format(n) }} <code>{{ kind }}</code> gates hold</td><td class="ok">holds</td></tr>{% endfor %}
</table>
<div class="grid">
 <div><h2>Score per dimension</h2>{{ dim_chart|safe }}</div>
 <div><h2>Score across versions</h2>{{ trend_chart|safe }}</div>
</div>
<h2>Failures per rule</h2>{{ fail_chart|safe }}
<h2>Rules by impact</h2>
<table><tr><th>rule</th><th>kind</th><th>sev.</th><th>clause / measure</th><th>A</th><th>B</th><th>X</th><th>thr.</th><th>result</th><th>fail / suspect rows</th><th>example</th></tr>
{% for r in rules %}<tr><td>{{ r.rule_id }}</td><td>{{ r.kind }}</td><td>{{ r.severity }}</td>
<td>{{ r.clause }} {{ dims.get(r.dimension, r.dimension) }}{% if r.measure_id %} &middot; {{ r.measure_id }}{% endif %}</td>
<td>{{ fmt(r.a) }}</td><td>{{ fmt(r.b) }}</td><td>{{ fmt(r.x) }}</td><td>{{ r.threshold }}</td>
<td class="{{ 'na' if not r.applicable else ('ok' if r.passed else ('fail' if r.severity == 'error' else 'warn')) }}">{{ "n/a" if not r.applicable else ("pass" if r.passed else "below") }}{% if r.gate %}<br><small>gate {{ "holds" if r.gate_passed else "FAILS" }}</small>{% endif %}</td>
<td>{{ r.failed }} / {{ r.suspect }}</td><td>{{ example(r.example) }}</td></tr>{% endfor %}
</table>
{{ profile|safe }}
{% if m.anomalies is defined %}<h2>Anomalies against earlier versions</h2>
{% if not m.anomalies %}<p class="na">Not enough history yet: nothing compared (clause K-6 is n/a).</p>
{% else %}<p>{{ m.anomalies|length }} comparisons with {{ m.anomalies[0].reference }}; <span class="{{ 'fail' if flagged else 'ok' }}">{{ flagged|length }} anomalies</span> (K-6).</p>
{% if flagged %}<table><tr><th>measure</th><th>column</th><th>partition</th><th>history</th><th>baseline</th><th>observed</th><th>change</th><th>threshold</th></tr>
{% for f in flagged %}<tr><td>{{ f.metric }}</td><td>{{ f.column or "" }}</td><td>{{ f.partition or "" }}</td><td>{{ f.reference }}</td>
<td>{{ fmt(f.baseline) }}</td><td>{{ fmt(f.observed) }}</td><td class="fail">{{ fmt(f.score) }}</td><td>{{ f.threshold }}</td></tr>{% endfor %}
</table>{% endif %}{% endif %}{% endif %}
<h2>What models need (demands)</h2>
{% if m.demands %}<table><tr><th>demand</th><th>rows</th><th>strata covered</th><th>class balance</th><th>time covered</th><th>verdict</th><th>gaps (kind: key, observed / required)</th></tr>
{% for d in m.demands %}<tr><td>{{ d.demand }}</td><td>{{ "{:,}".format(d.rows) }}</td>
<td>{{ "%d / %d"|format(d.covered_strata, d.required_strata) if d.required_strata else "n/a" }}</td>
<td>{{ fmt(d.class_balance) }}</td><td>{{ "%.0f%%"|format(100 * d.time_coverage) if d.time_coverage is not none else "n/a" }}</td>
<td class="{{ 'ok' if d.met else 'fail' }}">{{ "met" if d.met else "%d gaps"|format(d.gaps|length) }}</td>
<td>{% for g in d.gaps[:8] %}{{ g.kind }}: {{ g.key }}, {{ "{:,}".format(g.observed) }} / {{ "{:,}".format(g.required) }}<br>{% endfor %}{% if d.gaps|length > 8 %}... {{ d.gaps|length - 8 }} more (<code>moshu gaps {{ m.dataset }}@{{ m.version }}</code>){% endif %}</td></tr>{% endfor %}
</table>
<p class="sub">Splits, trial training and the diff to the previous version: <a href="../../models/v{{ m.version }}.html">model page of v{{ m.version }}</a> (updated as models report back).</p>
{% else %}<p>No model has declared a demand on this dataset (<code>dataset_specs/demands/</code>).</p>{% endif %}
{% if m.partitions %}<h2>Partitions ({{ m.partitions|length }}, {{ m.partitioning.granularity }} on <code>{{ m.partitioning.column }}</code>)</h2>
<table><tr><th>partition</th><th>built in</th><th>rows in</th><th>published</th><th>quarantined</th><th>rules failed</th><th>documents</th></tr>
{% for p in m.partitions %}<tr><td>{{ p.key }}</td><td>{{ "this version" if p.built_in_version == m.version else "v%d (unchanged)"|format(p.built_in_version) }}</td>
<td>{{ "{:,}".format(p.counts.rows_in) }}</td><td>{{ "{:,}".format(p.counts.rows_published) }}</td><td>{{ "{:,}".format(p.counts.rows_quarantined) }}</td>
<td class="{{ 'ok' if not p.rules|rejectattr('passed')|list else 'fail' }}">{{ p.rules|rejectattr('passed')|list|length }}</td>
<td>{% for f in p.files if f.path.endswith('.html') %}<a href="../{{ f.path }}">data docs</a>{% endfor %}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Changelog</h2>
{% if m.changelog %}<ul>{% for e in m.changelog %}<li><b>{{ e.change }}</b>: {{ e.detail }}</li>{% endfor %}</ul>{% else %}<p>Nothing recorded.</p>{% endif %}
<h2>Quarantined rows (first {{ quarantine|length }})</h2>
{% if quarantine %}<table><tr><th>source</th><th>row</th><th>rules</th><th>why</th></tr>
{% for q in quarantine %}<tr><td>{{ q._source_file }}</td><td>{{ q._source_row }}</td><td>{{ q._failed_rules|join(", ") }}</td><td>{{ q._reasons|join("; ") }}</td></tr>{% endfor %}
</table>{% else %}<p>None.</p>{% endif %}
{% if m.quarantined_files %}<h2>Files set aside ({{ m.quarantined_files|length }})</h2>
<table><tr><th>file</th><th>rows</th><th>reason</th></tr>
{% for f in m.quarantined_files %}<tr><td><code>{{ f.path }}</code></td><td>{{ "" if f.rows is none else f.rows }}</td><td>{{ f.reason }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Lineage and documents</h2>
<ul>{% for f in m.source_files %}<li><code>{{ f.path }}</code> &middot; {{ "{:,}".format(f.rows) }} rows &middot; sha256 <code>{{ f.sha256[:16] }}</code></li>{% endfor %}
{% for f in m.lookup_files or [] %}<li><code>{{ f.path }}</code> (enrich <code>{{ f.enrich }}</code>{% if f.paired_with %}, paired with <code>{{ f.paired_with }}</code>{% endif %}) &middot; {{ "{:,}".format(f.rows) }} rows &middot; sha256 <code>{{ f.sha256[:16] }}</code></li>{% endfor %}
<li>{% if m.ge.data_docs %}<a href="data_docs.html">Great Expectations Data Docs</a> &middot; <a href="ge_validation.json">validation result</a> &middot; {% endif %}<a href="ge_suite.json">expectation suite</a> &middot; <a href="../manifest.json">manifest</a></li></ul>
<p class="sub">Scores follow the moshu Industrial High-Quality Dataset Construction Guide (docs/guide.md).</p>
</body></html>
"""
)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}" if v < 10 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def example_text(v: Any, limit: int = 160) -> str:
    """An example value as a person reads it: a mapping as `key=value`, a list joined by `; `, no Python reprs.

    Details stored as the text of a Python list or dict (older manifests) are read back first.
    """
    if isinstance(v, str) and v[:1] in "[{" and len(v) < 20_000:
        import ast

        try:
            v = ast.literal_eval(v)
        except (ValueError, SyntaxError):  # a repr cut off with "...": drop its brackets and quotes
            import re

            v = re.sub(r"[{}\[\]']", "", v).replace(": ", "=").replace(", ...", " \u2026")
    if v is None:
        return ""
    if isinstance(v, dict):
        text = ", ".join(f"{k}={example_text(x, limit)}" for k, x in v.items())
    elif isinstance(v, list | tuple):
        text = "; ".join(example_text(x, limit) for x in v)
    elif isinstance(v, bool):
        text = "yes" if v else "no"
    elif isinstance(v, float):
        text = _fmt(int(v)) if v.is_integer() else _fmt(v)
    else:
        text = str(v)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


COLLAPSE_AT = 10  # passing gates of one kind beyond this many are shown as one line


def collapse_gates(gates: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
    """Gates to list one by one (failing ones, and kinds with few gates) and `(kind, count)` of the passing
    gates collapsed by kind (wide data has hundreds of dtype gates: "590 `dtype` gates hold")."""
    by_kind: dict[str, int] = {}
    for g in gates:
        if g.get("gate_passed"):
            by_kind[g["kind"]] = by_kind.get(g["kind"], 0) + 1
    many = {k for k, n in by_kind.items() if n > COLLAPSE_AT}
    shown = [g for g in gates if not (g.get("gate_passed") and g["kind"] in many)]
    return shown, sorted((k, by_kind[k]) for k in many)


def render(
    manifest: dict[str, Any], title: str, history: list[tuple[int, float | None, str]], quarantine: list[dict[str, Any]]
) -> str:
    """The report page of one version.

    Args:
        manifest: the version's manifest (with `quality` and `rules`).
        title: the dataset's title.
        history: (version, overall score, status) of every version so far, this one included.
        quarantine: a sample of quarantined rows (dicts with `_source_file`, `_source_row`, `_failed_rules`, `_reasons`).
    """
    q = manifest["quality"]
    by_rule = {r["rule_id"]: r for r in manifest["rules"]}
    measures = []
    for mm in q["measures"]:
        r = by_rule.get(mm["rule_id"], {})
        measures.append({**mm, "kind": r.get("kind", "moshu"), "severity": r.get("severity", "error"), "failed": r.get("failed", 0),
                         "suspect": r.get("suspect", 0), "example": (r.get("samples") or [r.get("observed")])[0] if r else mm.get("detail")})  # fmt: skip
    measures.sort(key=lambda r: (not r["applicable"], (r["x"] - r["threshold"]) if r["x"] is not None else 0, -r["failed"]))
    gates, held = collapse_gates([r for r in measures if r["gate"]])
    blocked = [explain(o) for o in blocking_failures(manifest["rules"])]
    bronze = dict(LEVELS)["bronze"]
    return _TEMPLATE.render(
        m=manifest, q=q, c=manifest["counts"], title=title, rules=measures, gates=gates, held=held, blocked=blocked, flagged=anomalies_of(manifest.get("anomalies") or []), quarantine=quarantine,
        clauses=BY_ID, dims=DIMENSIONS, levels=dict(LEVELS), fmt=_fmt, example=example_text,
        reasons=reasons_html(q), profile=profile_html(manifest.get("profile")),
        dim_chart=charts.dimension_bars(q["dimensions"], bronze), trend_chart=charts.score_trend(history),
        fail_chart=charts.failures_per_rule(
            [(r["rule_id"], r["failed"], r.get("suspect", 0), r.get("severity", "error")) for r in manifest["rules"]]
        ),
    )  # fmt: skip
