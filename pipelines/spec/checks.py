"""Cross-checks of rules against their dataset's spec (columns, types, master files, units, ids)."""

from __future__ import annotations

import difflib
from pathlib import Path

from pipelines.errors import SpecIssue
from pipelines.spec.models import NUMERIC_DTYPES, TIME_DTYPES, DatasetSpec
from pipelines.spec.rules import RuleBase
from pipelines.spec.yaml_marks import Located

LINEAGE_NAMES = ("_source_file", "_source_row")  # lineage columns every staged row carries


def check_rules_against_spec(
    spec: DatasetSpec, rules: list[tuple[RuleBase, Located, int]], issues: list[SpecIssue], root: Path
) -> None:
    names = [*spec.column_names, *LINEAGE_NAMES]  # rules may read a row's lineage too (e.g. `_source_row > 160`)
    seen: dict[str, str] = {}
    checks: dict[str, str] = {}
    for rule, located, idx in rules:
        where = located.locate(("rules", idx))
        if rule.id in seen:
            issues.append(
                SpecIssue(
                    located.display,
                    *where,
                    f"rules[{idx}].id",
                    f"rule id `{rule.id}` is used twice (also in {seen[rule.id]})",
                    "rule ids must be unique per dataset",
                )
            )
        seen[rule.id] = located.display
        if rule.id.startswith("schema."):
            issues.append(
                SpecIssue(
                    located.display,
                    *where,
                    f"rules[{idx}].id",
                    f"rule ids starting with `schema.` are reserved for the rules the spec implies (`{rule.id}`)",
                    "choose another prefix, e.g. the dataset name",
                )
            )
        mangled = rule.id.replace(".", "__").replace("-", "_")
        if mangled in checks and checks[mangled] != rule.id:
            issues.append(
                SpecIssue(
                    located.display,
                    *where,
                    f"rules[{idx}].id",
                    f"rule ids `{checks[mangled]}` and `{rule.id}` are the same Dagster check name `{mangled}`",
                    "make them differ by more than `.`, `-` and `_`",
                )
            )
        checks[mangled] = rule.id
        for col in rule.columns_used():
            if col not in names:
                close = difflib.get_close_matches(col, names, n=1, cutoff=0.5)
                key = _key_naming(rule, col)
                line, c = located.locate(("rules", idx, key))
                issues.append(
                    SpecIssue(
                        located.display,
                        line,
                        c,
                        f"rules[{idx}].{key}",
                        f"rule `{rule.id}` uses column `{col}`, which dataset `{spec.name}` does not have",
                        f"did you mean `{close[0]}`?" if close else f"columns are: {', '.join(names)}",
                    )
                )
        for key, message, hint in _semantic_problems(rule, spec, root):
            line, c = located.locate(("rules", idx, key))
            issues.append(SpecIssue(located.display, line, c, f"rules[{idx}].{key}", message, hint))


def _key_naming(rule: RuleBase, col: str) -> str:
    """The rule's key whose value names `col` (for the error position)."""
    for key, value in rule.model_dump().items():
        if value == col or (isinstance(value, list | tuple) and col in value):
            return key
    return "expr" if hasattr(rule, "expr") else "kind"


VALUE_FREE_KINDS = frozenset({"not_null", "unique", "dtype", "record_completeness"})


