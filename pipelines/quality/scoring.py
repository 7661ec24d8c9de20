"""Scores and certification: dimension scores, the overall score, hard gates and the certification level.

Per the guide: a dimension's score is the weighted mean of its scored (non-gate) measures' X; the
overall score is the weighted mean of the dimension scores (weights in `guide.DIMENSION_WEIGHTS`,
renormalised over the dimensions that have a score); hard gates are reported apart and never
averaged in; any failed gate leaves the version uncertified whatever its score. The level also
needs every scored measure to pass for gold, and allows only near misses for silver (`levels.py`),
and the scorecard says why the version has its level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.quality.guide import DIMENSION_WEIGHTS, LEVEL_ORDER, clause
from pipelines.quality.levels import certify
from pipelines.quality.results import Measure, RuleOutcome


@dataclass(frozen=True)
class Scorecard:
    """The quality verdict of one version."""

    measures: list[dict[str, Any]]
    dimensions: dict[str, float | None]
    overall: float | None
    level: str
    failed_gates: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # the verdict first, then each failed gate or scored measure

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the manifest."""
        return {
            "overall": self.overall, "level": self.level, "failed_gates": self.failed_gates, "reasons": self.reasons,
            "dimensions": self.dimensions, "measures": self.measures,
        }  # fmt: skip


def level_for(overall: float | None, gates_ok: bool) -> str:
    """The certification level of a score when every scored measure passes (uncertified when a gate failed)."""
    return certify(overall, [], [] if gates_ok else ["gate"])[0]


def meets(level: str, minimum: str) -> bool:
    """Whether `level` is at least `minimum`."""
    return LEVEL_ORDER.index(level) >= LEVEL_ORDER.index(minimum)


def score(
    outcomes: list[RuleOutcome],
    extra: list[tuple[str, Measure]] = (),  # type: ignore[assignment]
    details: dict[str, str] | None = None,
) -> Scorecard:
    """Score the measures of `outcomes` plus `extra` (rule id, measure) pairs measured by moshu itself.

    `details` gives, per rule id of `extra`, what the measure found (the offending columns of a profile measure).
    """

    # A row-level error rule quarantines every failing row, so as a gate it holds for the release
    # by construction; its X still reports how much of the input had to be removed.
    # Only when every bad item of the measure is a quarantined row (not a published suspect one).
    def enforced(o: RuleOutcome, m: Measure) -> bool:
        bad = (m.b or 0) - (m.a or 0)
        return o.engine == "pandera" and o.severity == "error" and bad == o.failed

    # What a dataset-level rule found (its `observed`) or what a profile measure names, for the reasons.
    found = {o.rule_id: o.observed for o in outcomes if o.engine != "pandera" and o.observed}
    found.update(details or {})
    pairs: list[tuple[str, Measure, bool]] = [(o.rule_id, m, enforced(o, m)) for o in outcomes for m in o.measures]
    pairs += [(rid, m, False) for rid, m in extra]
    rows = []
    for rid, m, holds in pairs:
        row = {"rule_id": rid, **m.as_dict(), "weight": clause(m.clause).weight, "detail": found.get(rid)}
        row["gate_passed"] = (m.passed or holds) if m.gate else None
        rows.append(row)
    sums: dict[str, tuple[float, float]] = {}
    for r in rows:
        if r["gate"] or not r["applicable"]:
            continue
        value = r["x"] if clause(r["clause"]).scoring == "x" else (min(1.0, r["x"] / r["threshold"]) if r["threshold"] else 1.0)
        s, w = sums.get(r["dimension"], (0.0, 0.0))
        sums[r["dimension"]] = (s + value * r["weight"], w + r["weight"])
    dims: dict[str, float | None] = {d: (s / w if w else None) for d, (s, w) in sums.items()}
    scored = {d: v for d, v in dims.items() if v is not None}
    total_w = sum(DIMENSION_WEIGHTS[d] for d in scored)
    overall = sum(v * DIMENSION_WEIGHTS[d] for d, v in scored.items()) / total_w if total_w else None
    failed = [f"{r['rule_id']} ({r['clause']})" for r in rows if r["gate"] and not r["gate_passed"]]
    level, reasons = certify(overall, rows, failed)
    return Scorecard(rows, dims, overall, level, failed, reasons)
