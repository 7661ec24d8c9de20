"""Apply accepted corrections to the typed rows of a run (before validation), recording what changed."""

from __future__ import annotations

from typing import Any

import polars as pl

from pipelines.models.feedback import Correction
from pipelines.models.keys import ROW_KEY, row_key_expr
from pipelines.models.values import typed_value
from pipelines.quality.kinds import POLARS_DTYPES
from pipelines.spec.models import DatasetSpec

EXCLUDED = "_feedback_exclude"
__all__ = ["EXCLUDED", "apply", "typed_value"]


def _targets(c: Correction) -> dict[str, str]:
    """Column -> new value (as text) of a relabel or set; a one-hot group sets the class to 1, the others to 0."""
    cols = c.columns
    if len(cols) > 1:
        return {col: "1" if col == c.value else "0" for col in cols}
    return {cols[0]: str(c.value)} if cols else {}


def _old_values(lf: pl.LazyFrame, corrections: list[Correction], spec: DatasetSpec) -> dict[str, dict[str, Any]]:
    keys = sorted({c.row_key for c in corrections})
    cols = sorted({col for c in corrections for col in c.columns})
    hit = (
        lf.with_columns(row_key_expr(spec.primary_key, lf.collect_schema()))
        .filter(pl.col(ROW_KEY).is_in(keys))
        .select(ROW_KEY, *cols)
        .collect()
    )
    out: dict[str, dict[str, Any]] = {}
    for r in hit.iter_rows(named=True):
        out.setdefault(r[ROW_KEY], {**r, "_n": 0})["_n"] += 1
    return out


def apply(
    lf: pl.LazyFrame, corrections: list[Correction], spec: DatasetSpec, files: dict[str, str] | None = None
) -> tuple[pl.LazyFrame, list[dict[str, Any]]]:
    """Relabel, set or mark for exclusion the rows named by `corrections`; return the new frame and what applied.

    Each record says how many rows the key matched (0 when the raw data no longer has it) and the
    value before and after. A finding on a lineage key (`file#row`, datasets without a primary key)
    is not applied once that file's content changed (`files`: path -> sha256 of this run): the same
    row number may now be another row. A finding on a lineage key (`file#row`, datasets without a primary key)
    is not applied once that file's content changed (`files`: path -> sha256 of this run): the same
    row number may now be another row. Rows to exclude get the reason in `_feedback_exclude`; publish puts them
    in quarantine under the rule `feedback.exclude`.
    """
    if not corrections:
        return lf, []
    stale = [c for c in corrections if c.source_sha256 and (files or {}).get(c.row_key.rsplit("#", 1)[0]) != c.source_sha256]
    corrections = [c for c in corrections if c not in stale]
    old = _old_values(lf, corrections, spec) if corrections else {}
    dtypes = {c.name: POLARS_DTYPES[c.dtype] for c in spec.declared_columns}
    spec_dtypes = {c.name: c.dtype for c in spec.declared_columns}
    per_column: dict[str, dict[str, str]] = {}
    excluded: dict[str, str] = {}
    applied = []
    for c in corrections:
        before = old.get(c.row_key)
        targets = _targets(c) if c.action != "exclude" else {}
        for col, value in targets.items():
            per_column.setdefault(col, {})[c.row_key] = value
        if c.action == "exclude":
            excluded[c.row_key] = f"feedback {c.feedback_id} ({c.reviewed_by}): {c.reason}"
        applied.append(
            {
                "feedback_id": c.feedback_id,
                "row_key": c.row_key,
                "action": c.action,
                "column": c.column,
                "old_value": None if before is None or not c.columns else _text({k: before[k] for k in c.columns}),
                "new_value": None if c.action == "exclude" else _text(targets),
                "rows_affected": 0 if before is None else int(before["_n"]),
                "reason": c.reason,
                "reviewed_by": c.reviewed_by,
            }
        )
    applied += [
        {"feedback_id": c.feedback_id, "row_key": c.row_key, "action": c.action, "column": c.column, "old_value": None,
         "new_value": None, "rows_affected": 0, "reason": c.reason, "reviewed_by": c.reviewed_by,
         "skipped": "the source file changed since the finding; its row numbers may name other rows now"}
        for c in stale
    ]  # fmt: skip
    applied.sort(key=lambda a: str(a["feedback_id"]).zfill(12))
    if not per_column and not excluded:
        return lf, applied
    key = row_key_expr(spec.primary_key, lf.collect_schema())
    out = lf.with_columns(key)
    for col, mapping in per_column.items():
        new = pl.concat([typed_value(v, spec_dtypes[col]) for v in mapping.values()]).cast(dtypes[col])
        out = out.with_columns(
            pl.col(ROW_KEY).replace_strict(list(mapping), new, default=pl.col(col), return_dtype=dtypes[col]).alias(col)
        )
    out = out.with_columns(
        pl.col(ROW_KEY)
        .replace_strict(list(excluded), list(excluded.values()), default=None, return_dtype=pl.String)
        .alias(EXCLUDED)
    )
    return out.drop(ROW_KEY), applied


def _text(values: dict[str, Any]) -> str:
    """`v` for one column, `a=1, b=0` for a one-hot group."""
    if len(values) == 1:
        return str(next(iter(values.values())))
    return ", ".join(f"{k}={v}" for k, v in values.items())