def _semantic_problems(rule: RuleBase, spec: DatasetSpec, root: Path) -> list[tuple[str, str, str | None]]:
    """Problems a rule has with the spec beyond unknown columns: (key, message, hint)."""
    from pipelines.quality.units import convertible, valid

    out: list[tuple[str, str, str | None]] = []
    cols = {c.name: c for c in spec.declared_columns}
    kind = rule.kind
    personal = [c for c in rule.columns_used() if c in cols and spec.sensitivity(c) == "personal"]
    if personal and kind not in VALUE_FREE_KINDS:
        out.append(
            (
                "kind",
                f"rule `{rule.id}` ({kind}) reads personal column `{personal[0]}`, whose values are pseudonyms: "
                "a rule carrying values would put raw personal data into the rules, results and reports",
                f"on a personal column use only {', '.join(sorted(VALUE_FREE_KINDS))}",
            )
        )
    ts = getattr(rule, "timestamp", None)
    if ts in cols and cols[ts].dtype not in NUMERIC_DTYPES | TIME_DTYPES:
        out.append(
            (
                "timestamp",
                f"`{ts}` is a {cols[ts].dtype} column; a timestamp must be a datetime or a number (e.g. a cycle)",
                "convert it in the spec (`dtype: datetime` with `format:`)",
            )
        )
    numeric = NUMERIC_DTYPES
    value = getattr(rule, "column", None)
    if (
        kind in ("in_range", "outlier_share", "spike", "rate_of_change", "flat_line", "attenuated_signal")
        and value in cols
        and cols[value].dtype not in numeric
    ):
        out.append(
            (
                "column",
                f"rule kind `{kind}` needs a numeric column; `{value}` is {cols[value].dtype}",
                "use `in_set` or `regex` for text",
            )
        )
    if kind == "reference":
        master = root / str(getattr(rule, "master", ""))
        if not master.is_file():
            out.append(
                (
                    "master",
                    f"master data `{getattr(rule, 'master', '')}` does not exist",
                    "paths are relative to the project root",
                )
            )
    if kind == "unit_consistency":
        target = str(getattr(rule, "unit", ""))
        if not valid(target):
            out.append(("unit", f"`{target}` is not a unit the units library knows", "write e.g. `degC`, `K`, `bar`, `rpm`"))
        for c in getattr(rule, "columns", ()):
            if c in cols and not cols[c].unit:
                out.append(
                    (
                        "columns",
                        f"column `{c}` declares no `unit:` in the spec, so its unit cannot be checked",
                        f"add `unit:` to column `{c}`",
                    )
                )
            elif c in cols and valid(target) and not convertible(cols[c].unit, target):
                out.append(
                    (
                        "columns",
                        f"column `{c}` is declared in `{cols[c].unit}`, which does not convert to `{target}`",
                        "fix the column's unit or the rule's `unit`",
                    )
                )
    expr = getattr(rule, "expr", None)
    if expr and all(c in cols for c in rule.columns_used()):
        import polars as pl

        from pipelines.quality.kinds import POLARS_DTYPES

        empty = pl.LazyFrame(schema={c.name: POLARS_DTYPES[c.dtype] for c in spec.declared_columns})
        try:
            dtype = empty.select(pl.sql_expr(str(expr)).alias("r")).collect().schema["r"]
            if dtype != pl.Boolean:
                out.append(("expr", f"`{expr}` gives {dtype}, not true/false", "write a comparison, e.g. `a = b + c`"))
        except pl.exceptions.PolarsError as e:
            out.append(
                (
                    "expr",
                    f"`{expr}` does not fit the columns' types: {str(e).splitlines()[0]}",
                    "compare numbers with numbers and text with text",
                )
            )
    if kind == "in_set" and value in cols and cols[value].dtype != "string":
        import polars as pl

        from pipelines.quality.kinds import POLARS_DTYPES

        try:
            pl.Series(list(getattr(rule, "values", ())), strict=False).cast(POLARS_DTYPES[cols[value].dtype], strict=True)
        except pl.exceptions.PolarsError:
            out.append(
                (
                    "values",
                    f"`values` are not all valid {cols[value].dtype} values for column `{value}`",
                    "list values of the column's type",
                )
            )
    clause_id = rule.clause
    if clause_id is not None:
        from pipelines.quality.guide import BY_ID

        if clause_id not in BY_ID:
            close = difflib.get_close_matches(clause_id, list(BY_ID), n=1)
            out.append(
                (
                    "clause",
                    f"`{clause_id}` is not a clause of the guide",
                    f"did you mean `{close[0]}`?" if close else "see docs/guide.md",
                )
            )
    return out
