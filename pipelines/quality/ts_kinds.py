"""Executors of the time-series rule kinds: QARTOD-style flags per entity in time order (see timeseries.py)."""

from __future__ import annotations

from typing import Any

import polars as pl

from pipelines.quality import timeseries as ts
from pipelines.quality.kinds import MISSING, NOT_EVALUATED, Context, KindExecutor, _num, _shown
from pipelines.quality.results import Measure, make_measure
from pipelines.spec.rules import AttenuatedSignal, FlatLine, Gap, Increasing, RateOfChange, Spike
from pipelines.sql import ident


class _SeriesExec(KindExecutor):
    windowed = True  # every series rule compares a sample with its neighbours

    def bucket_columns(self, rule: Any, ctx: Context) -> list[str]:
        return list(rule.entity)

    def can_suspect(self, rule: Any, ctx: Context) -> bool:
        return True

    def evaluated(self, rule: Any, ctx: Context) -> pl.Expr:
        return ~self.flags(rule, ctx).is_in([NOT_EVALUATED, MISSING])

    def _sql_order(self, rule: Any) -> tuple[str, str]:
        part = f"PARTITION BY {', '.join(ident(e) for e in rule.entity)} " if rule.entity else ""
        return part, f"ORDER BY {ident(rule.timestamp)}"


class IncreasingExec(_SeriesExec):
    kind = "increasing"
    clause = "T-3"

    def can_suspect(self, rule: Increasing, ctx: Context) -> bool:
        return False

    def flags(self, rule: Increasing, ctx: Context) -> pl.Expr:
        return ts.increasing_flags(rule.timestamp, list(rule.entity))

    def evaluated(self, rule: Increasing, ctx: Context) -> pl.Expr:
        # Rows with a predecessor in their series (file order); the whole expression in one window.
        has_pred = pl.int_range(pl.len()) > 0
        return has_pred.over(list(rule.entity)) if rule.entity else has_pred

    def reason(self, rule: Increasing, ctx: Context) -> pl.Expr:
        return pl.format(
            "`{}` = {} does not come after the previous sample of its series", pl.lit(rule.timestamp), _shown(rule.timestamp)
        )

    def expectation(self, rule: Increasing, ctx: Context) -> Any:
        import great_expectations as gx

        if not rule.entity:
            return gx.expectations.ExpectColumnValuesToBeIncreasing(column=rule.timestamp, strictly=True)
        part, _ = self._sql_order(rule)
        q = (
            f"SELECT * FROM (SELECT *, lag({ident(rule.timestamp)}) OVER ({part}ORDER BY _row_id) AS _prev FROM {{batch}}) "
            f"WHERE _prev IS NOT NULL AND {ident(rule.timestamp)} <= _prev"
        )
        return gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=q)


class GapExec(_SeriesExec):
    kind = "gap"
    clause = "S-1"

    def flags(self, rule: Gap, ctx: Context) -> pl.Expr:
        return ts.gap_flags(rule.timestamp, list(rule.entity), rule.period_s, rule.suspect_factor, rule.fail_factor)

    def evaluated(self, rule: Gap, ctx: Context) -> pl.Expr:
        # Intervals: every timed sample but the earliest of its series.
        later = pl.col(rule.timestamp).rank("ordinal").fill_null(0) > 1
        return later.over(list(rule.entity)) if rule.entity else later

    def reason(self, rule: Gap, ctx: Context) -> pl.Expr:
        return pl.format(
            "gap before `{}` = {}: longer than {} x the {} s period", pl.lit(rule.timestamp), _shown(rule.timestamp),
            pl.lit(_num(rule.suspect_factor)), pl.lit(_num(rule.period_s)),
        )  # fmt: skip

    def expectation(self, rule: Gap, ctx: Context) -> Any:
        import great_expectations as gx

        part, order = self._sql_order(rule)
        t = ident(rule.timestamp)
        step = (
            f"epoch({t}) - epoch(lag({t}) OVER ({part}{order}))"
            if ctx.dtype(rule.timestamp) == "datetime"
            else f"{t} - lag({t}) OVER ({part}{order})"
        )
        q = f"SELECT * FROM (SELECT *, {step} AS _dt FROM {{batch}}) WHERE _dt > {rule.period_s * rule.fail_factor}"
        return gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=q)


