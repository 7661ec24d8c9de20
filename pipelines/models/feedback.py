"""Findings sent back by models, their review, and the corrections the next run applies.

A submission is checked whole before anything is written (dataset version, row keys, kinds,
columns, suggested values, confidence, model run) and written in one transaction: a malformed
file leaves nothing behind. Submissions are never edited; review decisions are appended, and the
latest decision of a finding is its state (`feedback_status`).

What an accepted finding does to the next version (raw data is never modified):

| kind           | with `suggested_value`              | without              |
|----------------|-------------------------------------|----------------------|
| `label_error`  | relabel the label column (`relabel`) | exclude the row      |
| `wrong_unit`   | replace the value (`set`)            | exclude the row      |
| `outlier`      | exclude the row (`exclude`)          | exclude the row      |
| `hard_example` | nothing: recorded for model teams    | nothing              |

Excluded rows go to the version's quarantine with the rule `feedback.exclude` and the reviewer's reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from pipelines.catalog.client import resolve_ref
from pipelines.catalog.db import writer
from pipelines.errors import FeedbackError
from pipelines.warehouse import Warehouse

KINDS = ("label_error", "outlier", "hard_example", "wrong_unit")
DECISIONS = ("accepted", "rejected")
COLUMNS = ("row_key", "kind", "column", "suggested_value", "confidence", "note", "model_run_id")
REQUIRED = ("row_key", "kind")
ONE_HOT_SEPARATOR = "|"
EXCLUDE_RULE = "feedback.exclude"
_SQL_TYPES = {
    "int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT", "uint8": "UTINYINT",
    "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT", "float32": "FLOAT", "float64": "DOUBLE",
    "bool": "BOOLEAN", "string": "VARCHAR", "date": "DATE", "datetime": "TIMESTAMP",
}  # fmt: skip
_MAX_LISTED = 5


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Correction:
    """An accepted finding as the next run applies it."""

    feedback_id: int
    row_key: str
    action: str  # relabel | set | exclude
    column: str | None
    value: str | None
    reason: str
    reviewed_by: str
    source_sha256: str | None = None  # lineage keys only: the source file's hash when the finding was made

    @property
    def columns(self) -> list[str]:
        """Target columns: one, or a one-hot label group written `a|b|c`."""
        return self.column.split(ONE_HOT_SEPARATOR) if self.column else []


def action_of(kind: str, suggested: str | None) -> str | None:
    """What an accepted finding of `kind` does: relabel, set, exclude, or nothing (None)."""
    if kind == "hard_example":
        return None
    if kind == "label_error" and suggested is not None:
        return "relabel"
    if kind == "wrong_unit" and suggested is not None:
        return "set"
    return "exclude"


def corrections_hash(corrections: list[Correction]) -> str | None:
    """Hash of the corrections a run applies (part of the data hash); None when there are none."""
    if not corrections:
        return None
    payload = sorted((c.feedback_id, c.row_key, c.action, c.column, c.value) for c in corrections)
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def accepted_corrections(warehouse: Warehouse, dataset: str) -> tuple[list[Correction], set[int]]:
    """Accepted findings of a dataset that change data, in feedback order, and the ids of all its findings.

    Both are empty without a catalog; the caller compares the ids with what the latest version applied,
    so a lost catalog is noticed instead of silently undoing accepted corrections.
    """
    if not warehouse.catalog_path.is_file():
        return [], set()
    from pipelines.catalog.client import CatalogClient

    with CatalogClient(warehouse.root) as c:
        if not c.rows("SELECT count(*) FROM duckdb_views() WHERE view_name = 'feedback_status'")[0][0]:
            return [], set()  # a catalog from before migration 0003
        rows = c.rows(
            "SELECT feedback_id, row_key, kind, column_name, suggested_value, review_reason, reviewed_by, source_sha256 "
            "FROM feedback_status WHERE dataset = ? AND status = 'accepted' ORDER BY feedback_id",
            [dataset],
        )
        ids = {int(r[0]) for r in c.rows("SELECT feedback_id FROM feedback WHERE dataset = ?", [dataset])}
    out = []
    for fid, key, kind, col, value, reason, by, sha in rows:
        action = action_of(kind, value)
        if action is not None:
            out.append(
                Correction(int(fid), key, action, col, value if action != "exclude" else None, reason or "", by or "", sha)
            )
    return out, ids


# ---------------------------------------------------------------- submitting


def _schema(con: duckdb.DuckDBPyConnection, name: str, version: int) -> dict[str, tuple[str, str | None]]:
    rows = con.execute(
        "SELECT column_name, dtype, CASE WHEN sensitivity = 'personal' THEN 'personal' ELSE role END "
        "FROM columns WHERE name = ? AND version = ? ORDER BY position",
        [name, version],
    ).fetchall()
    return {c: (dtype, role) for c, dtype, role in rows}


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return "; ".join(items[:_MAX_LISTED]) + more


def _check_rows(con: duckdb.DuckDBPyConnection, name: str, version: int, rows: list[dict[str, Any]], source: str) -> list[str]:
    """Every problem of the submitted rows, each naming the row (1-based, as in the file) and the fix."""
    schema = _schema(con, name, version)
    pk = con.execute("SELECT primary_key FROM datasets WHERE name = ?", [name]).fetchone()[0] or []  # type: ignore[index]
    labels = [c for c, (_, role) in schema.items() if role == "label"]
    runs = {r[0] for r in con.execute("SELECT run_id FROM model_runs WHERE dataset = ?", [name]).fetchall()}
    problems: list[str] = []
    for i, r in enumerate(rows, start=1):
        where = f"{source} row {i}"
        kind = r.get("kind")
        if not r.get("row_key"):
            problems.append(f"{where}: `row_key` is empty")
        if kind not in KINDS:
            problems.append(f"{where}: kind `{kind}` is not one of {', '.join(KINDS)}")
            continue
        conf = r.get("confidence")
        if isinstance(conf, Decimal):  # DuckDB returns decimal literals as Decimal
            r["confidence"] = conf = float(conf)
        if isinstance(conf, str):
            with contextlib.suppress(ValueError):
                r["confidence"] = conf = float(conf)
        if conf is not None and (not isinstance(conf, int | float) or math.isnan(conf) or not 0 <= conf <= 1):
            problems.append(f"{where}: confidence `{conf}` is not a number in [0, 1]")
        if r.get("model_run_id") and r["model_run_id"] not in runs:
            problems.append(f"{where}: model run `{r['model_run_id']}` is not registered for `{name}` (moshu model register)")
        col = r.get("column")
        if kind == "label_error" and not col:
            if len(labels) != 1:
                problems.append(
                    f"{where}: a label_error needs `column` (label columns: {', '.join(labels) or 'none'}; "
                    f"a one-hot group is written `a{ONE_HOT_SEPARATOR}b`)"
                )
                continue
            r["column"] = col = labels[0]
        for c in col.split(ONE_HOT_SEPARATOR) if col else []:
            if c not in schema:
                problems.append(f"{where}: `{name}` has no column `{c}`")
            elif c in pk:
                problems.append(f"{where}: `{c}` is part of the primary key; correct keys in the source, not by feedback")
            elif schema[c][1] == "personal":
                problems.append(f"{where}: `{c}` holds pseudonymised personal data; it cannot be corrected by feedback")
            elif kind == "label_error" and schema[c][1] != "label":
                problems.append(f"{where}: `{c}` is not a label column (label columns: {', '.join(labels) or 'none'})")
        value = r.get("suggested_value")
        if value is not None and col and action_of(str(kind), value) in ("relabel", "set"):
            problems.extend(_value_problems(where, col, str(value), schema))
    return problems


def _value_problems(where: str, col: str, value: str, schema: dict[str, tuple[str, str | None]]) -> list[str]:
    """A suggested value must convert exactly as the next run will convert it (`values.typed_value`)."""
    from pipelines.models.values import typed_value

    group = col.split(ONE_HOT_SEPARATOR)
    if len(group) > 1:
        return [] if value in group else [f"{where}: suggested class `{value}` is not one of {', '.join(group)}"]
    if col not in schema:
        return []
    try:
        typed_value(value, schema[col][0])
    except ValueError as e:
        return [f"{where}: suggested value for `{col}`: {e}"]
    return []


def _version_keys(warehouse: Warehouse, name: str, version: int) -> tuple[set[str], dict[str, str], list[str]]:
    """Row keys of a version's published rows, the sha256 of each source file, and the primary key."""
    import polars as pl

    from pipelines.models.keys import row_key_expr

    m = warehouse.manifest(name, version)
    pk = list(m.get("primary_key", []))
    rows = pl.scan_parquet(warehouse.data_files(name, version))
    keys = rows.select(row_key_expr(pk, rows.collect_schema())).collect().to_series()
    return set(keys.to_list()), {f["path"]: f["sha256"] for f in m.get("source_files", [])}, pk


