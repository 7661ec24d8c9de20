"""Why each version has its certification level, for the run summary, the report and the card."""

from __future__ import annotations

from html import escape
from typing import Any

from rich.console import Console
from rich.markup import escape as markup_escape

SHOWN = 8  # failed measures listed per version in the run summary (all are in the report and the manifest)


def print_level_reasons(out: Console, published: list[Any]) -> None:
    """Below the run table: one line per version with its verdict, then its failed gates and measures."""
    for p in published:
        if not p.reasons:
            continue
        head, *rest = p.reasons
        out.print(f"[bold]{markup_escape(p.dataset)}[/] v{p.version} {markup_escape(head)}", highlight=False)
        for r in rest[:SHOWN]:
            out.print(f"  - {markup_escape(r)}", highlight=False)
        if len(rest) > SHOWN:
            out.print(f"  ... and {len(rest) - SHOWN} more in the quality report", highlight=False)


def reasons_html(quality: dict[str, Any]) -> str:
    """The reasons of a manifest's `quality` block as an HTML list (empty for versions scored before they existed)."""
    reasons = quality.get("reasons") or []
    if not reasons:
        return ""
    head, *rest = reasons
    items = "".join(f"<li>{escape(r)}</li>" for r in rest)
    return f"<p><b>Why this level:</b> {escape(head)}</p>" + (f"<ul>{items}</ul>" if items else "")


def reasons_markdown(quality: dict[str, Any]) -> list[str]:
    """The reasons as markdown lines for the dataset card."""
    reasons = quality.get("reasons") or []
    if not reasons:
        return []
    head, *rest = reasons
    return [f"Why this level: {head}", "", *(f"- {r}" for r in rest), ""]
