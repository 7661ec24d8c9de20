"""Charts for the quality report, drawn with matplotlib and embedded as inline SVG (no JavaScript, works offline)."""

from __future__ import annotations

import io
from typing import Any

_PASS, _FAIL, _WARN, _GREY = "#2e7d32", "#c62828", "#f9a825", "#90a4ae"
_SUSPECT = "#ffe082"
# Level bands of the score trend, lightest for bronze (thresholds from the guide, pipelines/quality/guide.py).
_BANDS = {"gold": "#f3e5ab", "silver": "#e3e8ec", "bronze": "#f1ddd0"}
# Fonts tried in order for text in the SVG: CJK names (e.g. dimension names in Chinese) fall back to a CJK font.
FONT_STACK = [
    "DejaVu Sans",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "sans-serif",
]


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display), imported on first use."""
    import logging

    import matplotlib

    # The SVG names the whole font stack and the browser picks; fonts missing here are not an error.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _figure(width: float, height: float) -> tuple[Any, Any]:
    plt = pyplot()

    plt.rcParams.update(
        {"font.size": 9, "svg.fonttype": "none", "axes.spines.top": False, "axes.spines.right": False, "font.family": FONT_STACK}
    )
    return plt.subplots(figsize=(width, height))


def _integer_axis(axis: Any) -> None:
    """Ticks on whole numbers only (counts, version numbers)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


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


def score_trend(history: list[tuple[int, float | None, str]], levels: dict[str, float] | None = None) -> str:
    """Line: overall score per version over the level bands (rejected candidates marked red).

    The y axis starts just under the lowest score or the bronze threshold, whichever is lower, so that
    0.9990 and 0.9998 are told apart; each band is labelled with its level.
    """
    from pipelines.quality.guide import LEVELS

    levels = levels or dict(LEVELS)
    fig, ax = _figure(6.0, 2.4)
    pts = [(v, s, st) for v, s, st in history if s is not None]
    low = min([levels["bronze"], *(p[1] for p in pts)]) if pts else levels["bronze"]
    bottom = max(0.0, low - 0.02)
    tops = {"gold": 1.0, "silver": levels["gold"], "bronze": levels["silver"]}
    for name, top in tops.items():
        ax.axhspan(levels[name], top, color=_BANDS[name], zorder=0, linewidth=0)
        ax.text(1.01, (levels[name] + top) / 2, name, transform=ax.get_yaxis_transform(), va="center", fontsize=8, color="#555")
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=_GREY, linewidth=1, zorder=1)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], c=[_FAIL if p[2] == "rejected" else _PASS for p in pts], zorder=2)
        ax.set_xticks([p[0] for p in pts], [f"v{p[0]}" for p in pts])
        for v, score, _ in pts[-12:]:  # the value of each recent point: bands give the level, the label the detail
            ax.annotate(f"{score:.4f}", (v, score), textcoords="offset points", xytext=(0, -11), ha="center", fontsize=7)
        if len(pts) == 1:
            ax.set_xlim(pts[0][0] - 1, pts[0][0] + 1)
    ax.set_ylim(bottom, 1.0 + (1.0 - bottom) * 0.03)
    ax.set_ylabel("overall score")
    return _svg(fig)


def failures_per_rule(rows: list[tuple[str, int, int, str]]) -> str:
    """Stacked bars per rule with any: rows that failed it (red for an error rule, which quarantines them;
    amber for a warn rule, which publishes them flagged) and rows it found suspect (light amber, published flagged)."""
    rows = [r for r in rows if r[1] or r[2]][:25]
    fig, ax = _figure(6.0, 0.3 * max(len(rows), 1) + 1.0)
    if rows:
        names = [r[0] for r in rows]
        failed = [r[1] for r in rows]
        colors = [_FAIL if r[3] == "error" else _WARN for r in rows]
        ax.barh(names, failed, color=colors)
        ax.barh(names, [r[2] for r in rows], left=failed, color=_SUSPECT)
        ax.invert_yaxis()
        from matplotlib.patches import Patch

        handles = [
            Patch(color=_FAIL, label="failed, error rule: quarantined"),
            Patch(color=_WARN, label="failed, warn rule: published, flagged"),
            Patch(color=_SUSPECT, label="suspect: published, flagged"),
        ]
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False, fontsize=8)
    _integer_axis(ax.xaxis)
    ax.set_xlabel("rows")
    return _svg(fig)
