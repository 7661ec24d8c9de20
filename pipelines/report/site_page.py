"""The catalog site's page: its Jinja template (inline CSS and script) and its charts as hand-built inline SVG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from pipelines.quality.guide import LEVELS, UNCERTIFIED

# Light fills of the level bands (the hues of the report's level badges) and stronger ones for heatmap cells.
BAND_FILL = {"gold": "#f6ebc4", "silver": "#e6eaef", "bronze": "#f3dccd", UNCERTIFIED: "#f9d6d6"}
CELL_FILL = {"gold": "#e3c565", "silver": "#b8c2cd", "bronze": "#d9a27f", UNCERTIFIED: "#e57373"}
POINT = {"gold": "#b8860b", "silver": "#708090", "bronze": "#a0522d", UNCERTIFIED: "#c62828"}
_W, _H = 560, 200  # trend chart size
_L, _R, _T, _B = 62, 92, 12, 30  # its margins: y labels on the left, band names on the right


def level_of(score: float | None, levels: Sequence[tuple[str, float]] = LEVELS) -> str:
    """The level a score reaches by the thresholds alone (gold, silver, bronze or uncertified)."""
    if score is None:
        return UNCERTIFIED
    return next((name for name, low in levels if score >= low), UNCERTIFIED)


def score_range(scores: Sequence[float]) -> tuple[float, float]:
    """The y-axis of a trend: the scores' span with a margin, so 0.9998 and 0.9990 stand apart; at most [0, 1]."""
    lo, hi = min(scores), max(scores)
    pad = max((hi - lo) * 0.3, 0.0005)
    return max(0.0, lo - pad), min(1.0, hi + pad)


