"""The audit log: an append-only, hash-chained table of who did what, when (catalog table `audit_log`).

Every row's hash is the sha256 of a canonical JSON of its fields and of the previous row's hash, so
editing a row breaks its own hash, deleting one leaves a gap in `seq`, and re-hashing an edited row
breaks the next row's `prev_hash`. `chain_problems` finds all three.

Example:
    >>> with writer(warehouse) as con:                                                  # doctest: +SKIP
    ...     record(con, actor=current_actor(), action="publish", object="ai4i2020@2", decision="published")
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from pipelines.errors import CatalogError, IntegrityError, MoshuError
from pipelines.warehouse import Warehouse

__all__ = ["ACTIONS", "chain_problems", "current_actor", "record", "row_hash"]

ACTIONS = ("publish", "gate", "feedback_submit", "feedback_review", "model_register", "query", "verify", "policy_apply")

# The hashed columns, in table order (`logged_at`: `at` is a reserved word in DuckDB's grammar).
_HASHED = ("seq", "logged_at", "actor", "role", "action", "object", "decision", "detail", "prev_hash")
_SELECT = "SELECT " + ", ".join(f'"{c}"' for c in (*_HASHED, "hash")) + " FROM audit_log ORDER BY seq"
_INSERT = "INSERT INTO audit_log (" + ", ".join(f'"{c}"' for c in (*_HASHED, "hash")) + ") VALUES (" + ", ".join("?" * 10) + ")"


def current_actor() -> str:
    """Who is acting: the `MOSHU_ACTOR` environment variable, else the OS login name, else `unknown`."""
    actor = os.environ.get("MOSHU_ACTOR", "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError, ImportError):  # no login name and no passwd entry (e.g. an anonymous container uid)
        return "unknown"


def row_hash(
    seq: int, logged_at: datetime, actor: str, role: str | None, action: str, object: str | None,
    decision: str | None, detail: str | None, prev_hash: str | None,
) -> str:  # fmt: skip
    """sha256 of the canonical JSON of one row's fields (`detail` as its stored JSON text)."""
    fields = {
        "seq": seq, "logged_at": logged_at.isoformat(), "actor": actor, "role": role, "action": action, "object": object,
        "decision": decision, "detail": detail, "prev_hash": prev_hash,
    }  # fmt: skip
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_fields(actor: str, action: str) -> None:
    if action not in ACTIONS:
        raise IntegrityError(f"audit action `{action}` is not one of {', '.join(ACTIONS)}")
    if not actor.strip():
        raise IntegrityError("an audit row needs an actor; set MOSHU_ACTOR or pass actor=")


def _head(con: duckdb.DuckDBPyConnection) -> tuple[int, str | None]:
    """(seq, hash) of the last row, or (0, None) for an empty log."""
    row = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, None) if row is None else (int(row[0]), row[1])


def record(
    con: duckdb.DuckDBPyConnection,
    *,
    actor: str,
    action: str,
    object: str | None = None,
    decision: str | None = None,
    detail: dict[str, Any] | None = None,
    role: str | None = None,
) -> int:
    """Append one row to the audit log, inside the caller's connection and transaction.

    Args:
        con: A read-write catalog connection (`pipelines.catalog.db.writer`), migrated to 0004 or later.
        actor: Who acted: a person, a team or `moshu` (see `current_actor`).
        action: One of `ACTIONS`.
        object: What was acted on, e.g. `ai4i2020@2`.
        decision: The outcome, e.g. `published`, `rejected`, `allowed`, `ok`.
        detail: Anything else, stored as JSON with sorted keys (values JSON cannot hold are stored as text).
        role: The access role, for queries.

    Returns:
        The new row's `seq` (1 for the first row).

    Raises:
        IntegrityError: `action` is not one of `ACTIONS`, or `actor` is empty.
    """
    _check_fields(actor, action)
    last_seq, prev_hash = _head(con)
    seq = last_seq + 1
    now = datetime.now(UTC).replace(tzinfo=None)
    text = None if detail is None else json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str)
    digest = row_hash(seq, now, actor, role, action, object, decision, text, prev_hash)
    con.execute(_INSERT, [seq, now, actor, role, action, object, decision, text, prev_hash, digest])
    return seq


def record_query(
    warehouse: Warehouse, role: str, query: str, decision: str, problem: str | None, policy: dict[str, Any] | None = None
) -> None:
    """Record one policy-checked query in its own transaction (the guarded client and `moshu sql --role`).

    `policy` (the policy's `sha256` and `source`) goes into the row's detail, so every role query names
    the policy it was checked against.

    Raises:
        CatalogError: the record could not be written; the caller must not answer the query.
    """
    from pipelines.catalog.db import writer

    detail: dict[str, Any] = {"query": query[:2000], **({"reason": problem[:500]} if problem else {})}
    if policy is not None:
        detail["policy"] = policy
    try:
        with writer(warehouse) as con:
            record(con, actor=current_actor(), role=role, action="query", decision=decision, detail=detail)
    except MoshuError as e:
        raise CatalogError(f"the query could not be recorded in the audit log, so it is not answered: {e}") from e


def _missing(first: int, last: int) -> str:
    return f"audit row seq {first} is" if first == last else f"audit rows seq {first} to {last} are"


def _row_problems(row: Sequence[Any], prev: Sequence[Any] | None) -> list[str]:
    """Problems of one row given the row before it (None for the first row)."""
    seq, prev_hash, stored = row[0], row[8], row[9]
    out = []
    if prev is None and seq != 1:
        out.append(f"{_missing(1, seq - 1)} missing (deleted): the log starts at seq {seq}")
    elif prev is not None and seq != prev[0] + 1:
        out.append(f"{_missing(prev[0] + 1, seq - 1)} missing (deleted) between seq {prev[0]} and seq {seq}")
    elif prev is None and prev_hash is not None:
        out.append(f"audit row seq 1 has prev_hash {prev_hash} but the first row's must be empty")
    elif prev is not None and prev_hash != prev[9]:
        out.append(
            f"audit row seq {seq}: prev_hash {prev_hash} does not match the hash {prev[9]} of seq {prev[0]} "
            f"(seq {prev[0]} was edited and re-hashed, or rows were inserted)"
        )
    if row_hash(*row[:9]) != stored:
        out.append(f"audit row seq {seq} was edited: its stored hash {stored} does not match its fields")
    return out


def chain_problems(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Recompute the audit log's hash chain in `seq` order; one sentence per broken link, naming its seq.

    Finds edited rows (hash differs from the fields), deleted rows (gaps in `seq`) and re-hashed or
    inserted rows (`prev_hash` differs from the previous row's hash). Rows removed from the end of the
    log, or a re-hashed last row, leave no trace in the chain itself.

    Args:
        con: Any connection to the catalog, read-only is enough.

    Returns:
        Human sentences, empty when the chain is intact.
    """
    problems: list[str] = []
    prev: Sequence[Any] | None = None
    for row in con.execute(_SELECT).fetchall():
        problems += _row_problems(row, prev)
        prev = row
    return problems
