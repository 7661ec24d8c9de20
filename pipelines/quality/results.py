"""What a validation produces: one outcome per rule, and the per-row failures behind them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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
    evaluated: int  # rows the rule looked at (B)
    failed: int  # rows that failed (A); for dataset-level rules 0 or 1
    passed: bool
    observed: str | None = None  # dataset-level observed value, e.g. the row count
    samples: tuple[str, ...] = ()  # a few failing values, for people

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON and the catalog."""
        d = asdict(self)
        d["columns"] = list(self.columns)
        d["samples"] = list(self.samples)
        return d
