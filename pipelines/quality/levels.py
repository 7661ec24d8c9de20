"""Certification levels and the reasons for them: what gold, silver and bronze allow (docs/guide.md, 15.5).

gold: every hard gate holds, every applicable scored measure meets its threshold, overall >= 0.95.
silver: every hard gate holds, overall >= 0.90, and every scored measure that fails is a near
miss, short of its threshold by at most `SILVER_MARGIN`. bronze: every hard gate holds and
overall >= 0.80. Otherwise uncertified.
"""

from __future__ import annotations

from typing import Any

from pipelines.quality.guide import LEVELS, UNCERTIFIED, clause

SILVER_MARGIN = 0.05
_MINIMUM = dict(LEVELS)
_DETAIL = 160  # characters of a measure's detail kept in a reason
_GATE_DETAIL = 400  # ... of a failed gate's (which file of a version does not read back, and why)


def shortfall(row: dict[str, Any]) -> float:
    """How far a scored measure falls short of its threshold, on the scale it is scored on (0 when it passes)."""
    x, t = row["x"], row["threshold"]
    if x is None or x >= t - 1e-12:
        return 0.0
    if clause(row["clause"]).scoring == "attainment":
        return 1.0 - (x / t if t else 1.0)
    return float(t - x)


def _clipped(detail: str, limit: int = _DETAIL) -> str:
    return detail if len(detail) <= limit else detail[: limit - 3] + "..."


def _named(row: dict[str, Any]) -> str:
    text = f"{row['clause']} {row['rule_id']} X = {row['x']:.4f} < {row['threshold']:g}"
    detail = row.get("detail")
    if detail:
        text += f" ({_clipped(detail)})"
    return text


def certify(overall: float | None, rows: list[dict[str, Any]], failed_gates: list[str]) -> tuple[str, list[str]]:
    """The level of a scored version and the reasons for it, first the verdict, then each failed gate or measure.

    Args:
        overall: The overall score (None when nothing was scored).
        rows: The scorecard's measure rows (`gate`, `applicable`, `x`, `threshold`, `clause`, `rule_id`, `detail`).
        failed_gates: `rule (clause)` of every gate that does not hold; its reason carries the measure's `detail`.
    """
    gates = [r for r in rows if r["gate"] and r["applicable"]]
    scored = [r for r in rows if not r["gate"] and r["applicable"]]
    failed = [r for r in scored if shortfall(r) > 0]
    named = [_named(r) for r in sorted(failed, key=shortfall, reverse=True)]
    if failed_gates:
        found: dict[str, str] = {f"{r['rule_id']} ({r['clause']})": r["detail"] for r in rows if r.get("detail")}
        return UNCERTIFIED, [
            f"uncertified: {len(failed_gates)} hard gate(s) fail",
            *(f"gate {g} fails" + (f": {_clipped(found[g], _GATE_DETAIL)}" if g in found else "") for g in failed_gates),
        ]
    if overall is None:
        return UNCERTIFIED, ["uncertified: no applicable scored measure"]
    s = f"score {overall:.4f}"
    if not failed and overall >= _MINIMUM["gold"] - 1e-12:
        return "gold", [f"gold: all {len(gates)} gates hold, all {len(scored)} scored measures pass, {s}"]
    far = [r for r in failed if shortfall(r) > SILVER_MARGIN + 1e-12]
    why_not_gold = f"{len(failed)} of {len(scored)} scored measures fail" if failed else f"{s} < {_MINIMUM['gold']}"
    if not far and overall >= _MINIMUM["silver"] - 1e-12:
        return "silver", [f"silver: all {len(gates)} gates hold, {s}; not gold: {why_not_gold}", *named]
    if overall >= _MINIMUM["bronze"] - 1e-12:
        if overall < _MINIMUM["silver"] - 1e-12:
            why = f"{s} < {_MINIMUM['silver']}"
        else:
            why = f"{len(far)} scored measures miss their threshold by more than {SILVER_MARGIN}"
        return "bronze", [f"bronze: all {len(gates)} gates hold, {s}; not silver: {why}", *named]
    return UNCERTIFIED, [f"uncertified: {s} < {_MINIMUM['bronze']}", *named]