def _key_hint(pk: list[str]) -> str:
    if pk:
        return f"a row key is the text of the primary key ({', '.join(pk)}) as in the published data, joined by `|`"
    return "this dataset has no primary key: a row key is `<_source_file>#<_source_row>` of the published row"


def submit(
    warehouse: Warehouse, ref: str, rows: list[dict[str, Any]], *, by: str, source: str, model_run: str | None = None
) -> list[int]:
    """Record findings on `dataset[@version]` as `proposed`; all or nothing. Returns their feedback ids.

    Raises:
        FeedbackError: a row is malformed (every problem is listed, with its row number).
        NotFoundError: the dataset or version does not exist.
    """
    if not by.strip():
        raise FeedbackError("say who submits the findings (--by)")
    if not rows:
        raise FeedbackError(f"{source}: no findings to submit")
    unknown_cols = sorted({k for r in rows for k in r} - set(COLUMNS))
    if unknown_cols:
        raise FeedbackError(f"{source}: unknown columns {unknown_cols}; allowed: {', '.join(COLUMNS)}")
    missing = [c for c in REQUIRED if c not in rows[0]]
    if missing:
        raise FeedbackError(f"{source}: required columns {missing} are missing; allowed: {', '.join(COLUMNS)}")
    rows = [{**r, "row_key": None if r.get("row_key") is None else str(r["row_key"])} for r in rows]
    if model_run:
        rows = [{**r, "model_run_id": r.get("model_run_id") or model_run} for r in rows]
    with writer(warehouse) as con:
        name, version = resolve_ref(con, ref)
        problems = _check_rows(con, name, version, rows, source)
        known, shas, pk = _version_keys(warehouse, name, version)
        absent: list[tuple[int, str]] = [
            (i, r["row_key"]) for i, r in enumerate(rows, start=1) if r.get("row_key") and r["row_key"] not in known
        ]
        problems += [f"{source} row {i}: row key `{key}` is not in `{name}` v{version}" for i, key in absent]
        if problems:
            raise FeedbackError(
                f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the findings for `{name}` v{version}, "
                f"nothing was recorded (rows are counted from the first finding): {_listed(problems)}"
                + (f". Note: {_key_hint(pk)}" if absent else "")
            )
        if not pk:  # a lineage key is only valid while its source file is unchanged
            rows = [{**r, "_source_sha256": shas.get(str(r["row_key"]).rsplit("#", 1)[0])} for r in rows]
        return _insert(con, name, version, rows, by, source)


