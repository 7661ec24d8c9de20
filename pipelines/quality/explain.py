"""Why a blocking rule failed, in words: the rule id as written, X = A / B against its threshold, what it saw."""

from __future__ import annotations

from typing import Any

from pipelines.quality.guide import clause as guide_clause

PANDERA = "pandera"


def is_blocking(outcome: dict[str, Any]) -> bool:
    """True for a failed error-severity dataset-level rule (one that cannot quarantine rows, so it blocks the version).

    Args:
        outcome: A rule outcome as stored in a manifest (`RuleOutcome.as_dict()`).
    """
    return outcome["engine"] != PANDERA and outcome["severity"] == "error" and not outcome["passed"]


def blocking_failures(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outcomes of `outcomes` that block a version (see `is_blocking`), in rule order."""
    return [o for o in outcomes if is_blocking(o)]


def _num(v: Any) -> str:
    if v is None:
        return "n/a"
    f = float(v)
    return f"{int(f):,}" if f.is_integer() and abs(f) < 1e15 else f"{f:.4g}"


def explain(outcome: dict[str, Any]) -> str:
    """One rule's failure in one line: `rule_id` as written, each failing measure as X = A / B below its threshold
    (with what A and B count), the columns it read and what it observed (offending values, groups or columns).

    Args:
        outcome: A rule outcome as stored in a manifest (`RuleOutcome.as_dict()`).
    """
    parts = []
    for m in outcome.get("measures", []):
        if m.get("passed", True):
            continue
        c = guide_clause(m["clause"])
        parts.append(
            f"X = A / B = {_num(m['a'])} / {_num(m['b'])} = {_num(m['x'])} below its threshold {_num(m['threshold'])} "
            f"({m['clause']} {c.title.lower()}; A / B = {c.formula})"
        )
    text = f"`{outcome['rule_id']}` ({outcome['kind']}) failed: " + ("; ".join(parts) or "its measure is below its threshold")
    if outcome.get("columns"):
        text += f"; columns: {', '.join(outcome['columns'])}"
    if outcome.get("params"):
        text += f"; rule: {outcome['params']}"
    if outcome.get("observed"):
        text += f"; observed: {outcome['observed']}"
    return text


def gate_message(dataset: str, outcomes: list[dict[str, Any]], version: int | None, partition: str | None = None) -> str | None:
    """The error of a run whose version is blocked by failed dataset-level error rules, or None when none failed.

    Args:
        dataset: The dataset's name.
        outcomes: The version's rule outcomes, as stored in its manifest.
        version: The rejected candidate the run wrote (None when it wrote none).
        partition: The partition the rules ran on, for a partitioned dataset.
    """
    blocking = blocking_failures(outcomes)
    if not blocking:
        return None
    where = f" partition `{partition}`:" if partition else ""
    kept = (
        f"v{version} is kept as a rejected candidate (`moshu report {dataset}@{version}` shows why) and nothing became latest"
        if version is not None
        else "nothing was published"
    )
    return (
        f"dataset `{dataset}`:{where} blocking rule {'; '.join(explain(o) for o in blocking)}. A dataset-level error rule "
        f"cannot quarantine rows, so {kept}; fix the data or relax the rule (or make it `severity: warn`)"
    )


def measured(outcome: dict[str, Any]) -> str:
    """What a dataset-level rule measured: `X = A / B` (threshold T) per measure, with what A and B count.

    Args:
        outcome: A rule outcome as stored in a manifest (`RuleOutcome.as_dict()`).
    """
    out = []
    for m in outcome.get("measures", []):
        c = guide_clause(m["clause"])
        out.append(
            f"{m['clause']}: {_num(m['x'])} = {_num(m['a'])} / {_num(m['b'])} (threshold {_num(m['threshold'])}; {c.formula})"
        )
    return "; ".join(out) or (outcome.get("observed") or "")
