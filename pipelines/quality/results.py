"""What a validation produces: one outcome per rule, and the per-row failures behind them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl


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


@dataclass
class Validation:
    """All rule outcomes of a run, plus the failing (row, rule) pairs of row-level rules."""

    outcomes: list[RuleOutcome] = field(default_factory=list)
    failures: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={"_row_id": pl.UInt32, "rule_id": pl.String}))
    ge_suite: dict[str, Any] = field(default_factory=dict)
    ge_result: dict[str, Any] = field(default_factory=dict)

    @property
    def rules_passed(self) -> int:
        """Number of rules with no failure."""
        return sum(o.passed for o in self.outcomes)

    @property
    def rules_failed(self) -> int:
        """Number of rules with at least one failure."""
        return sum(not o.passed for o in self.outcomes)