def _insert(
    con: duckdb.DuckDBPyConnection, name: str, version: int, rows: list[dict[str, Any]], by: str, source: str
) -> list[int]:
    con.execute("BEGIN TRANSACTION")
    first = con.execute("SELECT coalesce(max(feedback_id), 0) + 1 FROM feedback").fetchone()[0]  # type: ignore[index]
    batch, now = uuid.uuid4().hex[:12], _now()
    ids = list(range(first, first + len(rows)))
    con.executemany(
        "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [fid, batch, name, version, r["row_key"], r["kind"], r.get("column"),
             None if r.get("suggested_value") is None else str(r["suggested_value"]), r.get("confidence"),
             r.get("model_run_id"), r.get("note"), by, now, source, r.get("_source_sha256")]
            for fid, r in zip(ids, rows, strict=True)
        ],
    )  # fmt: skip
    from pipelines.governance.audit import record

    record(con, actor=by, action="feedback_submit", object=f"{name}@{version}", decision="proposed",
           detail={"batch": batch, "feedback_ids": [ids[0], ids[-1]], "findings": len(ids), "source": source})  # fmt: skip
    con.execute("COMMIT")
    return ids


# ---------------------------------------------------------------- reviewing


def review(warehouse: Warehouse, ids: list[int], decision: str, *, by: str, reason: str, dataset: str | None = None) -> int:
    """Accept or reject findings (appended as decisions; the latest one counts). Returns how many were decided.

    With `dataset`, every id must be a finding on that dataset (ids are numbered across datasets, so a
    reviewer of one dataset cannot decide another's findings by a mistyped id).

    Raises:
        FeedbackError: unknown ids, ids on another dataset than `dataset`, a missing reviewer or reason, or an accepted correction that
            contradicts another accepted one on the same row and column that was accepted after it was
            submitted (a finding submitted after the other's acceptance supersedes it: the other is rejected).
    """
    if decision not in DECISIONS:
        raise FeedbackError(f"decision `{decision}` is not one of {', '.join(DECISIONS)}")
    if not by.strip() or not reason.strip():
        raise FeedbackError("a review needs who decided (--by) and why (--reason)")
    if not ids:
        raise FeedbackError("name the findings to review (feedback ids; see `moshu feedback list`)")
    with writer(warehouse) as con:
        found = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT feedback_id, dataset, row_key, column_name, suggested_value, kind FROM feedback_status "
                f"WHERE feedback_id IN ({', '.join('?' * len(ids))})",
                ids,
            ).fetchall()
        }
        missing = sorted(set(ids) - set(found))
        if missing:
            raise FeedbackError(f"no feedback with id {', '.join(map(str, missing))}; nothing was recorded")
        other = sorted(fid for fid in ids if dataset is not None and found[fid][0] != dataset)
        if other:
            where = sorted({str(found[fid][0]) for fid in other})
            raise FeedbackError(
                f"feedback {', '.join(map(str, other))} {'is' if len(other) == 1 else 'are'} on {', '.join(f'`{w}`' for w in where)}, "
                f"not `{dataset}`; nothing was recorded (see `moshu feedback list {dataset}`)"
            )
        superseded = _check_conflicts(con, ids, found) if decision == "accepted" else []
        con.execute("BEGIN TRANSACTION")
        first = con.execute("SELECT coalesce(max(review_id), 0) + 1 FROM feedback_reviews").fetchone()[0]  # type: ignore[index]
        now = _now()
        decided = [(fid, decision, reason) for fid in ids]
        decided += [(old, "rejected", f"superseded by feedback {new}: {reason}") for old, new in superseded]
        con.executemany(
            "INSERT INTO feedback_reviews VALUES (?, ?, ?, ?, ?, ?)",
            [[first + i, fid, d, by, why, now] for i, (fid, d, why) in enumerate(decided)],
        )
        from pipelines.governance.audit import record

        datasets = sorted({str(found[fid][0]) for fid in ids})
        record(con, actor=by, action="feedback_review", object=", ".join(datasets), decision=decision,
               detail={"feedback_ids": sorted(ids), "reason": reason, "superseded": sorted(old for old, _ in superseded)})  # fmt: skip
        con.execute("COMMIT")
    return len(ids)


