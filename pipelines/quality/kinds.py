"""Executors of the rule kinds: each turns a parse model into a row check, a failure reason and a GE expectation.

A row-level kind gives `passes(rule, ctx)`, a polars expression that is True for a passing row and is
never null; pandera runs it. A dataset-level kind has `engine = "great_expectations"`; GE runs it.
Every kind gives `expectation(rule, ctx)`, its Great Expectations 1.x form, so the whole rule set is
one GE suite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import polars as pl

from pipelines.spec.rules import Expression, InRange, InSet, NotNull, Regex, RowCount, RuleBase, Unique

if TYPE_CHECKING:
    from pipelines.spec.models import DatasetSpec

Engine = Literal["pandera", "great_expectations"]

RAW_PREFIX = "__raw__"

POLARS_DTYPES: dict[str, pl.DataType] = {
    "int8": pl.Int8(),
    "int16": pl.Int16(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "uint8": pl.UInt8(),
    "uint16": pl.UInt16(),
    "uint32": pl.UInt32(),
    "uint64": pl.UInt64(),
    "float32": pl.Float32(),
    "float64": pl.Float64(),
    "bool": pl.Boolean(),
    "string": pl.String(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
}


class DType(RuleBase):
    """Internal kind: the raw value converts to the column's declared dtype (generated per column)."""

    kind: Literal["dtype"]
    column: str
    dtype: str

    def columns_used(self) -> tuple[str, ...]:
        return (self.column,)


@dataclass(frozen=True)
class Context:
    """What an executor may know about the dataset besides the rule."""

    spec: DatasetSpec

    def dtype(self, column: str) -> str:
        """Declared dtype of `column`."""
        return self.spec.column(column).dtype


def _shown(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).fill_null("null")


class KindExecutor:
    """Base of the executors; subclasses set `kind`, `engine` and implement what applies."""

    kind: ClassVar[str]
    engine: ClassVar[Engine] = "pandera"

    def passes(self, rule: Any, ctx: Context) -> pl.Expr:
        """Row-level check: True where the row passes, never null."""
        raise NotImplementedError(f"rule kind `{self.kind}` is not row-level")

    def reason(self, rule: Any, ctx: Context) -> pl.Expr:
        """A readable explanation for a failing row."""
        return pl.lit(f"failed `{rule.id}`")

    def expectation(self, rule: Any, ctx: Context) -> Any:
        """The rule as a Great Expectations 1.x expectation."""
        raise NotImplementedError


