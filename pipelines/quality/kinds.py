"""Executors of the row-level rule kinds: per-row QARTOD flags, the rows measured, a failure reason, a GE expectation.

A row-level kind gives `flags(rule, ctx)`: a UInt8 polars expression per row, 1 good, 2 not
evaluated, 3 suspect, 4 fail, 9 missing (QARTOD). pandera runs it (a row fails a rule at flag 4 and
is suspect at flag 3). `evaluated(rule, ctx)` marks the rows that count in the measure's
denominator B. Every kind also gives `expectation(rule, ctx)`, its Great Expectations 1.x form, so
the whole rule set is one GE suite. Dataset-level kinds live in `dataset_kinds.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import polars as pl

from pipelines.quality.results import Measure, make_measure
from pipelines.spec.rules import (
    DuplicateRecords,
    Expression,
    InRange,
    InSet,
    Latency,
    NotNull,
    OutlierShare,
    RecordCompleteness,
    Reference,
    Regex,
    RuleBase,
    Unique,
)
from pipelines.sql import ident

if TYPE_CHECKING:
    from pipelines.spec.models import DatasetSpec

Engine = Literal["pandera", "great_expectations", "moshu"]

RAW_PREFIX = "__raw__"
GOOD, NOT_EVALUATED, SUSPECT, FAIL, MISSING = 1, 2, 3, 4, 9

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
    """Internal kind: the raw value converts to the column's declared dtype (generated per column). Clause N-1."""

    kind: Literal["dtype"]
    column: str
    dtype: str

    def columns_used(self) -> tuple[str, ...]:
        return (self.column,)


@dataclass(frozen=True)
class Context:
    """What an executor may know about the dataset besides the rule."""

    spec: DatasetSpec
    root: Path | None = None  # project root, for master data files
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def dtype(self, column: str) -> str:
        """Declared dtype of `column`."""
        return self.spec.column(column).dtype

    def is_label(self, column: str) -> bool:
        """Whether the spec gives `column` the role `label`."""
        return self.spec.column(column).role == "label"


def _shown(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).fill_null("null")


def _flag(ok: pl.Expr) -> pl.Expr:
    """1 where `ok` holds (or is null), else 4."""
    return pl.when(ok.fill_null(True)).then(pl.lit(GOOD, pl.UInt8)).otherwise(pl.lit(FAIL, pl.UInt8))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _keyed(cols: tuple[str, ...] | list[str], lead: str, tail: str) -> pl.Expr:
    parts: list[pl.Expr] = [pl.lit(lead)]
    for i, c in enumerate(cols):
        if i:
            parts.append(pl.lit(", "))
        parts.extend([pl.lit(f"{c}="), _shown(c)])
    parts.append(pl.lit(tail))
    return pl.concat_str(parts)


class KindExecutor:
    """Base of the executors; subclasses set `kind`, `engine`, `clause` and implement what applies."""

    kind: ClassVar[str]
    engine: ClassVar[Engine] = "pandera"
    # True when a row's flag depends on other rows (a window, a group statistic, a duplicate): such rules are
    # computed in a pass of their own over just the columns they read, the others stream.
    windowed: ClassVar[bool] = False
    # True when the readable reason of a flagged row is computed from other rows too (a group statistic).
    reason_windowed: ClassVar[bool] = False

    def bucket_columns(self, rule: Any, ctx: Context) -> list[str]:
        """Columns the rule's windows are partitioned by: rows that agree on them are flagged together, so a
        windowed rule can run on the buckets of a hash of them, exactly. Empty: the rule needs every row at once."""
        return []

    clause: ClassVar[str]

    def clause_for(self, rule: Any, ctx: Context) -> str:
        """The guide clause the rule implements (its own `clause:` wins)."""
        return rule.clause or self.clause

    def flags(self, rule: Any, ctx: Context) -> pl.Expr:
        """Row-level QARTOD flag (UInt8) per row."""
        raise NotImplementedError(f"rule kind `{self.kind}` is not row-level")

    def can_suspect(self, rule: Any, ctx: Context) -> bool:
        """Whether the rule can flag rows suspect (3) as well as fail (4)."""
        return False

    def measures(self, rule: Any, ctx: Context, evaluated: int, failed: int, suspect: int) -> list[Measure]:
        """The guide measures of a row-level rule from its counts (default: A = evaluated - failed)."""
        return [make_measure(self.clause_for(rule, ctx), evaluated - failed, evaluated, rule.threshold, rule.gate)]

    def evaluated(self, rule: Any, ctx: Context) -> pl.Expr:
        """True for the rows the measure counts in B (default: non-null values of the rule's columns)."""
        cols = rule.columns_used()
        return pl.all_horizontal([pl.col(c).is_not_null() for c in cols]) if cols else pl.lit(True)

    def reason(self, rule: Any, ctx: Context) -> pl.Expr:
        """A readable explanation for a flagged row."""
        return pl.lit(f"failed `{rule.id}`")

    def expectation(self, rule: Any, ctx: Context) -> Any:
        """The rule as a Great Expectations 1.x expectation."""
        raise NotImplementedError