def nice_ticks(lo: float, hi: float, count: int = 4) -> tuple[list[float], int]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) between lo and hi, and their decimals."""
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = [round(first + i * step, decimals + 2) for i in range(int((hi - first) / step + 1e-9) + 1)]
    return ticks, decimals


def _bands(levels: Sequence[tuple[str, float]]) -> list[tuple[str, float, float]]:
    """(level, low, high) for every band from uncertified up to gold."""
    bounds = sorted(levels, key=lambda x: x[1])
    out = [(UNCERTIFIED, 0.0, bounds[0][1])]
    for i, (name, low) in enumerate(bounds):
        out.append((name, low, bounds[i + 1][1] if i + 1 < len(bounds) else 1.0))
    return out


def level_trend(points: Sequence[tuple[int, float | None, str, str]], levels: Sequence[tuple[str, float]] = LEVELS) -> str:
    """Overall score per version over the bronze, silver and gold bands, the y-axis zoomed to the scores.

    Args:
        points: (version, score, status, level) per version; versions without a score are left out. A point is
            colored by its level, which gates and demands can hold below the band its score falls in.
        levels: (level, lowest score) pairs, by default the guide's `LEVELS`.

    Returns:
        An `<svg>` element, or a short `<p>` when no version has a score.
    """
    pts = sorted((v, s, st, lvl) for v, s, st, lvl in points if s is not None)
    if not pts:
        return '<p class="muted">No scored version yet.</p>'
    y0, y1 = score_range([s for _, s, _, _ in pts])
    pw, ph = _W - _L - _R, _H - _T - _B
    v0, v1 = pts[0][0], pts[-1][0]

    def x(v: int) -> float:
        return _L + (pw / 2 if v0 == v1 else (v - v0) / (v1 - v0) * pw)

    def y(s: float) -> float:
        return _T + ph - (s - y0) / (y1 - y0) * ph

    parts = [
        f'<svg class="trend" role="img" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>level trend: score per version, axis {y0:.4f} to {y1:.4f}</title>'
    ]
    for name, low, high in _bands(levels):
        a, b = max(low, y0), min(high, y1)
        if b <= a:
            continue
        top, bottom = y(b), y(a)
        parts.append(
            f'<rect class="band band-{name}" x="{_L}" y="{top:.1f}" width="{pw}" height="{bottom - top:.1f}" fill="{BAND_FILL[name]}"/>'
        )
        if bottom - top >= 11:
            label = name if name == UNCERTIFIED else f"{name} \u2265 {low:g}"
            parts.append(f'<text x="{_L + pw + 6}" y="{(top + bottom) / 2 + 4:.1f}" class="band-label">{label}</text>')
        if y0 < low < y1:
            parts.append(f'<line x1="{_L}" x2="{_L + pw}" y1="{y(low):.1f}" y2="{y(low):.1f}" class="threshold"/>')
    ticks, decimals = nice_ticks(y0, y1)
    for t in ticks:
        parts.append(f'<line x1="{_L - 4}" x2="{_L}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="axis"/>')
        parts.append(f'<text x="{_L - 7}" y="{y(t) + 4:.1f}" text-anchor="end" class="tick">{t:.{decimals}f}</text>')
    versions = [v for v, _, _, _ in pts]
    step = max(1, math.ceil(len(versions) / 12))
    for v in versions[::step]:
        parts.append(f'<text x="{x(v):.1f}" y="{_T + ph + 18}" text-anchor="middle" class="tick xtick">v{v}</text>')
    parts.append(f'<line x1="{_L}" x2="{_L}" y1="{_T}" y2="{_T + ph}" class="axis"/>')
    parts.append(f'<line x1="{_L}" x2="{_L + pw}" y1="{_T + ph}" y2="{_T + ph}" class="axis"/>')
    if len(pts) > 1:
        path = " ".join(f"{x(v):.1f},{y(s):.1f}" for v, s, _, _ in pts)
        parts.append(f'<polyline points="{path}" class="line"/>')
    for v, s, status, level in pts:
        lvl = level if level in POINT else UNCERTIFIED
        rejected = status == "rejected"
        fill = "#fff" if rejected else POINT[lvl]
        stroke = POINT[UNCERTIFIED] if rejected else POINT[lvl]
        parts.append(
            f'<circle class="point" data-version="{v}" data-score="{s:.6f}" cx="{x(v):.1f}" cy="{y(s):.1f}" r="4.5" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="2"><title>v{v} {escape(status)}, level {lvl}: score {s:.4f} (in the {level_of(s, levels)} band)</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)


def dimension_heatmap(cells: dict[str, dict[int, float | None]], versions: Sequence[int]) -> str:
    """Score of every quality dimension (rows) in every version (columns), each cell colored by its level band.

    Args:
        cells: dimension -> version -> score (None: not applicable).
        versions: The columns, in order.

    Returns:
        An `<svg>` element with the score written in each cell, or a short `<p>` when there is nothing to show.
    """
    if not cells or not versions:
        return '<p class="muted">No dimension scores yet.</p>'
    label_w, cw, ch, head = 170, 68, 22, 22
    width, height = label_w + cw * len(versions) + 2, head + ch * len(cells) + 2
    parts = [
        f'<svg class="heatmap" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>dimension scores per version</title>'
    ]
    for j, v in enumerate(versions):
        parts.append(f'<text x="{label_w + j * cw + cw / 2}" y="15" text-anchor="middle" class="tick">v{v}</text>')
    for i, (dim, by_version) in enumerate(sorted(cells.items())):
        top = head + i * ch
        parts.append(
            f'<text x="{label_w - 8}" y="{top + 15}" text-anchor="end" class="dim">{escape(dim.replace("_", " "))}</text>'
        )
        for j, v in enumerate(versions):
            s = by_version.get(v)
            fill = "#eeeeee" if s is None else CELL_FILL[level_of(s)]
            text = "n/a" if s is None else f"{s:.4f}"
            left = label_w + j * cw
            parts.append(
                f'<g class="cell" data-dimension="{escape(dim)}" data-version="{v}">'
                f'<rect x="{left}" y="{top}" width="{cw - 2}" height="{ch - 2}" fill="{fill}"/>'
                f'<text x="{left + (cw - 2) / 2}" y="{top + 15}" text-anchor="middle" class="value">{text}</text></g>'
            )
    parts.append("</svg>")
    keys = "".join(
        f'<span class="key" style="background:{CELL_FILL[n]}">{n}</span>' for n in (*(n for n, _ in LEVELS), UNCERTIFIED)
    )
    return "".join(parts) + f'<p class="legend">cell color: the level band of the score {keys}</p>'


FONTS = 'system-ui, "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", sans-serif'

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>moshu catalog: {{ datasets|length }} datasets</title>
<style>
 body{font-family:{{ fonts }};margin:0 auto;padding:1.5rem 2rem;max-width:1280px;color:#222;line-height:1.4}
 h1{margin:.2rem 0} h2{margin:2rem 0 .4rem;border-bottom:2px solid #ddd;padding-bottom:.2rem} h3{margin:1.2rem 0 .3rem;font-size:1rem}
 table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.4rem 0 1rem}
 th,td{border-bottom:1px solid #e3e3e3;padding:.3rem .45rem;text-align:left;vertical-align:top}
 th{background:#f5f5f5;position:sticky;top:0} td.num{text-align:right;font-variant-numeric:tabular-nums}
 .badge{display:inline-block;padding:.1rem .6rem;border-radius:1rem;color:#fff;font-weight:600;font-size:.75rem;text-transform:uppercase}
 .gold{background:#b8860b}.silver{background:#708090}.bronze{background:#a0522d}.uncertified{background:#c62828}
 .rejected{color:#c62828;font-weight:600} .met{color:#2e7d32;font-weight:600} .unmet{color:#c62828;font-weight:600}
 .muted{color:#777} .filters{display:flex;gap:1rem;align-items:center;flex-wrap:wrap;margin:1rem 0;padding:.6rem .8rem;background:#f7f7f7;border-radius:.4rem}
 .filters input{font:inherit;padding:.25rem .5rem;min-width:18rem} .filters select{font:inherit;padding:.2rem}
 section.dataset{margin-top:1.5rem;padding-top:.2rem} .charts{display:flex;gap:2rem;flex-wrap:wrap;align-items:flex-start}
 .meta{font-size:.9rem} .meta b{font-weight:600} td.why{font-size:.8rem;color:#444;max-width:28rem}
 svg text{font-family:{{ fonts }};font-size:11px;fill:#333} svg .band-label{fill:#555;font-size:10px}
 svg .axis{stroke:#888;stroke-width:1} svg .threshold{stroke:#999;stroke-dasharray:4 3;stroke-width:1}
 svg .line{fill:none;stroke:#90a4ae;stroke-width:1.5} svg .value{font-size:10.5px;fill:#111}
 .legend{font-size:.75rem;color:#555;margin:.2rem 0} .key{padding:0 .4rem;margin-left:.3rem;border-radius:.2rem}
 [hidden]{display:none!important}
</style></head><body>
<h1>Dataset catalog</h1>
<p class="muted">Generated {{ generated }} UTC from the warehouse catalog by <code>moshu site</code>; rewritten after every run.
 Levels: {% for name, low in levels %}{{ name }} &ge; {{ low }}{% if not loop.last %}, {% endif %}{% endfor %}.</p>
<div class="filters">
 <label>Search <input id="q" type="search" placeholder="name, title, owner, CDO, grade..."></label>
 <label>Level <select id="level"><option value="">all</option>{% for l in level_names %}<option>{{ l }}</option>{% endfor %}</select></label>
 <label>Grade <select id="grade"><option value="">all</option>{% for g in grades %}<option>{{ g }}</option>{% endfor %}</select></label>
 <span id="shown">{{ datasets|length }} of {{ datasets|length }} datasets</span>
</div>
<table id="overview">
<thead><tr><th>dataset</th><th>title</th><th>owner</th><th>CDO</th><th>grade</th><th>latest</th><th>level</th><th>score</th>
<th>demands met</th><th>anomalies flagged</th><th>findings to review</th></tr></thead>
<tbody>
{% for d in datasets %}
<tr class="ds-row" data-ds="{{ d.name }}" data-level="{{ d.level }}" data-grade="{{ d.grade or '' }}" data-search="{{ d.search }}">
 <td><a href="#ds-{{ d.name }}">{{ d.name }}</a></td><td>{{ d.title }}</td><td>{{ d.owner or '-' }}</td><td>{{ d.cdo or '-' }}</td>
 <td>{{ d.grade or '-' }}</td><td>{% if d.latest %}v{{ d.latest.version }}{% else %}<span class="rejected">none published</span>{% endif %}</td>
 <td><span class="badge {{ d.level }}">{{ d.level }}</span></td><td class="num">{{ score(d.latest.score if d.latest else None) }}</td>
 <td class="num">{% if d.demands %}<span class="{{ 'met' if d.demands_met == d.demands|length else 'unmet' }}">{{ d.demands_met }} / {{ d.demands|length }}</span>{% else %}-{% endif %}</td>
 <td class="num">{{ cell(d.flagged) }}</td><td class="num">{{ cell(d.to_review) }}</td>
</tr>
{% endfor %}
</tbody></table>
{% for d in datasets %}
<section class="dataset" id="ds-{{ d.name }}" data-ds="{{ d.name }}" data-level="{{ d.level }}" data-grade="{{ d.grade or '' }}" data-search="{{ d.search }}">
<h2>{{ d.name }} <span class="badge {{ d.level }}">{{ d.level }}</span></h2>
<p class="meta"><b>{{ d.title }}</b> &middot; owner <b>{{ d.owner or '-' }}</b> &middot; CDO <b>{{ d.cdo or '-' }}</b>
 &middot; grade <b>{{ d.grade or '-' }}</b>{% if d.domain %} &middot; domain {{ d.domain }}{% endif %}
 {% if d.latest %} &middot; latest v{{ d.latest.version }}, score {{ score(d.latest.score) }}{% endif %}</p>
<div class="charts">
 <div><h3>Level trend</h3>{{ d.trend }}</div>
 <div><h3>Dimensions across versions</h3>{{ d.heatmap }}</div>
</div>
<h3>Versions</h3>
<table class="versions"><thead><tr><th>version</th><th>status</th><th>level</th><th>score</th><th>created (UTC)</th>
<th>published</th><th>quarantined</th><th>why this level</th><th>pages</th></tr></thead><tbody>
{% for v in d.versions|reverse %}
<tr><td>v{{ v.version }}</td><td class="{{ 'rejected' if v.status == 'rejected' else '' }}">{{ v.status }}</td>
 <td><span class="badge {{ v.level }}">{{ v.level }}</span></td><td class="num">{{ score(v.score) }}</td><td>{{ v.created }}</td>
 <td class="num">{{ '{:,}'.format(v.rows_published) }}</td><td class="num">{{ '{:,}'.format(v.rows_quarantined) }}</td><td class="why">{{ v.reason }}</td>
 <td>{% for label, href in v.links %}<a href="{{ href }}">{{ label }}</a>{% if not loop.last %} &middot; {% endif %}{% else %}-{% endfor %}</td></tr>
{% endfor %}
</tbody></table>
{% for title, cols, rows, empty in d.tables %}
<h3>{{ title }}</h3>
{% if rows %}<table><thead><tr>{% for c in cols %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for r in rows %}<tr>{% for x in r %}<td>{{ cell(x) }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% else %}<p class="muted">{{ empty }}</p>{% endif %}
{% endfor %}
</section>
{% endfor %}
<script>
(function () {
  var q = document.getElementById("q"), level = document.getElementById("level"), grade = document.getElementById("grade");
  var shown = document.getElementById("shown"), total = document.querySelectorAll("tr.ds-row").length;
  function apply() {
    var text = q.value.trim().toLowerCase(), n = 0;
    document.querySelectorAll("[data-ds]").forEach(function (el) {
      var ok = (!text || el.dataset.search.indexOf(text) >= 0) && (!level.value || el.dataset.level === level.value)
        && (!grade.value || el.dataset.grade === grade.value);
      el.hidden = !ok;
      if (ok && el.tagName === "TR") { n += 1; }
    });
    shown.textContent = n + " of " + total + " datasets";
  }
  [q, level, grade].forEach(function (el) { el.addEventListener("input", apply); });
})();
</script>
</body></html>
"""
