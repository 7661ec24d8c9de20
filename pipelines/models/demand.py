"""A model demand (`dataset_specs/demands/*.yaml`): what a model needs from a dataset (models lead data)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from pipelines.spec.models import NAME_PATTERN
from pipelines.spec.models import _Frozen as _SpecFrozen
from pipelines.spec.selectors import ColumnList

Task = Literal["classification", "regression", "forecasting", "anomaly_detection"]
SPLITS = ("train", "validation", "test")
Scalar = str | int | float | bool


class _Frozen(_SpecFrozen):
    """Frozen, no unknown keys; fields in `ADDED_LATER` leave the dump (and the demand's hash) at their default."""


class SplitSpec(_Frozen):
    """How the version is cut into train / validation / test without leaking."""

    ADDED_LATER = ("column", "values", "min_groups")

    method: Literal["group", "time", "random", "column"] = Field(
        "group",
        description="`group`: whole entities (e.g. engine units) go to one split, chosen by a seeded hash of the entity; "
        "`time`: the earliest rows train, the latest test (forecasting); `random`: a seeded hash of the row key; "
        "`column`: a column of the data names each row's split (e.g. a benchmark's official train / test files).",
    )
    by: tuple[str, ...] = Field(
        (), description="Entity columns for `group`; the timestamp column for `time` (one column); unused for `random`."
    )
    train: float = Field(0.7, gt=0, lt=1, description="Share of rows (time) or of entities (group, random) for training.")
    validation: float = Field(0.15, ge=0, lt=1, description="Share for validation.")
    test: float = Field(0.15, gt=0, lt=1, description="Share for the held-out test split.")
    seed: int = Field(0, description="Seed of the hash that assigns entities or rows; same seed, same split.")
    column: str | None = Field(
        None, description="`method: column`: the column whose value names the split (e.g. one taken `from_path`)."
    )
    values: dict[str, Literal["train", "validation", "test"]] = Field(
        {},
        description="`method: column`: column value -> split; by default the values `train`, `validation` and `test` "
        "name themselves. Rows with another value are in no split (and the demand gets a gap).",
    )
    min_groups: int = Field(
        3,
        ge=1,
        description="Fewest entities (`group`) or rows (`random`) each split with a share needs; a split that cannot "
        "get them, or a class absent from a split, is a gap of the demand.",
    )

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSpec:
        total = self.train + self.validation + self.test
        if abs(total - 1) > 1e-9:
            raise ValueError(f"train + validation + test must be 1, got {total:g}")
        if self.method == "group" and not self.by:
            raise ValueError("`method: group` needs `by`: the entity column(s) that must not straddle splits")
        if self.method == "time" and len(self.by) != 1:
            raise ValueError("`method: time` needs `by` with exactly one timestamp column")
        if (self.method == "column") != (self.column is not None):
            raise ValueError("`column` goes with `method: column`, and `method: column` needs `column`")
        if self.values and self.method != "column":
            raise ValueError("`values` maps a split column's values; it goes with `method: column`")
        return self

    def split_of(self, value: str) -> str | None:
        """`method: column`: the split a column value names, or None."""
        if self.values:
            return self.values.get(value)
        return value if value in SPLITS else None

    def fraction(self, split: str) -> float:
        """The share of one split by name."""
        return float(getattr(self, split))


class TimeCoverage(_Frozen):
    """The time span the model needs covered, period by period."""

    column: str = Field(description="Timestamp column.")
    start: datetime = Field(description="First instant that must be covered (UTC).")
    end: datetime = Field(description="End of the span (UTC, exclusive).")
    period: Literal["hour", "day", "week", "month"] = Field("day", description="Coverage is counted in these periods.")
    min_rows_per_period: int = Field(1, ge=1, description="A period with fewer rows is a gap.")

    @model_validator(mode="after")
    def _ordered(self) -> TimeCoverage:
        if self.end <= self.start:
            raise ValueError("`end` must be after `start`")
        return self


class DetectorSpec(_Frozen):
    """Guardrails of the label-issue detector for one classification demand."""

    max_class_share: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Proposals may move at most this share of any class's rows away from it, so a correct minority "
        "class is never erased; further candidates of that class are held back and listed, not proposed.",
    )
    max_proposals: int = Field(
        100, ge=0, description="Most rows shown for review per run (proposed and held back together), likeliest first."
    )
    min_suggestion_probability: float = Field(
        0.8,
        ge=0,
        le=1,
        description="A proposal suggests a class only when its calibrated out-of-fold probability reaches this; "
        "below it the row is proposed for review without a suggested class (label doubtful, no suggestion).",
    )
    neighbours: int = Field(3, ge=0, le=20, description="Nearest rows of the suggested class given as evidence.")