class NotNullExec(KindExecutor):
    kind = "not_null"

    def passes(self, rule: NotNull, ctx: Context) -> pl.Expr:
        return pl.col(rule.column).is_not_null()

    def reason(self, rule: NotNull, ctx: Context) -> pl.Expr:
        return pl.lit(f"`{rule.column}` is missing")

    def expectation(self, rule: NotNull, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectColumnValuesToNotBeNull(column=rule.column)


class DTypeExec(KindExecutor):
    kind = "dtype"

    def passes(self, rule: DType, ctx: Context) -> pl.Expr:
        return ~(pl.col(RAW_PREFIX + rule.column).is_not_null() & pl.col(rule.column).is_null())

    def reason(self, rule: DType, ctx: Context) -> pl.Expr:
        return pl.format(
            "`{}` = '{}' is not a valid {}",
            pl.lit(rule.column),
            pl.col(RAW_PREFIX + rule.column).cast(pl.String),
            pl.lit(rule.dtype),
        )

    def expectation(self, rule: DType, ctx: Context) -> Any:
        import great_expectations as gx

        duck = {
            "int8": "TINYINT",
            "int16": "SMALLINT",
            "int32": "INTEGER",
            "int64": "BIGINT",
            "uint8": "UTINYINT",
            "uint16": "USMALLINT",
            "uint32": "UINTEGER",
            "uint64": "UBIGINT",
            "float32": "FLOAT",
            "float64": "DOUBLE",
            "bool": "BOOLEAN",
            "string": "VARCHAR",
            "date": "DATE",
            "datetime": "TIMESTAMP",
        }[rule.dtype]
        return gx.expectations.ExpectColumnValuesToBeOfType(column=rule.column, type_=duck)


class InRangeExec(KindExecutor):
    kind = "in_range"

    def passes(self, rule: InRange, ctx: Context) -> pl.Expr:
        c = pl.col(rule.column)
        ok = pl.lit(True)
        if rule.min is not None:
            ok = ok & ((c > rule.min) if rule.strict_min else (c >= rule.min))
        if rule.max is not None:
            ok = ok & ((c < rule.max) if rule.strict_max else (c <= rule.max))
        return ok.fill_null(True)

    def reason(self, rule: InRange, ctx: Context) -> pl.Expr:
        lo = "(" if rule.strict_min else "["
        hi = ")" if rule.strict_max else "]"
        span = f"{lo}{'-inf' if rule.min is None else _num(rule.min)}, {'inf' if rule.max is None else _num(rule.max)}{hi}"
        return pl.format("`{}` = {} is outside {}", pl.lit(rule.column), _shown(rule.column), pl.lit(span))

    def expectation(self, rule: InRange, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectColumnValuesToBeBetween(
            column=rule.column,
            min_value=rule.min,
            max_value=rule.max,
            strict_min=rule.strict_min,
            strict_max=rule.strict_max,
        )


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class InSetExec(KindExecutor):
    kind = "in_set"

    def _values(self, rule: InSet, ctx: Context) -> pl.Series:
        dtype = POLARS_DTYPES[ctx.dtype(rule.column)]
        if dtype == pl.String():
            return pl.Series([str(v) for v in rule.values], dtype=pl.String)
        return pl.Series(list(rule.values)).cast(dtype)

    def passes(self, rule: InSet, ctx: Context) -> pl.Expr:
        return pl.col(rule.column).is_in(self._values(rule, ctx).implode()).fill_null(True)

    def reason(self, rule: InSet, ctx: Context) -> pl.Expr:
        allowed = ", ".join(str(v) for v in rule.values)
        return pl.format("`{}` = '{}' is not one of {{{}}}", pl.lit(rule.column), _shown(rule.column), pl.lit(allowed))

    def expectation(self, rule: InSet, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectColumnValuesToBeInSet(column=rule.column, value_set=self._values(rule, ctx).to_list())


class UniqueExec(KindExecutor):
    kind = "unique"

    def passes(self, rule: Unique, ctx: Context) -> pl.Expr:
        any_null = pl.any_horizontal([pl.col(c).is_null() for c in rule.columns])
        return any_null | ~pl.struct(list(rule.columns)).is_duplicated()

    def reason(self, rule: Unique, ctx: Context) -> pl.Expr:
        parts: list[pl.Expr] = []
        for i, c in enumerate(rule.columns):
            if i:
                parts.append(pl.lit(", "))
            parts.extend([pl.lit(f"{c}="), _shown(c)])
        return pl.concat_str([pl.lit("key ("), *parts, pl.lit(") appears more than once")])

    def expectation(self, rule: Unique, ctx: Context) -> Any:
        import great_expectations as gx

        if len(rule.columns) == 1:
            return gx.expectations.ExpectColumnValuesToBeUnique(column=rule.columns[0])
        return gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(rule.columns))


class RegexExec(KindExecutor):
    kind = "regex"

    def passes(self, rule: Regex, ctx: Context) -> pl.Expr:
        return pl.col(rule.column).cast(pl.String).str.contains(f"^(?:{rule.pattern})$").fill_null(True)

    def reason(self, rule: Regex, ctx: Context) -> pl.Expr:
        return pl.format("`{}` = '{}' does not match /{}/", pl.lit(rule.column), _shown(rule.column), pl.lit(rule.pattern))

    def expectation(self, rule: Regex, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectColumnValuesToMatchRegex(column=rule.column, regex=f"^(?:{rule.pattern})$")


class ExpressionExec(KindExecutor):
    kind = "expression"

    def passes(self, rule: Expression, ctx: Context) -> pl.Expr:
        return pl.sql_expr(rule.expr).fill_null(True)

    def reason(self, rule: Expression, ctx: Context) -> pl.Expr:
        cols = rule.columns_used()
        parts: list[pl.Expr] = [pl.lit(f"`{rule.expr}` is false (")]
        for i, c in enumerate(cols):
            if i:
                parts.append(pl.lit(", "))
            parts.extend([pl.lit(f"{c}="), _shown(c)])
        parts.append(pl.lit(")"))
        return pl.concat_str(parts)

    def expectation(self, rule: Expression, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=f"SELECT * FROM {{batch}} WHERE NOT ({rule.expr})",
            description=rule.description or f"rows must satisfy `{rule.expr}`",
        )


class RowCountExec(KindExecutor):
    kind = "row_count"
    engine = "great_expectations"

    def expectation(self, rule: RowCount, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectTableRowCountToBeBetween(min_value=rule.min, max_value=rule.max)


def describe(rule: RuleBase) -> str:
    """Short parameter summary of a rule, for tables and the catalog."""
    params = rule.model_dump(exclude={"id", "kind", "severity", "description"}, exclude_none=True)
    return json.dumps(params, default=str, ensure_ascii=False)