class NotNullExec(KindExecutor):
    kind = "not_null"
    clause = "C-1"

    def clause_for(self, rule: NotNull, ctx: Context) -> str:
        return rule.clause or ("L-2" if ctx.is_label(rule.column) else self.clause)

    def flags(self, rule: NotNull, ctx: Context) -> pl.Expr:
        return _flag(pl.col(rule.column).is_not_null())

    def evaluated(self, rule: NotNull, ctx: Context) -> pl.Expr:
        return pl.lit(True)

    def reason(self, rule: NotNull, ctx: Context) -> pl.Expr:
        return pl.lit(f"`{rule.column}` is missing")

    def expectation(self, rule: NotNull, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectColumnValuesToNotBeNull(column=rule.column)


class DTypeExec(KindExecutor):
    kind = "dtype"
    clause = "N-1"

    def flags(self, rule: DType, ctx: Context) -> pl.Expr:
        return _flag(~(pl.col(RAW_PREFIX + rule.column).is_not_null() & pl.col(rule.column).is_null()))

    def evaluated(self, rule: DType, ctx: Context) -> pl.Expr:
        return pl.lit(True)

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
            "int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT",
            "uint8": "UTINYINT", "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT",
            "float32": "FLOAT", "float64": "DOUBLE", "bool": "BOOLEAN", "string": "VARCHAR",
            "date": "DATE", "datetime": "TIMESTAMP",
        }[rule.dtype]  # fmt: skip
        return gx.expectations.ExpectColumnValuesToBeOfType(column=rule.column, type_=duck)


def _span(lo: float | None, hi: float | None, strict_lo: bool = False, strict_hi: bool = False) -> str:
    return (
        f"{'(' if strict_lo else '['}{'-inf' if lo is None else _num(lo)}, "
        f"{'inf' if hi is None else _num(hi)}{')' if strict_hi else ']'}"
    )


def _inside(c: pl.Expr, lo: float | None, hi: float | None, strict_lo: bool = False, strict_hi: bool = False) -> pl.Expr:
    ok = pl.lit(True)
    if lo is not None:
        ok = ok & ((c > lo) if strict_lo else (c >= lo))
    if hi is not None:
        ok = ok & ((c < hi) if strict_hi else (c <= hi))
    return ok