class SpikeExec(_SeriesExec):
    kind = "spike"
    clause = "S-2"

    def flags(self, rule: Spike, ctx: Context) -> pl.Expr:
        return ts.spike_flags(rule.column, rule.timestamp, list(rule.entity), rule.suspect_threshold, rule.fail_threshold)

    def reason(self, rule: Spike, ctx: Context) -> pl.Expr:
        return pl.format("`{}` = {} is a spike (QARTOD spike test)", pl.lit(rule.column), _shown(rule.column))

    def expectation(self, rule: Spike, ctx: Context) -> Any:
        import great_expectations as gx

        part, order = self._sql_order(rule)
        c = ident(rule.column)
        w = f"OVER ({part}{order})"
        q = f"SELECT * FROM (SELECT *, abs({c} - (lag({c}) {w} + lead({c}) {w}) / 2) AS _spike FROM {{batch}}) WHERE _spike > {rule.fail_threshold}"
        return gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=q)


class RateOfChangeExec(_SeriesExec):
    kind = "rate_of_change"
    clause = "S-3"

    def measures(self, rule: RateOfChange, ctx: Context, evaluated: int, failed: int, suspect: int) -> list[Measure]:
        return [make_measure(self.clause_for(rule, ctx), evaluated - failed - suspect, evaluated, rule.threshold, rule.gate)]

    def flags(self, rule: RateOfChange, ctx: Context) -> pl.Expr:
        return ts.rate_of_change_flags(rule.column, rule.timestamp, list(rule.entity), rule.threshold_per_s)

    def reason(self, rule: RateOfChange, ctx: Context) -> pl.Expr:
        return pl.format(
            "`{}` = {} changes faster than {} per s", pl.lit(rule.column), _shown(rule.column), pl.lit(_num(rule.threshold_per_s))
        )

    def expectation(self, rule: RateOfChange, ctx: Context) -> Any:
        import great_expectations as gx

        part, order = self._sql_order(rule)
        c, t = ident(rule.column), ident(rule.timestamp)
        w = f"OVER ({part}{order})"
        dt = f"(epoch({t}) - epoch(lag({t}) {w}))" if ctx.dtype(rule.timestamp) == "datetime" else f"({t} - lag({t}) {w})"
        q = f"SELECT * FROM (SELECT *, abs({c} - lag({c}) {w}) / {dt} AS _roc FROM {{batch}}) WHERE _roc > {rule.threshold_per_s}"
        return gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=q)


class FlatLineExec(_SeriesExec):
    kind = "flat_line"
    clause = "S-4"

    def flags(self, rule: FlatLine, ctx: Context) -> pl.Expr:
        return ts.flat_line_flags(rule.column, rule.timestamp, list(rule.entity), rule.suspect_s, rule.fail_s, rule.tolerance)

    def reason(self, rule: FlatLine, ctx: Context) -> pl.Expr:
        return pl.format(
            "`{}` = {} has not changed for at least {} s (stuck sensor)",
            pl.lit(rule.column),
            _shown(rule.column),
            pl.lit(_num(rule.suspect_s)),
        )

    def expectation(self, rule: FlatLine, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectColumnStdevToBeBetween(column=rule.column, min_value=rule.tolerance, strict_min=True)


class AttenuatedSignalExec(_SeriesExec):
    kind = "attenuated_signal"
    clause = "S-5"

    def flags(self, rule: AttenuatedSignal, ctx: Context) -> pl.Expr:
        return ts.attenuated_flags(
            rule.column,
            rule.timestamp,
            list(rule.entity),
            rule.window_s,
            rule.suspect_threshold,
            rule.fail_threshold,
            rule.check_type,
            min_obs=rule.min_obs,
        )

    def reason(self, rule: AttenuatedSignal, ctx: Context) -> pl.Expr:
        return pl.format(
            "`{}` varies less than {} over {} s (attenuated signal)",
            pl.lit(rule.column),
            pl.lit(_num(rule.suspect_threshold)),
            pl.lit(_num(rule.window_s)),
        )

    def expectation(self, rule: AttenuatedSignal, ctx: Context) -> Any:
        import great_expectations as gx

        return gx.expectations.ExpectColumnStdevToBeBetween(column=rule.column, min_value=rule.fail_threshold)
