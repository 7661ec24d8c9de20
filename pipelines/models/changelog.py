"""A version's changelog against its parent: corrections added or withdrawn, source files, spec and rules."""

from __future__ import annotations

from typing import Any


def _describe(c: dict[str, Any]) -> str:
    what = (
        f"excluded row `{c['row_key']}`"
        if c["action"] == "exclude"
        else f"{c['action']} `{c['column']}` of row `{c['row_key']}`: {c['old_value']} -> {c['new_value']}"
    )
    if c.get("skipped"):
        what = f"not applied to row `{c['row_key']}`: {c['skipped']}"
    elif not c.get("rows_affected"):
        what += " (row key not in the raw data: nothing changed)"
    return f"{what}; feedback {c['feedback_id']} accepted by {c.get('reviewed_by') or '?'}: {c.get('reason') or ''}".rstrip(": ")


def mark_new_corrections(parent: dict[str, Any] | None, corrections: list[dict[str, Any]]) -> None:
    """Set `new_in_version` on each correction: not applied by `parent` (the previous published manifest)."""
    before = {c["feedback_id"] for c in (parent or {}).get("corrections", [])}
    for c in corrections:
        c["new_in_version"] = c["feedback_id"] not in before


def changelog(parent: dict[str, Any] | None, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed from `parent` (the previous published manifest, or None) to `manifest`."""
    corrections = manifest.get("corrections", [])
    before = {c["feedback_id"]: c for c in (parent or {}).get("corrections", [])}
    if parent is None:
        n = len(manifest["source_files"])
        first = [{"change": "first_version", "detail": f"first version, from {n} source file{'s' if n != 1 else ''}"}]
        return first + [
            {"change": "correction_added", "detail": _describe(c), "feedback_id": c["feedback_id"]} for c in corrections
        ]
    out: list[dict[str, Any]] = []
    now = {c["feedback_id"] for c in corrections}
    out += [
        {"change": "correction_added", "detail": _describe(c), "feedback_id": c["feedback_id"]}
        for c in corrections
        if c["feedback_id"] not in before
    ]
    out += [
        {"change": "correction_removed", "detail": f"no longer applied: {_describe(c)}", "feedback_id": fid}
        for fid, c in sorted(before.items())
        if fid not in now
    ]
    old_files = {f["path"]: f["sha256"] for f in parent.get("source_files", [])}
    new_files = {f["path"]: f["sha256"] for f in manifest["source_files"]}
    out += [{"change": "file_added", "detail": p} for p in sorted(new_files.keys() - old_files.keys())]
    out += [{"change": "file_removed", "detail": p} for p in sorted(old_files.keys() - new_files.keys())]
    out += [
        {"change": "file_changed", "detail": f"{p} (sha256 {old_files[p][:12]} -> {new_files[p][:12]})"}
        for p in sorted(new_files.keys() & old_files.keys())
        if new_files[p] != old_files[p]
    ]
    out += _partition_changes(parent, manifest)
    if parent.get("spec_data_hash") != manifest.get("spec_data_hash"):
        out.append({"change": "spec_changed", "detail": "the spec's columns, types or source options changed"})
    if parent.get("rules_hash") != manifest.get("rules_hash"):
        out.append({"change": "rules_changed", "detail": "the quality rules changed"})
    return out


def _partition_changes(parent: dict[str, Any], manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Partitions added, and partitions rebuilt from other inputs (a partitioned dataset)."""
    before = {p["key"]: p for p in parent.get("partitions") or []}
    out = []
    for p in manifest.get("partitions") or []:
        old = before.get(p["key"])
        if old is None:
            out.append({"change": "partition_added", "detail": f"{p['key']} ({p['counts']['rows_in']:,} rows in)"})
        elif old["data_hash"] != p["data_hash"]:
            c, o = p["counts"], old["counts"]
            out.append(
                {
                    "change": "partition_rebuilt",
                    "detail": f"{p['key']} (built in v{old['built_in_version']} -> v{p['built_in_version']}; rows in "
                    f"{o['rows_in']:,} -> {c['rows_in']:,}, quarantined {o['rows_quarantined']:,} -> {c['rows_quarantined']:,})",
                }
            )
    return out
