"""The baseline profile of a version as an HTML section (quality report) and markdown lines (dataset card)."""

from __future__ import annotations

from html import escape
from typing import Any

SHOWN = 60  # columns listed in full; the manifest and the catalog's `column_profiles` hold them all


def _num(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _flags(c: dict[str, Any]) -> str:
    out = []
    if c["constant"]:
        out.append("constant")
    if c["duplicate_of"]:
        out.append(f"= {c['duplicate_of']}")
    return ", ".join(out)


def _summary(p: dict[str, Any]) -> str:
    cols = p["columns"]
    constant = sum(c["constant"] for c in cols)
    copied = sum(1 for c in cols if c["duplicate_of"] and not c["constant"])
    cells = p["rows"] * len(cols)
    nulls = sum(c["nulls"] for c in cols)
    share = f"{nulls / cells:.2%}" if cells else "n/a"
    return (
        f"{p['rows']:,} rows, {len(cols)} columns; {share} of cells empty; {constant} constant and {copied} duplicated "
        f"columns; {p['duplicate_rows']:,} duplicate rows"
    )


def profile_html(p: dict[str, Any] | None) -> str:
    """The profile section of the quality report (empty for versions published before profiles existed)."""
    if not p:
        return ""
    head = "<tr><th>column</th><th>dtype</th><th>filled</th><th>distinct</th><th>flags</th><th>min</th><th>p01</th><th>p50</th><th>p99</th><th>max</th><th>top values</th></tr>"
    body = []
    for c in p["columns"][:SHOWN]:
        top = ", ".join(f"{t['value']} ({t['n']:,})" for t in c["top"])
        filled = f"{c['completeness']:.2%}" if c["completeness"] is not None else "n/a"
        cls = ' class="fail"' if (c["completeness"] or 0) < 0.99 or _flags(c) else ""
        cells = [
            c["name"],
            c["dtype"],
            filled,
            f"{c['distinct']:,}",
            _flags(c),
            _num(c["min"]),
            _num(c["p01"]),
            _num(c["p50"]),
            _num(c["p99"]),
            _num(c["max"]),
            top,
        ]
        body.append(f"<tr{cls}>" + "".join(f"<td>{escape(str(x))}</td>" for x in cells) + "</tr>")
    more = f"<p>... {len(p['columns']) - SHOWN} more columns in the manifest.</p>" if len(p["columns"]) > SHOWN else ""
    labels = "".join(
        f"<p>Label <code>{escape(lab['column'])}</code>: {lab['labelled']:,} of {lab['rows']:,} rows labelled; classes "
        + escape(", ".join(f"{k['value']} ({k['n']:,})" for k in lab["classes"][:20]))
        + "</p>"
        for lab in p["labels"]
    )
    return f"<h2>Baseline profile</h2><p>{escape(_summary(p))}</p>{labels}<table>{head}{''.join(body)}</table>{more}"


def profile_markdown(p: dict[str, Any] | None) -> list[str]:
    """The profile as markdown lines for the dataset card: the summary and the flawed columns."""
    if not p:
        return []
    lines = ["## Baseline profile", "", _summary(p) + ".", ""]
    flawed = [c for c in p["columns"] if _flags(c) or (c["completeness"] is not None and c["completeness"] < 0.99)]
    if flawed:
        lines += ["| column | filled | distinct | flags |", "|---|---|---|---|"]
        lines += [f"| `{c['name']}` | {c['completeness']:.2%} | {c['distinct']:,} | {_flags(c)} |" for c in flawed[:SHOWN]]
        if len(flawed) > SHOWN:
            lines.append(f"| ... {len(flawed) - SHOWN} more | | | |")
        lines.append("")
    for lab in p["labels"]:
        classes = ", ".join(f"{k['value']} ({k['n']:,})" for k in lab["classes"][:20])
        lines += [f"Label `{lab['column']}`: {lab['labelled']:,} of {lab['rows']:,} rows labelled; {classes}.", ""]
    return lines
