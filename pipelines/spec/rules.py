"""Parse models of the quality-rule kinds; `kind` is the discriminator.

Each kind here has an executor in `pipelines.quality.kinds`, registered in one place
(`pipelines.quality.registry`). A model only says what the user declared; it never runs anything.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,127}$"


class RuleBase(BaseModel):
    """Fields every rule has."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(description="Rule kind; each kind adds its own keys.")
    id: str = Field(
        pattern=RULE_ID_PATTERN, description="Stable rule id, e.g. `cnc.spindle_speed.range`; quarantine rows cite it."
    )
    severity: Literal["error", "warn"] = Field(
        "error", description="`error`: failing rows go to quarantine. `warn`: rows stay, flagged in `_warn_rules`."
    )
    description: str = Field("", description="What the rule protects against, in a sentence.")

    def columns_used(self) -> tuple[str, ...]:
        """Columns the rule reads (checked against the spec at load time)."""
        return ()


class NotNull(RuleBase):
    """Values must be present."""

    kind: Literal["not_null"]
    column: str = Field(description="Column that must not be null.")

    def columns_used(self) -> tuple[str, ...]:
        return (self.column,)


class InRange(RuleBase):
    """Values must lie within [min, max] (nulls are left to `not_null`)."""

    kind: Literal["in_range"]
    column: str = Field(description="Numeric column to check.")
    min: float | None = Field(None, description="Lowest allowed value, or null for no lower bound.")
    max: float | None = Field(None, description="Highest allowed value, or null for no upper bound.")
    strict_min: bool = Field(False, description="If true, the value must be greater than `min`.")
    strict_max: bool = Field(False, description="If true, the value must be less than `max`.")

    @model_validator(mode="after")
    def _bounds(self) -> InRange:
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        return self

    def columns_used(self) -> tuple[str, ...]:
        return (self.column,)


class InSet(RuleBase):
    """Values must be one of a fixed set (nulls are left to `not_null`)."""

    kind: Literal["in_set"]
    column: str = Field(description="Column to check.")
    values: tuple[str | int | float | bool, ...] = Field(min_length=1, description="Allowed values.")

    def columns_used(self) -> tuple[str, ...]:
        return (self.column,)


class Unique(RuleBase):
    """No two rows may share the same values in `columns` (a compound key); every row of a repeated key fails."""

    kind: Literal["unique"]
    columns: tuple[str, ...] = Field(min_length=1, description="Columns that together must be unique.")

    def columns_used(self) -> tuple[str, ...]:
        return self.columns


class Regex(RuleBase):
    """String values must match a regular expression in full (nulls are left to `not_null`)."""

    kind: Literal["regex"]
    column: str = Field(description="String column to check.")
    pattern: str = Field(description="Regular expression the whole value must match (Rust regex syntax).")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"`{v}` is not a valid regular expression: {e}") from None
        return v

    def columns_used(self) -> tuple[str, ...]:
        return (self.column,)


class Expression(RuleBase):
    """A SQL boolean expression every row must satisfy, e.g. `total_count = good_count + scrap_count`.

    A row whose expression is NULL (a missing operand) passes, as in a SQL CHECK constraint;
    missing values are the business of `not_null`.
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


class RowCount(RuleBase):
    """The dataset must hold between `min` and `max` rows (a dataset-level rule)."""

    kind: Literal["row_count"]
    min: int | None = Field(None, ge=0, description="Fewest rows expected.")
    max: int | None = Field(None, ge=0, description="Most rows expected.")

    @model_validator(mode="after")
    def _bounds(self) -> RowCount:
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        return self


Rule = NotNull | InRange | InSet | Unique | Regex | Expression | RowCount
RULE_KINDS: tuple[type[RuleBase], ...] = (NotNull, InRange, InSet, Unique, Regex, Expression, RowCount)
