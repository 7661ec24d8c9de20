"""Parse models of the quality-rule kinds; `kind` is the discriminator.

Each kind here has an executor in `pipelines.quality.kinds` (row-level), `pipelines.quality.dataset_kinds`
(dataset-level) registered in one place (`pipelines.quality.registry`). A model only says what the user
declared; it never runs anything. Every kind cites a clause of the guide (docs/guide.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.spec.selectors import ColumnList

RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,127}$"


class RuleBase(BaseModel):
    """Fields every rule has."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)  # `.nan` or `.inf` bounds check nothing

    kind: str = Field(description="Rule kind; each kind adds its own keys.")
    id: str = Field(
        pattern=RULE_ID_PATTERN, description="Stable rule id, e.g. `cnc.spindle_speed.range`; quarantine rows cite it."
    )
    severity: Literal["error", "warn"] = Field(
        "error",
        description="`error`: failing rows go to quarantine. `warn`: rows stay, flagged in `_warn_rules` and `_qc_flag`.",
    )
    description: str = Field("", description="What the rule protects against, in a sentence.")
    clause: str | None = Field(None, description="Guide clause this rule implements, when not the kind's default (e.g. `L-1`).")
    threshold: float | None = Field(
        None, ge=0, le=1, description="Minimum measure X = A/B for the rule to pass; default: the clause's threshold."
    )
    gate: bool | None = Field(None, description="Make the rule a hard gate (true) or only scored (false); default: the clause's.")

    def columns_used(self) -> tuple[str, ...]:
        """Columns the rule reads (checked against the spec at load time)."""
        return ()


class _Column(RuleBase):
    column: str = Field(description="Column the rule checks.")

    def columns_used(self) -> tuple[str, ...]:
        return (self.column,)


class _Series(RuleBase):
    """Rules over a time series per entity, in time order."""

    column: str = Field(description="Measurement column.")
    timestamp: str = Field(description="Timestamp (or cycle counter) column that orders the series.")
    entity: ColumnList = Field((), description="Columns naming the series (e.g. machine id); empty: one series.")

    def columns_used(self) -> tuple[str, ...]:
        return (self.column, self.timestamp, *self.entity)


def _check_bounds(lo: float | None, hi: float | None, lo_name: str, hi_name: str) -> None:
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"`{lo_name}` ({lo}) is greater than `{hi_name}` ({hi})")


class NotNull(_Column):
    """Values must be present. Clause C-1 (L-2 on a label column)."""

    kind: Literal["not_null"]


class InRange(_Column):
    """Values must lie inside the instrument span [min, max] (fail, clause A-1); outside the optional
    operating span [suspect_min, suspect_max] they are flagged suspect (clause A-2). Nulls pass."""

    kind: Literal["in_range"]
    min: float | None = Field(None, description="Lowest valid value (instrument span), or null for no lower bound.")
    max: float | None = Field(None, description="Highest valid value (instrument span), or null for no upper bound.")
    strict_min: bool = Field(False, description="If true, the value must be greater than `min`.")
    strict_max: bool = Field(False, description="If true, the value must be less than `max`.")
    suspect_min: float | None = Field(None, description="Lowest normal operating value; below it a row is flagged suspect.")
    suspect_max: float | None = Field(None, description="Highest normal operating value; above it a row is flagged suspect.")

    @model_validator(mode="after")
    def _bounds(self) -> InRange:
        if self.min is None and self.max is None and self.suspect_min is None and self.suspect_max is None:
            raise ValueError("give `min`/`max` (instrument span), `suspect_min`/`suspect_max` (operating span), or both")
        _check_bounds(self.min, self.max, "min", "max")
        _check_bounds(self.suspect_min, self.suspect_max, "suspect_min", "suspect_max")
        if self.min is not None and self.suspect_min is not None and self.suspect_min < self.min:
            raise ValueError(f"`suspect_min` ({self.suspect_min}) must not be below `min` ({self.min})")
        if self.max is not None and self.suspect_max is not None and self.suspect_max > self.max:
            raise ValueError(f"`suspect_max` ({self.suspect_max}) must not be above `max` ({self.max})")
        return self

    @property
    def has_fail_span(self) -> bool:
        """Whether min or max is set."""
        return self.min is not None or self.max is not None

    @property
    def has_suspect_span(self) -> bool:
        """Whether suspect_min or suspect_max is set."""
        return self.suspect_min is not None or self.suspect_max is not None