class InRangeExec(KindExecutor):
    kind = "in_range"
    clause = "A-1"

    def clause_for(self, rule: InRange, ctx: Context) -> str:
        return rule.clause or ("A-1" if rule.has_fail_span else "A-2")

    def can_suspect(self, rule: InRange, ctx: Context) -> bool:
        return rule.has_suspect_span

    def measures(self, rule: InRange, ctx: Context, evaluated: int, failed: int, suspect: int) -> list[Measure]:
        out = []
        if rule.has_fail_span:
            out.append(make_measure(rule.clause or "A-1", evaluated - failed, evaluated, rule.threshold, rule.gate))
        if rule.has_suspect_span and not (out and out[0].clause == "A-2"):  # the operating span: suspect and failed values
            out.append(
                make_measure(
                    "A-2", evaluated - failed - suspect, evaluated, None if out else rule.threshold, None if out else rule.gate
                )
            )
        return out

    def flags(self, rule: InRange, ctx: Context) -> pl.Expr:
        c = pl.col(rule.column)
        fail = ~_inside(c, rule.min, rule.max, rule.strict_min, rule.strict_max)
        suspect = ~_inside(c, rule.suspect_min, rule.suspect_max)
        return (
            pl.when(c.is_null())
            .then(pl.lit(GOOD, pl.UInt8))
            .when(fail)
            .then(pl.lit(FAIL, pl.UInt8))
            .when(suspect)
            .then(pl.lit(SUSPECT, pl.UInt8))
            .otherwise(pl.lit(GOOD, pl.UInt8))
        )

    def reason(self, rule: InRange, ctx: Context) -> pl.Expr:
        c = pl.col(rule.column)
        span = _span(rule.min, rule.max, rule.strict_min, rule.strict_max)
        operating = _span(rule.suspect_min, rule.suspect_max)
        outside_fail = ~_inside(c, rule.min, rule.max, rule.strict_min, rule.strict_max)
        return pl.format(
            "`{}` = {} is outside {}",
            pl.lit(rule.column),
            _shown(rule.column),
            pl.when(outside_fail).then(pl.lit(span)).otherwise(pl.lit(f"the operating span {operating}")),
        )

    def expectation(self, rule: InRange, ctx: Context) -> Any:
        import great_expectations as gx

        lo = rule.min if rule.has_fail_span else rule.suspect_min
        hi = rule.max if rule.has_fail_span else rule.suspect_max
        return gx.expectations.ExpectColumnValuesToBeBetween(
            column=rule.column, min_value=lo, max_value=hi, strict_min=rule.strict_min, strict_max=rule.strict_max
        )


SHOWN_SET_VALUES = 20
"""Allowed values a failing row's reason lists (then `... (N values)`)."""
SUITE_SET_VALUES = 1_000
"""Above this many values, an `in_set` rule's GE expectation names its values instead of holding them."""


class InSetExec(KindExecutor):
    kind = "in_set"
    clause = "A-3"

    def clause_for(self, rule: InSet, ctx: Context) -> str:
        return rule.clause or ("L-1" if ctx.is_label(rule.column) else self.clause)

    def _values(self, rule: InSet, ctx: Context) -> pl.Series:
        dtype = POLARS_DTYPES[ctx.dtype(rule.column)]
        if dtype == pl.String():
            return pl.Series([str(v) for v in rule.values], dtype=pl.String)
        return pl.Series(list(rule.values)).cast(dtype)

    def flags(self, rule: InSet, ctx: Context) -> pl.Expr:
        return _flag(pl.col(rule.column).is_in(self._values(rule, ctx).implode()))

    def reason(self, rule: InSet, ctx: Context) -> pl.Expr:
        allowed = ", ".join(str(v) for v in rule.values[:SHOWN_SET_VALUES])
        if len(rule.values) > SHOWN_SET_VALUES:
            allowed += f", ... ({len(rule.values):,} values)"
        return pl.format("`{}` = '{}' is not one of {{{}}}", pl.lit(rule.column), _shown(rule.column), pl.lit(allowed))

    def expectation(self, rule: InSet, ctx: Context) -> Any:
        """The suite's record of the rule (pandera runs it): a large set is named, not copied, into the suite.

        GE serialises and deep-copies every expectation's arguments several times per run; a
        300,000-value list made that take minutes. Above `SUITE_SET_VALUES` values the suite holds a
        suite parameter naming the rule and its size instead (the values are in the rule file).
        """
        import great_expectations as gx

        values: Any = self._values(rule, ctx).to_list()
        if len(values) > SUITE_SET_VALUES:
            values = {"$PARAMETER": f"{rule.id}: {len(values):,} values, listed in its rule file"}
        return gx.expectations.ExpectColumnValuesToBeInSet(column=rule.column, value_set=values)


class UniqueExec(KindExecutor):
    kind = "unique"
    clause = "K-1"
    windowed = True

    def bucket_columns(self, rule: Unique, ctx: Context) -> list[str]:
        return list(rule.columns)

    def flags(self, rule: Unique, ctx: Context) -> pl.Expr:
        any_null = pl.any_horizontal([pl.col(c).is_null() for c in rule.columns])
        # A group count, not `struct(...).is_duplicated()`: the same rows, in less than half the memory at 10M rows.
        return _flag(any_null | (pl.len().over(list(rule.columns)) == 1))

    def reason(self, rule: Unique, ctx: Context) -> pl.Expr:
        return _keyed(rule.columns, "key (", ") appears more than once")

    def expectation(self, rule: Unique, ctx: Context) -> Any:
        import great_expectations as gx

        if len(rule.columns) == 1:
            return gx.expectations.ExpectColumnValuesToBeUnique(column=rule.columns[0])
        return gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(rule.columns))


