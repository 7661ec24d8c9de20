"""Charts for the quality report, drawn with matplotlib and embedded as inline SVG (no JavaScript, works offline)."""

from __future__ import annotations

import io
from typing import Any

_PASS, _FAIL, _WARN, _GREY = "#2e7d32", "#c62828", "#f9a825", "#90a4ae"


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _figure(width: float, height: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "svg.fonttype": "none", "axes.spines.top": False, "axes.spines.right": False})
    return plt.subplots(figsize=(width, height))


def dimension_bars(dimensions: dict[str, float | None], bronze: float) -> str:
    """Horizontal bars: score per dimension, with the bronze line."""
    items = [(d, s) for d, s in dimensions.items() if s is not None]
    fig, ax = _figure(6.0, 0.35 * max(len(items), 1) + 0.8)
    names = [d.replace("_", " ") for d, _ in items]
    values = [s for _, s in items]
    ax.barh(names, values, color=[_PASS if v >= bronze else _FAIL for v in values])
    ax.axvline(bronze, color=_GREY, linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("score (X)")
    for i, v in enumerate(values):
        ax.text(min(v + 0.01, 0.93), i, f"{v:.3f}", va="center")
    return _svg(fig)


def score_trend(history: list[tuple[int, float | None, str]]) -> str:
    """Line: overall score per version (rejected candidates marked red)."""
    fig, ax = _figure(6.0, 2.4)
    pts = [(v, s, st) for v, s, st in history if s is not None]
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=_GREY, linewidth=1, zorder=1)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], c=[_FAIL if p[2] == "rejected" else _PASS for p in pts], zorder=2)
        ax.set_xticks([p[0] for p in pts], [f"v{p[0]}" for p in pts])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("overall score")
    return _svg(fig)


def failures_per_rule(rows: list[tuple[str, int, int]]) -> str:
    """Stacked bars: failed and suspect rows per rule (rules with any)."""
    rows = [r for r in rows if r[1] or r[2]][:25]
    fig, ax = _figure(6.0, 0.3 * max(len(rows), 1) + 0.8)
    if rows:
        names = [r[0] for r in rows]
        ax.barh(names, [r[1] for r in rows], color=_FAIL, label="fail (4)")
        ax.barh(names, [r[2] for r in rows], left=[r[1] for r in rows], color=_WARN, label="suspect (3)")
        ax.invert_yaxis()
        ax.legend(loc="lower right", frameon=False)
    ax.set_xlabel("rows flagged")
    return _svg(fig)