class InSet(_Column):
    """Values must be one of a fixed set (nulls pass). Clause A-3 (L-1 on a label column)."""

    kind: Literal["in_set"]
    values: tuple[str | int | float | bool, ...] = Field(min_length=1, description="Allowed values.")


class Unique(RuleBase):
    """No two rows may share the same values in `columns`; every row of a repeated key fails. Clause K-1."""

    kind: Literal["unique"]
    columns: ColumnList = Field(min_length=1, description="Columns that together must be unique.")

    def columns_used(self) -> tuple[str, ...]:
        return self.columns


class DuplicateRecords(RuleBase):
    """Exact repeats of an earlier record fail (the first copy is kept). Clause K-2."""

    kind: Literal["duplicate_records"]
    columns: ColumnList = Field((), description="Columns that make a record; empty: every column of the spec.")

    def columns_used(self) -> tuple[str, ...]:
        return self.columns


class Regex(_Column):
    """String values must match a regular expression in full (nulls pass). Clause N-2."""

    kind: Literal["regex"]
    pattern: str = Field(description="Regular expression the whole value must match (Rust regex syntax).")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        import polars as pl

        try:  # the pattern runs in polars, so it must be valid in Rust's regex syntax
            pl.select(pl.lit("").str.contains(v))
        except pl.exceptions.PolarsError as e:
            detail = " ".join(str(e).split())[:200]
            raise ValueError(
                f"`{v}` is not a valid regular expression in Rust regex syntax (no look-around or back-references): {detail}"
            ) from None
        return v


class Expression(RuleBase):
    """A SQL boolean expression every row must satisfy, e.g. `total_count = good_count + scrap_count`.

    A row whose expression is NULL (a missing operand) passes, as in a SQL CHECK constraint;
    missing values are the business of `not_null`. Clause K-3.
    """

    kind: Literal["expression"]
    expr: str = Field(description="SQL boolean expression over the dataset's columns.")

    @field_validator("expr")
    @classmethod
    def _parses(cls, v: str) -> str:
        import polars as pl

        try:
            pl.sql_expr(v)
        except Exception as e:  # polars raises several error types for SQL it cannot parse
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"`{v}` is not a valid SQL expression ({first}); write e.g. `a = b + c`") from None
        return v

    def columns_used(self) -> tuple[str, ...]:
        import polars as pl

        return tuple(dict.fromkeys(pl.sql_expr(self.expr).meta.root_names()))


class RecordCompleteness(RuleBase):
    """Share of rows with no empty cell in `columns` (Com-ML-4). Clause C-2."""

    kind: Literal["record_completeness"]
    columns: ColumnList = Field((), description="Columns that make a complete record; empty: every column.")

    def columns_used(self) -> tuple[str, ...]:
        return self.columns


class OutlierShare(_Column):
    """Values whose robust z-score |x - median| / (1.4826 MAD) exceeds `max_z` are flagged suspect (Acc-ML-4). Clause A-4."""

    kind: Literal["outlier_share"]
    max_z: float = Field(3.5, gt=0, description="Robust z-score above which a value is an outlier (3.5: Iglewicz and Hoaglin).")
    group_by: ColumnList = Field((), description="Compute median and MAD per group (e.g. per operating regime).")

    def columns_used(self) -> tuple[str, ...]:
        return (self.column, *self.group_by)


class Reference(_Column):
    """Values must exist in a master table (referential integrity, 25024 Con-I-1). Clause K-4."""

    kind: Literal["reference"]
    master: str = Field(description="Master data file (CSV or Parquet), relative to the project root.")
    master_column: str = Field(description="Column of the master file holding the valid keys.")


class Latency(RuleBase):
    """`available - event` must not exceed `max_seconds` (Tml-ML-1). Clause T-2."""

    kind: Literal["latency"]
    event: str = Field(description="Timestamp of the event.")
    available: str = Field(description="Timestamp at which the record became available.")
    max_seconds: float = Field(gt=0, description="Largest allowed delay in seconds.")

    def columns_used(self) -> tuple[str, ...]:
        return (self.event, self.available)