class DuplicateRecordsExec(KindExecutor):
    kind = "duplicate_records"
    clause = "K-2"
    windowed = True

    def bucket_columns(self, rule: DuplicateRecords, ctx: Context) -> list[str]:
        return self._cols(rule, ctx)

    def _cols(self, rule: DuplicateRecords, ctx: Context) -> list[str]:
        return list(rule.columns) or ctx.spec.column_names

    def flags(self, rule: DuplicateRecords, ctx: Context) -> pl.Expr:
        return _flag(pl.struct(self._cols(rule, ctx)).is_first_distinct())

    def evaluated(self, rule: DuplicateRecords, ctx: Context) -> pl.Expr:
        return pl.lit(True)

    def reason(self, rule: DuplicateRecords, ctx: Context) -> pl.Expr:
        return pl.lit("repeats an earlier record exactly")

    def expectation(self, rule: DuplicateRecords, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=self._cols(rule, ctx))


class RegexExec(KindExecutor):
    kind = "regex"
    clause = "N-2"

    def flags(self, rule: Regex, ctx: Context) -> pl.Expr:
        return _flag(pl.col(rule.column).cast(pl.String).str.contains(f"^(?:{rule.pattern})$"))

    def reason(self, rule: Regex, ctx: Context) -> pl.Expr:
        return pl.format("`{}` = '{}' does not match /{}/", pl.lit(rule.column), _shown(rule.column), pl.lit(rule.pattern))

    def expectation(self, rule: Regex, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectColumnValuesToMatchRegex(column=rule.column, regex=f"^(?:{rule.pattern})$")


class ExpressionExec(KindExecutor):
    kind = "expression"
    clause = "K-3"

    def flags(self, rule: Expression, ctx: Context) -> pl.Expr:
        return _flag(pl.sql_expr(rule.expr))

    def evaluated(self, rule: Expression, ctx: Context) -> pl.Expr:
        return pl.sql_expr(rule.expr).is_not_null()

    def reason(self, rule: Expression, ctx: Context) -> pl.Expr:
        return _keyed(rule.columns_used(), f"`{rule.expr}` is false (", ")")

    def expectation(self, rule: Expression, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=f"SELECT * FROM {{batch}} WHERE NOT ({rule.expr})",
            description=rule.description or f"rows must satisfy `{rule.expr}`",
        )


class RecordCompletenessExec(KindExecutor):
    kind = "record_completeness"
    clause = "C-2"

    def _cols(self, rule: RecordCompleteness, ctx: Context) -> list[str]:
        return list(rule.columns) or ctx.spec.column_names

    def flags(self, rule: RecordCompleteness, ctx: Context) -> pl.Expr:
        return _flag(pl.all_horizontal([pl.col(c).is_not_null() for c in self._cols(rule, ctx)]))

    def evaluated(self, rule: RecordCompleteness, ctx: Context) -> pl.Expr:
        return pl.lit(True)

    def reason(self, rule: RecordCompleteness, ctx: Context) -> pl.Expr:
        cols = self._cols(rule, ctx)
        missing = pl.concat_list([pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in cols]).list.drop_nulls()
        return pl.format("record has empty cells: {}", missing.list.join(", "))

    def expectation(self, rule: RecordCompleteness, ctx: Context) -> Any:
        import great_expectations as gx

        cond = " OR ".join(f"{ident(c)} IS NULL" for c in self._cols(rule, ctx))
        return gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=f"SELECT * FROM {{batch}} WHERE {cond}")


