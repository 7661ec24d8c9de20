"""The public API for a project's own rule kinds (see docs/custom_rules.md).

A rule kind is a parse model (a `RuleBase` subclass with `kind: Literal["..."]`) and an executor (a
`KindExecutor` subclass) registered together with `register_kind`. Put the file in
`quality_rules/kinds/` of the project; moshu imports it before it reads any rule file.
"""

from __future__ import annotations

import polars as pl

from pipelines.quality.dataset_kinds import SqlMeasureExecutor
from pipelines.quality.kinds import FAIL, GOOD, MISSING, NOT_EVALUATED, SUSPECT, Context, KindExecutor, _flag
from pipelines.quality.registry import register_kind
from pipelines.spec.rules import RuleBase

__all__ = [
    "FAIL",
    "GOOD",
    "MISSING",
    "NOT_EVALUATED",
    "SUSPECT",
    "Context",
    "KindExecutor",
    "RuleBase",
    "SqlMeasureExecutor",
    "flag_where",
    "register_kind",
]


def flag_where(ok: pl.Expr) -> pl.Expr:
    """QARTOD flags from a row predicate: 1 where `ok` holds (or is null), 4 where it does not."""
    return _flag(ok)