class Increasing(RuleBase):
    """Timestamps strictly increase per entity, in file order (DB31/T 1523 050300). Clause T-3."""

    kind: Literal["increasing"]
    timestamp: str = Field(description="Timestamp or cycle column.")
    entity: ColumnList = Field((), description="Columns naming the series; empty: one series.")

    def columns_used(self) -> tuple[str, ...]:
        return (self.timestamp, *self.entity)


class Gap(RuleBase):
    """Intervals between samples of an entity longer than the expected period (QARTOD-style). Clause S-1."""

    kind: Literal["gap"]
    timestamp: str = Field(description="Timestamp or cycle column.")
    entity: ColumnList = Field((), description="Columns naming the series; empty: one series.")
    period_s: float = Field(gt=0, description="Expected sampling period in seconds (or cycles).")
    suspect_factor: float = Field(1.5, gt=1, description="An interval above period x this is suspect.")
    fail_factor: float = Field(3.0, gt=1, description="An interval above period x this fails.")

    def columns_used(self) -> tuple[str, ...]:
        return (self.timestamp, *self.entity)


class Spike(_Series):
    """QARTOD spike test: |x[n] - (x[n-1] + x[n+1]) / 2| over the thresholds. Clause S-2."""

    kind: Literal["spike"]
    suspect_threshold: float = Field(gt=0, description="Spike height flagged suspect.")
    fail_threshold: float = Field(gt=0, description="Spike height that fails.")

    @model_validator(mode="after")
    def _order(self) -> Spike:
        _check_bounds(self.suspect_threshold, self.fail_threshold, "suspect_threshold", "fail_threshold")
        return self


class RateOfChange(_Series):
    """QARTOD rate of change: |x[n] - x[n-1]| / dt above `threshold_per_s` is suspect. Clause S-3."""

    kind: Literal["rate_of_change"]
    threshold_per_s: float = Field(gt=0, description="Largest plausible change per second (or per cycle).")


class FlatLine(_Series):
    """QARTOD flat line (stuck sensor): values within `tolerance` for `suspect_s` / `fail_s` seconds. Clause S-4."""

    kind: Literal["flat_line"]
    suspect_s: float = Field(gt=0, description="Stuck this long (seconds or cycles) is suspect.")
    fail_s: float = Field(gt=0, description="Stuck this long fails.")
    tolerance: float = Field(0.0, ge=0, description="Values closer than this count as unchanged.")

    @model_validator(mode="after")
    def _order(self) -> FlatLine:
        _check_bounds(self.suspect_s, self.fail_s, "suspect_s", "fail_s")
        return self


class AttenuatedSignal(_Series):
    """QARTOD attenuated signal: rolling std (or range) over `window_s` below the thresholds. Clause S-5."""

    kind: Literal["attenuated_signal"]
    window_s: float = Field(gt=0, description="Window length in seconds (or cycles).")
    suspect_threshold: float = Field(ge=0, description="Variation below this is suspect.")
    fail_threshold: float = Field(ge=0, description="Variation below this fails.")
    check_type: Literal["std", "range"] = Field("std", description="Measure of variation.")
    min_obs: int = Field(
        3, ge=1, description="Fewest values a window needs to be judged (fewer: not evaluated); a lone sample has no variation."
    )

    @model_validator(mode="after")
    def _order(self) -> AttenuatedSignal:
        _check_bounds(self.fail_threshold, self.suspect_threshold, "fail_threshold", "suspect_threshold")
        return self


class RowCount(RuleBase):
    """The dataset must hold between `min` and `max` rows (dataset-level). Clause C-3."""

    kind: Literal["row_count"]
    min: int | None = Field(None, ge=0, description="Fewest rows expected.")
    max: int | None = Field(None, ge=0, description="Most rows expected.")

    @model_validator(mode="after")
    def _bounds(self) -> RowCount:
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        _check_bounds(self.min, self.max, "min", "max")
        return self


