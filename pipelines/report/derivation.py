"""Card and report lines for columns not read as they are: derived (`expr`), respelled (`map`), brought in by `enrich`."""

from __future__ import annotations

from typing import Any


def derivation_lines(manifest: dict[str, Any]) -> list[str]:
    """Markdown bullets saying how each derived, respelled or enriched column was made (empty when none is).

    Args:
        manifest: A version's manifest (its `schema` entries carry `expr`, `map` and `enriched_from`).

    Returns:
        A blank line and one bullet per such column, or nothing.
    """
    out = []
    mapped = manifest.get("mapped_values", {})
    for c in manifest.get("schema", []):
        parts = []
        if c.get("expr"):
            parts.append(f"derived: `{c['expr']}`")
        if c.get("enriched_from"):
            parts.append(f"from `{c['enriched_from']}` by {c.get('enrich_by', 'key')}, column `{c.get('source')}`")
        if c.get("map"):
            counts = mapped.get(c["name"], {})
            parts.append("respelled " + ", ".join(f"`{a}` -> `{b}` ({counts.get(a, 0)} values)" for a, b in c["map"].items()))
        if parts:
            out.append(f"- `{c['name']}`: " + "; ".join(parts) + ".")
    return ["", "How columns not read as they are were made:", "", *out] if out else []


def lookup_rows(manifest: dict[str, Any]) -> list[list[Any]]:
    """Rows of the provenance table for the `enrich` files of a version: path (and its entry), sha256, bytes, rows."""
    rows = []
    for f in manifest.get("lookup_files", []):
        paired = f" paired with `{f['paired_with']}`" if f.get("paired_with") else ""
        rows.append(
            [f"{f['path']} (enrich `{f['enrich']}`{paired})", f"`{f['sha256'][:12]}`", f.get("size", ""), f.get("rows", "")]
        )
    return rows


__all__ = ["derivation_lines", "lookup_rows"]
