"""The files a run set aside whole (`quarantined_files`), as the dataset card shows them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def set_aside_lines(m: dict[str, Any], table: Callable[[list[str], list[list[Any]]], list[str]]) -> list[str]:
    """Markdown lines listing the files set aside with their rows and reasons; nothing when there are none.

    Args:
        m: A version's manifest.
        table: Renders a Markdown table from a header and rows.
    """
    files = m.get("quarantined_files", [])
    if not files:
        return []
    fc = m.get("file_counts")
    head = f"{fc['files_in']} files in = {fc['files_read']} read + {fc['files_set_aside']} set aside. " if fc else ""
    rows = [[f"`{f['path']}`", "" if f.get("rows") is None else f["rows"], f["reason"]] for f in files]
    return [
        "",
        "### Files set aside",
        "",
        head + "A file set aside is not read: its rows are in none of the row counts.",
        "",
        *table(["file", "rows", "reason"], rows),
    ]


__all__ = ["set_aside_lines"]
