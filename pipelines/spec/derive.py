"""Load-time checks of derived columns (`expr`), value maps (`map`) and `enrich` files against their spec."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from pipelines.errors import SpecIssue
from pipelines.spec.yaml_marks import Located

if TYPE_CHECKING:
    from pipelines.spec.models import Column, DatasetSpec

FILE_ROW = "_file_row"  # 1-based position of a row in its file
ENTITY_ROW = "_entity_row"  # 1-based position of a row in its entity (the `entity` columns), by file then row
# Row positions and lineage an expression may read besides the columns.
ROW_NAMES = (FILE_ROW, ENTITY_ROW, "_source_row", "_source_file")


def expr_names(expr: str) -> list[str]:
    """The column names a (parsable) SQL expression reads, in order of first use."""
    import polars as pl

    return list(dict.fromkeys(pl.sql_expr(expr).meta.root_names()))


def derived_problem(col: Column) -> str | None:
    """What is wrong with a column's own `expr` and `map`, if anything (checked when the column is parsed)."""
    if col.map is not None and col.dtype != "string":
        return f"`map` respells text: it applies to `dtype: string` columns, not {col.dtype}"
    if col.expr is None:
        return None
    import polars as pl

    if col.source is not None or col.from_path is not None or col.keep_original:
        which = "source" if col.source is not None else "from_path" if col.from_path is not None else "keep_original"
        return f"a derived column (`expr`) is computed, not read: remove `{which}`"
    try:
        pl.sql_expr(col.expr)
    except Exception as e:  # polars raises several error types for SQL it cannot parse
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"`expr: {col.expr}` is not a valid SQL expression ({first}); write e.g. `CASE WHEN _file_row <= 160 THEN 'normal' ELSE 'fault' END`"
    return None


def _unknown(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f"did you mean `{close[0]}`?" if close else f"names are: {', '.join(known)}"


def _check_expressions(spec: DatasetSpec, located: Located, issues: list[SpecIssue]) -> None:
    """Each derived column reads only columns available before it, and personal values stay personal."""
    derived = [c.name for c in spec.columns if c.expr is not None]
    available = [c.name for c in spec.declared_columns if c.expr is None]
    entity = [c.name for c in spec.declared_columns if c.role == "entity" and c.expr is None]
    for i, c in enumerate(spec.columns):
        if c.expr is None:
            continue
        where = located.locate(("columns", i, "expr"))
        key = f"columns[{i}].expr"
        for n in expr_names(c.expr):
            problem = None
            if n == c.name:
                problem, hint = f"derived column `{c.name}` reads itself", "compute it from other columns"
            elif n in derived and n not in available:
                problem = f"derived column `{c.name}` reads `{n}`, which is derived after it"
                hint = f"move `{n}` before `{c.name}` in `columns` (derived columns are computed in order)"
            elif n == ENTITY_ROW and not entity:
                problem = f"`{ENTITY_ROW}` counts rows per entity, but no column has `role: entity`"
                hint = f"give the entity's columns `role: entity`, or use `{FILE_ROW}`"
            elif n not in available and n not in ROW_NAMES:
                problem = f"derived column `{c.name}` reads `{n}`, which dataset `{spec.name}` does not have"
                hint = _unknown(n, [*available, *ROW_NAMES])
            if problem:
                issues.append(SpecIssue(located.display, *where, key, problem, hint))
        personal = [n for n in expr_names(c.expr) if n in available and spec.sensitivity(n) == "personal"]
        if personal and spec.sensitivity(c.name) != "personal":
            issues.append(
                SpecIssue(
                    located.display, *where, key,
                    f"derived column `{c.name}` reads personal column `{personal[0]}`, so it would publish personal values",
                    f"declare `sensitivity: personal` (and `dtype: string`) on `{c.name}`",
                )
            )  # fmt: skip
        available.append(c.name)


def _check_maps(spec: DatasetSpec, located: Located, issues: list[SpecIssue]) -> None:
    """Personal columns are not respelled (the respelled values would be kept in clear for the counts)."""
    cols: list[tuple[tuple[str | int, ...], Column]] = [(("columns", i), c) for i, c in enumerate(spec.columns)]
    cols += [(("enrich", j, "columns", i), c) for j, e in enumerate(spec.enrich) for i, c in enumerate(e.columns)]
    for path, c in cols:
        if c.map is not None and spec.sensitivity(c.name) == "personal":
            issues.append(
                SpecIssue(
                    located.display, *located.locate((*path, "map")), ".".join(map(str, path)) + ".map",
                    f"column `{c.name}` is personal: its values are pseudonymised, not respelled",
                    "remove `map`, or clean the values at the source",
                )
            )  # fmt: skip


def _check_enrich(spec: DatasetSpec, located: Located, issues: list[SpecIssue]) -> None:
    """Keys name columns read from the source files or their paths."""
    keyable = [c.name for c in spec.columns if c.expr is None]
    labels: dict[str, int] = {}
    for j, e in enumerate(spec.enrich):
        if e.label in labels:
            issues.append(
                SpecIssue(
                    located.display, *located.locate(("enrich", j)), f"enrich[{j}]",
                    f"two `enrich` entries are both named `{e.label}` (rule id `enrich.{e.label}.missing`)",
                    "give one of them a distinct `name:`",
                )
            )  # fmt: skip
        labels[e.label] = j
        for k in e.keys:
            if k not in keyable:
                derived = k in {c.name for c in spec.declared_columns}
                issues.append(
                    SpecIssue(
                        located.display, *located.locate(("enrich", j, "on")), f"enrich[{j}].on",
                        f"key `{k}` is not a column read from the source files or their paths",
                        "derived and enrichment columns are computed after the join: key on a source or `from_path` column"
                        if derived else _unknown(k, keyable),
                    )
                )  # fmt: skip


def check_derived(spec: DatasetSpec, located: Located, issues: list[SpecIssue]) -> None:
    """Add the problems of the spec's derived columns, value maps and `enrich` files to `issues`.

    Args:
        spec: The parsed spec.
        located: The spec's YAML with positions, for file:line in messages.
        issues: Where problems are collected.
    """
    _check_expressions(spec, located, issues)
    _check_maps(spec, located, issues)
    _check_enrich(spec, located, issues)


__all__ = ["ENTITY_ROW", "FILE_ROW", "ROW_NAMES", "check_derived", "derived_problem", "expr_names"]
