"""The spec's `anomalies` block: how sensitive the cross-version anomaly detector is, and what it watches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Thresholds:
    """What counts as an anomaly at one sensitivity (each a score above which a measure is flagged)."""

    volume: float  # |rows / baseline rows - 1|
    null_rate: float  # |null share - baseline null share| (absolute)
    distinct: float  # |distinct / baseline distinct - 1|, low-cardinality columns only
    psi: float  # population stability index of a numeric column, binned on the baseline's deciles
    share: float  # total variation distance between the category shares of a text column


# PSI 0.1 / 0.25 are the usual "moderate" / "significant" shift bounds (Siddiqi 2006, credit scoring);
# the others are set so that a steady stream raises no alarm (docs/guide.md, K-6).
SENSITIVITY: dict[str, Thresholds] = {
    "low": Thresholds(volume=0.5, null_rate=0.10, distinct=1.0, psi=0.5, share=0.3),
    "medium": Thresholds(volume=0.25, null_rate=0.05, distinct=0.5, psi=0.25, share=0.2),
    "high": Thresholds(volume=0.10, null_rate=0.02, distinct=0.25, psi=0.10, share=0.1),
}


class Anomalies(BaseModel):
    """Compare each new version (or each newly built partition) with its history: volume, null rates, distinct
    counts and distributions. A flagged measure lowers the consistency score (clause K-6); it never blocks."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)  # `.nan` or `.inf` bounds check nothing

    sensitivity: Literal["low", "medium", "high"] = Field(
        "medium",
        description="How large a change is an anomaly: `low` flags only large changes (volume +-50%, PSI > 0.5), "
        "`medium` the usual bounds (volume +-25%, null share +-5 points, PSI > 0.25), `high` small ones (volume +-10%, PSI > 0.1).",
    )
    min_history: int = Field(
        1,
        ge=1,
        description="Earlier versions (or partitions) needed before anything is flagged; with fewer, the measure is n/a.",
    )
    window: int = Field(
        7,
        ge=1,
        description="How many earlier published versions (or, for a partitioned dataset, earlier partitions) make the "
        "baseline: volume and distinct counts against their median, null shares and distributions against them pooled.",
    )
    columns: tuple[str, ...] = Field(
        (),
        description="Columns to watch; default every measurement, label and attribute column (not timestamps or entities).",
    )

    @property
    def thresholds(self) -> Thresholds:
        """The thresholds of the chosen sensitivity."""
        return SENSITIVITY[self.sensitivity]

    def unknown_columns(self, names: list[str]) -> list[str]:
        """The listed `columns` that are not columns of the dataset."""
        return [c for c in self.columns if c not in names]


def did_you_mean(name: str, names: list[str]) -> str:
    """` (did you mean `x`?)` for the closest of `names`, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    return f" (did you mean `{close[0]}`?)" if close else f"; columns are {names}"
