"""Label inconsistencies that rules flag become findings for review, with the rule as evidence.

A rule reading a label column (role `label`) that flags a published row (a `warn` rule: error rows are
already in quarantine) yields one `label_error` finding per row, source `rule:<rule id>`, by `moshu-rules`.
Its column is the label the rule derives (`label = <expression>`), else the classification demand's label
(or one-hot group) the rule reads, else the rule's one label column (or its label columns as a group).

A rule of the form `label = <expression>` suggests the expression's value when it is non-zero (or true):
the other columns record that something happened (AI4I: a failure mode is flagged, so `machine_failure`
should be 1). A zero is absence of evidence (a failure with no mode recorded may be a real failure
whose mode was not logged), so such rows, like those of every other rule, are shown without a
suggestion: accepted as they are, they exclude the row. A row already holding a finding from the same
rule on the same column is not proposed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from pipelines.catalog.client import CatalogClient
from pipelines.models.feedback import ONE_HOT_SEPARATOR, submit
from pipelines.models.keys import ROW_KEY, row_key_expr
from pipelines.spec.loader import LoadedDataset
from pipelines.warehouse import Warehouse

RULES_BY = "moshu-rules"
SOURCE_PREFIX = "rule:"
WARN_RULES = "_warn_rules"  # the published data's list of warn rules that flagged each row (stages.publish)
_DERIVES = re.compile(r'^\s*"?([A-Za-z_][A-Za-z0-9_]*)"?\s*=\s*(.+?)\s*$', re.DOTALL)
_COMPOUND = re.compile(r"(\bAND\b|\bOR\b|[<>!]?=|<>)", re.IGNORECASE)


@dataclass(frozen=True)
class LabelRule:
    """A rule reading label columns: which column its findings name, and what it suggests."""

    rule_id: str
    description: str
    column: str
    columns_shown: tuple[str, ...]  # the columns it reads that are not personal: their values go in the note
    derived: str | None = None  # SQL expression of the value the rule derives for `column`


def label_rules(loaded: LoadedDataset) -> list[LabelRule]:
    """The dataset's rules that read a label column, with the column their findings name.

    Args:
        loaded: The dataset with its rules and demands.

    Returns:
        One `LabelRule` per rule that reads a column of role `label`, in rule order.
    """
    spec = loaded.spec
    labels = [c.name for c in spec.columns if c.role == "label" and spec.sensitivity(c.name) != "personal"]
    out = []
    for rule in loaded.rules:
        read = tuple(rule.columns_used())
        used = [c for c in read if c in labels]
        if not used:
            continue
        derived = None
        m = _DERIVES.match(getattr(rule, "expr", "") or "")
        if m and m.group(1) in labels and not _COMPOUND.search(m.group(2)):
            column, derived = m.group(1), m.group(2)
        else:
            column = _target(loaded, used)
        shown = tuple(c for c in read if spec.sensitivity(c) != "personal")
        out.append(LabelRule(rule.id, rule.description or rule.id, column, shown, derived))
    return out


def _target(loaded: LoadedDataset, used: list[str]) -> str:
    for d in loaded.demands:
        if d.task == "classification" and set(used) <= set(d.label_columns):
            return ONE_HOT_SEPARATOR.join(d.label_columns) if d.one_hot_labels else used[0]
    return ONE_HOT_SEPARATOR.join(used)


def _suggestion(value: Any) -> str | None:
    if value is None or value is False or value == 0:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "true" if value is True else str(value)


def _shown(row: dict[str, Any], columns: tuple[str, ...]) -> str:
    return ", ".join(f"{c}={row[c]}" for c in columns)


def rule_finding_rows(df: pl.DataFrame, rule: LabelRule) -> list[dict[str, Any]]:
    """The findings one label rule yields on published rows (with `ROW_KEY` and the warn-rule list).

    Args:
        df: Published rows with `ROW_KEY` and `_warn_rules`.
        rule: The label rule.

    Returns:
        Finding rows as `feedback.submit` takes them.
    """
    flagged = df.filter(pl.col(WARN_RULES).list.contains(rule.rule_id))
    if rule.derived is not None:
        flagged = flagged.with_columns(pl.sql_expr(rule.derived).alias("_derived"))
    about = " ".join(rule.description.split())
    out = []
    for row in flagged.iter_rows(named=True):
        value = _suggestion(row.get("_derived"))
        out.append(
            {
                "row_key": row[ROW_KEY],
                "kind": "label_error",
                "column": rule.column,
                "suggested_value": value,
                "note": f"rule `{rule.rule_id}` flags this row ({about}): {_shown(row, rule.columns_shown)}"
                + ("" if value is not None or rule.derived is None else "; the rule implies no value here: review only"),
            }
        )
    return out


def propose_rule_findings(warehouse: Warehouse, loaded: LoadedDataset) -> dict[str, int]:
    """Turn the latest published version's label-rule flags into proposed findings. Returns findings per rule id.

    Args:
        warehouse: The warehouse.
        loaded: The dataset.

    Returns:
        Rule id -> findings recorded by this call (rules that recorded none are left out).
    """
    name = loaded.name
    version = warehouse.latest(name)
    rules = label_rules(loaded)
    if version is None or not rules:
        return {}
    pk = list(warehouse.manifest(name, version)["primary_key"])
    lf = pl.scan_parquet(warehouse.data_files(name, version))
    ids = [r.rule_id for r in rules]
    df = (
        lf.with_columns(row_key_expr(pk, lf.collect_schema()))
        .filter(pl.col(WARN_RULES).list.eval(pl.element().is_in(ids)).list.any())
        .collect()
    )
    if df.is_empty():
        return {}
    with CatalogClient(warehouse.root) as c:
        seen = {
            (src, key, col)
            for src, key, col in c.rows(
                "SELECT source, row_key, column_name FROM feedback WHERE dataset = ? AND starts_with(source, ?)",
                [name, SOURCE_PREFIX],
            )
        }
    recorded: dict[str, int] = {}
    for rule in rules:
        source = SOURCE_PREFIX + rule.rule_id
        rows = [r for r in rule_finding_rows(df, rule) if (source, r["row_key"], rule.column) not in seen]
        if rows:
            submit(warehouse, f"{name}@{version}", rows, by=RULES_BY, source=source)
            recorded[rule.rule_id] = len(rows)
    return recorded