def _check_conflicts(con: duckdb.DuckDBPyConnection, ids: list[int], found: dict[int, tuple[Any, ...]]) -> list[tuple[int, int]]:
    """The (accepted finding, finding superseding it) pairs of a review; a contradiction that supersedes nothing is refused.

    A finding submitted after another finding on the same row and column was accepted is a reaction to
    that correction (e.g. the detector doubting the accepted class in the corrected version): accepting
    it supersedes the earlier one. Findings that contradict an accepted one they did not see are refused.
    """
    accepted = con.execute(
        "SELECT feedback_id, dataset, row_key, column_name, suggested_value, kind, reviewed_at FROM feedback_status "
        "WHERE status = 'accepted'"
    ).fetchall()
    taken: dict[tuple[str, str, str | None], tuple[int, str | None, Any]] = {}
    for fid, ds, key, col, value, kind, at in accepted:
        if action_of(kind, value) in ("relabel", "set") and fid not in ids:
            taken[(ds, key, col)] = (fid, value, at)
    submitted = dict(
        con.execute(
            f"SELECT feedback_id, submitted_at FROM feedback WHERE feedback_id IN ({', '.join('?' * len(ids))})", ids
        ).fetchall()
    )
    superseded: list[tuple[int, int]] = []
    for fid in ids:
        ds, key, col, value, kind = found[fid]
        if action_of(kind, value) not in ("relabel", "set"):
            continue
        other = taken.get((ds, key, col))
        if other and other[1] != value:
            if other[2] is not None and submitted[fid] > other[2]:
                superseded.append((other[0], fid))
            else:
                raise FeedbackError(
                    f"feedback {fid} sets `{col}` of row `{key}` to `{value}`, but accepted feedback {other[0]} sets it to "
                    f"`{other[1]}`; reject {other[0]} first (a finding submitted after {other[0]} was accepted "
                    "supersedes it). Nothing was recorded"
                )
        taken[(ds, key, col)] = (fid, value, None)
    return superseded