class TimeCoverage(RuleBase):
    """Each entity has the samples its period implies over the time range (dataset-level). Clause C-4."""

    kind: Literal["time_coverage"]
    timestamp: str = Field(description="Timestamp column.")
    entity: ColumnList = Field((), description="Columns naming the series.")
    period_s: float = Field(gt=0, description="Expected sampling period in seconds.")

    def columns_used(self) -> tuple[str, ...]:
        return (self.timestamp, *self.entity)


class Freshness(RuleBase):
    """The newest timestamp is at most `max_age_s` old when the run validates (dataset-level). Clause T-1."""

    kind: Literal["freshness"]
    timestamp: str = Field(description="Timestamp column.")
    max_age_s: float = Field(gt=0, description="Largest allowed age of the newest record, in seconds.")

    def columns_used(self) -> tuple[str, ...]:
        return (self.timestamp,)


class _Labels(RuleBase):
    column: str | None = Field(None, description="Label column (one class per row).")
    one_hot: ColumnList = Field((), description="One-hot label columns (the class is the column holding 1).")

    @model_validator(mode="after")
    def _one_form(self) -> _Labels:
        if (self.column is None) == (not self.one_hot):
            raise ValueError("give either `column` or `one_hot`")
        return self

    def columns_used(self) -> tuple[str, ...]:
        return (self.column,) if self.column else self.one_hot


class ClassBalance(_Labels):
    """Class balance of the labels: `min_max` = smallest / largest class (Bal-ML-3, clause B-1);
    `entropy` = normalised entropy H / log k (Bal-ML-8 form, clause B-2)."""

    kind: Literal["class_balance"]
    form: Literal["min_max", "entropy"] = Field("min_max", description="Which balance measure.")


class LabelCoverage(_Labels):
    """Every class of the taxonomy is present (Div-ML-1). Clause D-1."""

    kind: Literal["label_coverage"]
    taxonomy: tuple[str | int, ...] = Field((), description="The classes; default: the one-hot column names.")

    @model_validator(mode="after")
    def _taxonomy(self) -> LabelCoverage:
        if self.column is not None and not self.taxonomy:
            raise ValueError("give `taxonomy` (the classes) for a label `column`")
        return self


class ClassMinCount(_Labels):
    """Every class present reaches `min_count` samples (Div-ML-3). Clause D-2."""

    kind: Literal["class_min_count"]
    min_count: int = Field(ge=1, description="Fewest samples a class needs to be learnable.")


class InformativeFeatures(RuleBase):
    """Feature columns are neither constant nor exact copies of another feature. Clause D-3."""

    kind: Literal["informative_features"]
    columns: ColumnList = Field(min_length=1, description="Feature columns to check.")
    group_by: ColumnList = Field(
        (), description="Check within each group (e.g. per sub-dataset); A and B count (column, group) pairs."
    )

    def columns_used(self) -> tuple[str, ...]:
        return (*self.columns, *self.group_by)


class UnitConsistency(RuleBase):
    """The listed columns declare units convertible to `unit` (checked with pint). Clause K-5."""

    kind: Literal["unit_consistency"]
    columns: ColumnList = Field(min_length=1, description="Columns that must share the quantity of `unit`.")
    unit: str = Field(description="Unit the columns must be convertible to, e.g. `K` or `degC`.")

    def columns_used(self) -> tuple[str, ...]:
        return self.columns


Rule = (
    NotNull
    | InRange
    | InSet
    | Unique
    | DuplicateRecords
    | Regex
    | Expression
    | RecordCompleteness
    | OutlierShare
    | Reference
    | Latency
    | Increasing
    | Gap
    | Spike
    | RateOfChange
    | FlatLine
    | AttenuatedSignal
    | RowCount
    | TimeCoverage
    | Freshness
    | ClassBalance
    | LabelCoverage
    | ClassMinCount
    | InformativeFeatures
    | UnitConsistency
)
RULE_KINDS: tuple[type[RuleBase], ...] = (
    NotNull, InRange, InSet, Unique, DuplicateRecords, Regex, Expression, RecordCompleteness, OutlierShare,
    Reference, Latency, Increasing, Gap, Spike, RateOfChange, FlatLine, AttenuatedSignal, RowCount,
    TimeCoverage, Freshness, ClassBalance, LabelCoverage, ClassMinCount, InformativeFeatures, UnitConsistency,
)  # fmt: skip