class OutlierShareExec(KindExecutor):
    kind = "outlier_share"
    clause = "A-4"
    windowed = True
    reason_windowed = True

    def bucket_columns(self, rule: OutlierShare, ctx: Context) -> list[str]:
        return list(rule.group_by)

    def _z(self, rule: OutlierShare) -> pl.Expr:
        """Robust z-score, computed over the whole frame (callers wrap it in `.over(group_by)`)."""
        c = pl.col(rule.column).cast(pl.Float64)
        med = c.median()
        return (c - med).abs() / (1.4826 * (c - med).abs().median())

    def _grouped(self, rule: OutlierShare, e: pl.Expr) -> pl.Expr:
        # The whole expression goes inside one window: polars 2.1 misorders a lazy select of a
        # when/then whose condition holds a window expression.
        return e.over(list(rule.group_by)) if rule.group_by else e

    def can_suspect(self, rule: OutlierShare, ctx: Context) -> bool:
        return True

    def measures(self, rule: OutlierShare, ctx: Context, evaluated: int, failed: int, suspect: int) -> list[Measure]:
        return [make_measure(self.clause_for(rule, ctx), evaluated - failed - suspect, evaluated, rule.threshold, rule.gate)]

    def flags(self, rule: OutlierShare, ctx: Context) -> pl.Expr:
        z = self._z(rule)
        # MAD = 0 (more than half the values equal): only values off the median are outliers.
        return self._grouped(
            rule,
            pl.when(pl.col(rule.column).is_null() | z.is_nan())
            .then(pl.lit(GOOD, pl.UInt8))
            .when(z > rule.max_z)
            .then(pl.lit(SUSPECT, pl.UInt8))
            .otherwise(pl.lit(GOOD, pl.UInt8)),
        )

    def reason(self, rule: OutlierShare, ctx: Context) -> pl.Expr:
        return pl.format(
            "`{}` = {} has robust z-score {} > {}",
            pl.lit(rule.column),
            _shown(rule.column),
            self._grouped(rule, self._z(rule).round(1)),
            pl.lit(rule.max_z),
        )

    def expectation(self, rule: OutlierShare, ctx: Context) -> Any:
        import great_expectations as gx

        c = ident(rule.column)
        part = f"PARTITION BY {', '.join(ident(g) for g in rule.group_by)}" if rule.group_by else ""
        q = (
            f"WITH m AS (SELECT *, median({c}) OVER ({part}) AS _med FROM {{batch}}), "
            f"d AS (SELECT *, median(abs({c} - _med)) OVER ({part}) AS _mad FROM m) "
            f"SELECT * FROM d WHERE _mad > 0 AND abs({c} - _med) / (1.4826 * _mad) > {rule.max_z}"
        )
        return gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=q)


class ReferenceExec(KindExecutor):
    kind = "reference"
    clause = "K-4"

    def _keys(self, rule: Reference, ctx: Context) -> pl.Series:
        key = f"master:{rule.master}:{rule.master_column}"
        if key not in ctx._cache:
            from pipelines.quality.master import read_master_keys

            ctx._cache[key] = read_master_keys(ctx.root, rule.master, rule.master_column, POLARS_DTYPES[ctx.dtype(rule.column)])
        keys: pl.Series = ctx._cache[key]
        return keys

    def flags(self, rule: Reference, ctx: Context) -> pl.Expr:
        return _flag(pl.col(rule.column).is_in(self._keys(rule, ctx).implode()))

    def reason(self, rule: Reference, ctx: Context) -> pl.Expr:
        return pl.format(
            "`{}` = '{}' is not in the master data `{}`", pl.lit(rule.column), _shown(rule.column), pl.lit(rule.master)
        )

    def expectation(self, rule: Reference, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectColumnValuesToBeInSet(column=rule.column, value_set=self._keys(rule, ctx).to_list())


class LatencyExec(KindExecutor):
    kind = "latency"
    clause = "T-2"

    def _delay_s(self, rule: Latency) -> pl.Expr:
        return (pl.col(rule.available) - pl.col(rule.event)).dt.total_microseconds() / 1e6

    def flags(self, rule: Latency, ctx: Context) -> pl.Expr:
        return _flag(self._delay_s(rule) <= rule.max_seconds)

    def reason(self, rule: Latency, ctx: Context) -> pl.Expr:
        return pl.format(
            "available {} s after the event (max {} s)", self._delay_s(rule).round(1), pl.lit(_num(rule.max_seconds))
        )

    def expectation(self, rule: Latency, ctx: Context) -> Any:
        import great_expectations as gx

        q = f"SELECT * FROM {{batch}} WHERE epoch({ident(rule.available)}) - epoch({ident(rule.event)}) > {rule.max_seconds}"
        return gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=q)


def describe(rule: RuleBase) -> str:
    """Short parameter summary of a rule, for tables and the catalog."""
    params = rule.model_dump(exclude={"id", "kind", "severity", "description", "clause", "threshold", "gate"}, exclude_none=True)
    return json.dumps(params, default=str, ensure_ascii=False)