class Demand(_Frozen):
    """What one model needs from one dataset: task, label, features, population, sample sizes, coverage, split."""

    ADDED_LATER = ("detector",)

    name: str = Field(pattern=NAME_PATTERN, description="Demand id (lowercase, digits, `_`); file name = name.")
    dataset: str = Field(description="The dataset this demand is made of.")
    title: str = Field(description="Human title.")
    team: str = Field(description="Model team that owns the demand.")
    description: str = Field("", description="What the model is for and why it needs this.")
    task: Task = Field(description="classification | regression | forecasting | anomaly_detection.")
    label: str | None = Field(None, description="Label (target) column.")
    one_hot_labels: ColumnList = Field(
        (), description="Instead of `label`: one-hot label columns; a row's class is the column that holds 1."
    )
    features: ColumnList = Field(
        min_length=1,
        description="Feature columns the model reads: a list, or a selector such as `{role: measurement}` (docs/models.md).",
    )
    strata: dict[str, tuple[Scalar, ...]] = Field(
        default_factory=dict,
        description="Target population: column -> the values the model must see; every combination is a required stratum.",
    )
    min_per_stratum: int = Field(0, ge=0, description="Rows each required stratum needs.")
    classes: tuple[Scalar, ...] = Field(
        (), description="Classes the model must see (classification; default: the classes present)."
    )
    min_per_class: int = Field(0, ge=0, description="Rows each class needs (classification).")
    time_coverage: TimeCoverage | None = Field(None, description="Time span that must be covered.")
    split: SplitSpec = Field(description="How to cut train / validation / test.")
    metric: str | None = Field(
        None, description="Metric trial training reports first (default per task: balanced_accuracy, mae, roc_auc)."
    )
    detector: DetectorSpec | None = Field(
        None,
        description="Label-issue detector settings (classification): class cap, proposals per run, suggestion "
        "threshold, neighbours; default `{max_class_share: 0.05, max_proposals: 100}`.",
    )

    @model_validator(mode="after")
    def _label_shape(self) -> Demand:
        if self.label and self.one_hot_labels:
            raise ValueError("give `label` or `one_hot_labels`, not both")
        if self.task in ("classification", "regression", "forecasting") and not (self.label or self.one_hot_labels):
            raise ValueError(f"a `{self.task}` demand needs `label` (or `one_hot_labels`)")
        if self.task in ("regression", "forecasting") and self.one_hot_labels:
            raise ValueError(f"a `{self.task}` demand takes one numeric `label`, not `one_hot_labels`")
        if self.detector is not None and self.task != "classification":
            raise ValueError("`detector` applies to classification demands")
        if (self.classes or self.min_per_class) and self.task != "classification":
            raise ValueError("`classes` and `min_per_class` apply to classification demands")
        overlap = set(self.features) & ({self.label} | set(self.one_hot_labels))
        if overlap:
            raise ValueError(f"label columns cannot be features: {sorted(overlap)}")
        return self

    @property
    def detector_settings(self) -> DetectorSpec:
        """The detector's guardrails: `detector`, or the defaults."""
        return self.detector or DetectorSpec()

    @property
    def label_columns(self) -> tuple[str, ...]:
        """The column(s) holding the label."""
        return self.one_hot_labels or ((self.label,) if self.label else ())

    @property
    def columns_used(self) -> list[str]:
        """Every dataset column this demand names."""
        cols = [*self.features, *self.label_columns, *self.strata, *self.split.by, *filter(None, [self.split.column])]
        if self.time_coverage:
            cols.append(self.time_coverage.column)
        return list(dict.fromkeys(cols))

    @property
    def primary_metric(self) -> str:
        """The metric trial training compares across versions."""
        if self.metric:
            return self.metric
        return {"classification": "balanced_accuracy", "anomaly_detection": "roc_auc"}.get(self.task, "mae")


def demand_hash(demand: Demand) -> str:
    """sha256 of a demand's definition: results measured under another hash are measured again."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(demand.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
