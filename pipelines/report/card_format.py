"""Formatting helpers of the dataset card: one-line text, table cells, numbers and Markdown tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


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
