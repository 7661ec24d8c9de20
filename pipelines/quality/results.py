"""What a validation produces: one outcome per rule, each with the guide measures it yields."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pipelines.quality.guide import clause as guide_clause


@dataclass(frozen=True)
class Measure:
    """One guide measure of one rule: X = A / B against a threshold (not applicable when B = 0)."""

    clause: str
    a: float | None
    b: float | None
    threshold: float
    gate: bool

    @property
    def x(self) -> float | None:
        """A / B, or None when not applicable."""
        if self.a is None or not self.b:
            return None
        return float(self.a) / float(self.b)

    @property
    def applicable(self) -> bool:
        """False when B = 0."""
        return self.x is not None

    @property
    def passed(self) -> bool:
        """X >= threshold (a measure that is not applicable passes)."""
        x = self.x
        return x is None or x >= self.threshold - 1e-12

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, with the clause's dimension and measure id."""
        c = guide_clause(self.clause)
        return {
            "clause": self.clause, "dimension": c.dimension, "measure_id": c.measure_id, "a": self.a, "b": self.b,
            "x": self.x, "threshold": self.threshold, "gate": self.gate, "passed": self.passed, "applicable": self.applicable,
        }  # fmt: skip


def make_measure(clause_id: str, a: float | None, b: float | None, threshold: float | None, gate: bool | None) -> Measure:
    """A measure with the clause's default threshold and gate unless the rule overrides them."""
    c = guide_clause(clause_id)
    return Measure(clause_id, a, b, c.threshold if threshold is None else threshold, c.gate if gate is None else gate)


@dataclass(frozen=True)
class RuleOutcome:
    """The measured result of one rule on one run."""

    rule_id: str
    kind: str
    severity: str
    engine: str
    columns: tuple[str, ...]
    description: str
    params: str
    evaluated: int  # rows (or items) the rule looked at
    failed: int  # rows flagged fail (4); for dataset-level rules 0 or 1
    suspect: int = 0  # rows flagged suspect (3)
    measures: tuple[Measure, ...] = field(default_factory=tuple)
    observed: str | None = None  # dataset-level observed value or detail
    samples: tuple[str, ...] = ()  # a few failure reasons, for people
    sample_rows: tuple[str, ...] = ()  # where those rows are: "<source file>:<row>"

    @property
    def passed(self) -> bool:
        """Every measure of the rule meets its threshold."""
        return all(m.passed for m in self.measures)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RuleOutcome:
        """The outcome from its `as_dict` form (as stored in a manifest)."""
        names = ("rule_id", "kind", "severity", "engine", "description", "params", "evaluated", "failed")
        return cls(
            **{k: d[k] for k in names}, columns=tuple(d["columns"]), suspect=d.get("suspect", 0),
            measures=tuple(Measure(m["clause"], m["a"], m["b"], m["threshold"], m["gate"]) for m in d["measures"]),
            observed=d.get("observed"), samples=tuple(d.get("samples", ())), sample_rows=tuple(d.get("sample_rows", ())),
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON and the catalog."""
        d = asdict(self)
        d["columns"] = list(self.columns)
        d["samples"] = list(self.samples)
        d["sample_rows"] = list(self.sample_rows)
        d["measures"] = [m.as_dict() for m in self.measures]
        d["passed"] = self.passed
        return d