# ---------------------------------------------------------------- model runs


def register_model_run(
    warehouse: Warehouse,
    *,
    model: str,
    ref: str,
    metrics: dict[str, float],
    by: str,
    demand: str | None = None,
    params: dict[str, Any] | None = None,
    kind: str = "external",
    notes: str = "",
    split: str = "test",
    extra: list[tuple[str, str, float]] = (),  # type: ignore[assignment]
) -> str:
    """Record that `model` was trained on `dataset@version` and how it scored. Returns the run id.

    `extra` holds further (metric, split, value) figures, e.g. trial training's cross-validation spread.

    Raises:
        FeedbackError: no metrics, a metric that is not a finite number, or an unknown demand.
        NotFoundError: the dataset or version does not exist.
    """
    if not model.strip() or not by.strip():
        raise FeedbackError("a model run needs a model name and who registers it (--by)")
    if not metrics:
        raise FeedbackError("a model run needs at least one metric (--metric name=value)")
    bad = [k for k, v in metrics.items() if not isinstance(v, int | float) or not math.isfinite(v)]
    if bad:
        raise FeedbackError(f"metrics {bad} are not finite numbers")
    with writer(warehouse) as con:
        name, version = resolve_ref(con, ref)
        split_hash = None
        if demand is not None:
            row = con.execute("SELECT dataset FROM demands WHERE demand = ?", [demand]).fetchone()
            if row is None or row[0] != name:
                known = [r[0] for r in con.execute("SELECT demand FROM demands WHERE dataset = ?", [name]).fetchall()]
                raise FeedbackError(f"`{name}` has no demand `{demand}` (demands: {', '.join(known) or 'none'})")
            h = con.execute(
                "SELECT any_value(split_hash) FROM splits WHERE dataset = ? AND version = ? AND demand = ?",
                [name, version, demand],
            ).fetchone()
            split_hash = h[0] if h else None
        run_id = uuid.uuid4().hex[:16]
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "INSERT INTO model_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, model, name, version, demand, split_hash, kind, json.dumps(params or {}, default=str), by, _now(), notes],
        )
        con.executemany(
            "INSERT INTO model_metrics VALUES (?, ?, ?, ?)",
            [[run_id, k, split, float(v)] for k, v in metrics.items()] + [[run_id, k, s, float(v)] for k, s, v in extra],
        )
        from pipelines.governance.audit import record

        record(con, actor=by, action="model_register", object=f"{name}@{version}", decision=kind,
               detail={"run_id": run_id, "model": model, "demand": demand, "metrics": metrics})  # fmt: skip
        con.execute("COMMIT")
    return run_id


def read_findings(path: Path) -> list[dict[str, Any]]:
    """Findings from a CSV or Parquet file, as dicts (empty cells are None)."""
    import polars as pl

    if not path.is_file():
        raise FeedbackError(f"`{path}` does not exist")
    try:
        # CSV cells are read as text: values are checked, not guessed
        df = pl.read_parquet(path) if path.suffix.lower() == ".parquet" else pl.read_csv(path, infer_schema_length=0)
    except Exception as e:  # any reader failure: report it against the file
        raise FeedbackError(f"`{path}`: cannot read findings: {e}") from None
    return df.to_dicts()


# Names of the public API (`pipelines.submit_feedback`, `pipelines.review_feedback`).
submit_feedback = submit
review_feedback = review
