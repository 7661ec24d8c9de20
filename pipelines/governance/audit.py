"""The audit log: an append-only, hash-chained table of who did what, when (catalog table `audit_log`).

Every row's hash is the sha256 of a canonical JSON of its fields and of the previous row's hash, so
editing a row breaks its own hash, deleting one leaves a gap in `seq`, and re-hashing an edited row
breaks the next row's `prev_hash`. `chain_problems` finds all three.

Rows removed from the end leave no trace in the chain, so every append also seals the new last row
(`seq` and `hash`) in a small file beside the catalog, outside the catalog file
(`catalog.duckdb.audit-tail.json`).
An append that finds the log no longer ending where the file says keeps that mismatch in the file
(`gaps`), so a later append cannot launder a deletion. `tail_problems` compares the two.

Example:
    >>> with writer(warehouse) as con:                                                  # doctest: +SKIP
    ...     record(con, actor=current_actor(), action="publish", object="ai4i2020@2", decision="published")
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.errors import CatalogError, IntegrityError, MoshuError
from pipelines.warehouse import CATALOG_FILE, Warehouse

__all__ = ["ACTIONS", "TAIL_FILE", "chain_problems", "current_actor", "record", "reseal", "row_hash", "tail_problems"]

TAIL_FILE = f"{CATALOG_FILE}.audit-tail.json"  # beside the catalog: its last row's seq and hash, rewritten at each append
ACTIONS = (
    "publish", "gate", "feedback_submit", "feedback_review", "model_register", "query", "verify", "policy_apply", "migrate",
    "catalog_rebuild",
)  # fmt: skip

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
    _seal(con, (last_seq, prev_hash), (seq, digest), now)
    return seq


def _tail_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The tail file beside the catalog file `con` writes to; None for an in-memory catalog."""
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    if not row or not row[0]:
        return None
    db = Path(row[0])
    return db.with_name(f"{db.name}.audit-tail.json")  # `TAIL_FILE` beside `catalog.duckdb`


def _has_seal_table(con: duckdb.DuckDBPyConnection) -> bool:
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'audit_seal' AND table_catalog = current_database()"
    row = con.execute(sql).fetchone()
    return bool(row and row[0])


def _read_tail(path: Path) -> dict[str, Any] | None:
    """The sealed tail, None when there is no file; a file that does not parse is a `ValueError`."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("seq"), int):
        raise ValueError(f"`{path.name}` should be a JSON object with `seq` and `hash`")
    return data


def _seal(con: duckdb.DuckDBPyConnection, before: tuple[int, str | None], after: tuple[int, str], now: datetime) -> None:
    """Rewrite the sealed tail to `after`; a tail that was not `before` (the head this append followed) is kept as a gap.
    The first seal of a folder is also recorded in the catalog (`audit_seal`), so a deleted tail file is noticed."""
    path = _tail_path(con)
    if path is None:
        return
    try:
        old = _read_tail(path)
    except ValueError as e:
        old = {"seq": None, "hash": f"unreadable: {e}"}
    gaps = list(old.get("gaps", [])) if old else []
    if old is not None and (old.get("seq"), old.get("hash")) != before:
        gaps.append(
            {"sealed_seq": old.get("seq"), "sealed_hash": old.get("hash"), "found_seq": before[0], "found_hash": before[1]}
        )
    sealed_before = _has_seal_table(con) and con.execute("SELECT count(*) FROM audit_seal").fetchone() != (0,)
    if old is None and sealed_before:  # the file was deleted: a new one must not hide what it held
        gaps.append({"sealed_seq": None, "sealed_hash": "missing", "found_seq": before[0], "found_hash": before[1]})
    seal_id = str(old.get("seal_id") or "") if old else ""
    if not seal_id and _has_seal_table(con):
        seal_id = uuid.uuid4().hex
        con.execute("INSERT INTO audit_seal VALUES (?, ?, ?)", [seal_id, after[0], now])
    body = {"seq": after[0], "hash": after[1], "seal_id": seal_id or None, **({"gaps": gaps} if gaps else {})}
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def reseal(con: duckdb.DuckDBPyConnection) -> None:
    """Seal the log's current last row as its tail, anew: for a catalog just rebuilt (`moshu catalog rebuild`), whose
    rows came from the audit table and whose tail file, if any, belonged to the catalog it replaced."""
    path = _tail_path(con)
    seq, digest = _head(con)
    if path is None or digest is None:
        return
    seal_id = uuid.uuid4().hex
    if _has_seal_table(con):
        con.execute("DELETE FROM audit_seal")
        con.execute("INSERT INTO audit_seal VALUES (?, ?, ?)", [seal_id, seq, datetime.now(UTC).replace(tzinfo=None)])
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(json.dumps({"seq": seq, "hash": digest, "seal_id": seal_id}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def tail_problems(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[list[str], tuple[int, str] | None]:
    """Compare the audit log's last row with the tail sealed in `path` (see the module docstring).

    Args:
        con: Any connection to the catalog, read-only is enough.
        path: The tail file beside the catalog (`TAIL_FILE`).

    Returns:
        Human sentences (empty when the log ends at its sealed tail), and the sealed (seq, hash).
    """
    seq, _ = _head(con)
    try:
        tail = _read_tail(path)
    except ValueError as e:
        return [f"the sealed audit tail `{path.name}` cannot be read: {e}"], None
    if tail is None:
        seals = con.execute("SELECT min(first_seq) FROM audit_seal").fetchone() if _has_seal_table(con) else None
        if not seals or seals[0] is None:
            return [], None  # never sealed here: written before sealing existed
        return [f"`{path.name}` is missing beside the catalog (deleted): the audit log was sealed there from seq "
                f"{seals[0]} on, so rows removed from its end can no longer be told"], None  # fmt: skip
    out = [
        (
            f"`{path.name}` was missing when seq {(g.get('found_seq') or 0) + 1} was appended (deleted): rows removed "
            "from the end before then cannot be told"
            if g.get("sealed_seq") is None
            else f"the audit log did not end at its sealed tail seq {g.get('sealed_seq')} (hash {g.get('sealed_hash')}) "
            f"when seq {(g.get('found_seq') or 0) + 1} was appended after seq {g.get('found_seq')}: rows were removed "
            "from the end, or a write was rolled back"
        )
        for g in tail.get("gaps", [])
    ]
    sealed = (int(tail["seq"]), str(tail.get("hash")))
    if sealed[0] > seq:
        out.append(f"audit rows after seq {seq} are missing: the sealed tail is seq {sealed[0]} (deleted from the end, "
                   "or the write that added them was rolled back)")  # fmt: skip
    elif sealed[0] < seq:
        out.append(f"audit rows seq {sealed[0] + 1} to {seq} were appended without being sealed (written outside moshu)")
    row = con.execute("SELECT hash FROM audit_log WHERE seq = ?", [sealed[0]]).fetchone()
    if row is not None and row[0] != sealed[1]:
        out.append(f"audit row seq {sealed[0]} is not the one sealed at its append (hash {row[0]}, sealed {sealed[1]})")
    return out, sealed


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
