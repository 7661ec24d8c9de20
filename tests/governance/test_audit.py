"""The audit log: rows are appended with a hash chain, and editing, deleting or re-hashing a row is caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.catalog.db import writer
from pipelines.errors import IntegrityError
from pipelines.governance import audit
from pipelines.governance.audit import chain_problems, current_actor, record, row_hash
from pipelines.warehouse import Warehouse

COLUMNS = 'seq, "logged_at", actor, role, action, object, decision, detail, prev_hash, hash'


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    """A real, migrated catalog holding three audit rows written in one connection."""
    w = Warehouse(tmp_path / "warehouse")
    with writer(w) as con:
        con.execute("BEGIN TRANSACTION")
        seqs = [
            record(con, actor="moshu", action="publish", object="ai4i2020@1", decision="published", detail={"b": 2, "a": 1}),
            record(con, actor="alice", action="query", object="ai4i2020@1", decision="allowed", role="model_team"),
            record(con, actor="bob", action="feedback_review", object="feedback#7", decision="accepted", detail={"why": "ok"}),
        ]
        con.execute("COMMIT")
    assert seqs == [1, 2, 3]
    return w


def _rows(w: Warehouse) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(w.catalog_path), read_only=True) as con:
        return con.execute(f"SELECT {COLUMNS} FROM audit_log ORDER BY seq").fetchall()


def _problems(w: Warehouse) -> list[str]:
    with duckdb.connect(str(w.catalog_path), read_only=True) as con:
        return chain_problems(con)


def _tamper(w: Warehouse, sql: str, params: list[object]) -> None:
    """What someone with write access to the catalog file could do."""
    with writer(w) as con:
        con.execute(sql, params)


def test_rows_are_chained_and_the_chain_verifies(wh: Warehouse) -> None:
    rows = _rows(wh)
    assert [r[0] for r in rows] == [1, 2, 3]
    assert rows[0][8] is None  # the first row has no previous hash
    assert rows[1][8] == rows[0][9] and rows[2][8] == rows[1][9]
    assert all(r[9] == row_hash(*r[:9]) for r in rows)
    assert rows[0][7] == '{"a": 1, "b": 2}' and json.loads(rows[0][7]) == {"a": 1, "b": 2}  # sorted keys
    assert rows[1][3] == "model_team" and rows[1][7] is None
    assert _problems(wh) == []


def test_appending_in_a_later_connection_continues_the_chain(wh: Warehouse) -> None:
    with writer(wh) as con:
        assert record(con, actor="carol", action="verify", decision="ok") == 4
    rows = _rows(wh)
    assert rows[3][8] == rows[2][9]
    assert _problems(wh) == []


def test_an_edited_row_is_caught_naming_its_seq(wh: Warehouse) -> None:
    _tamper(wh, "UPDATE audit_log SET detail = ? WHERE seq = 2", ['{"note": "nothing to see"}'])
    problems = _problems(wh)
    assert len(problems) == 1, problems
    assert "seq 2 was edited" in problems[0]


def test_an_edited_and_rehashed_row_breaks_the_next_link(wh: Warehouse) -> None:
    r = _rows(wh)[0]
    forged = (*r[:6], "rejected", *r[7:9])
    _tamper(wh, "UPDATE audit_log SET decision = 'rejected', hash = ? WHERE seq = 1", [row_hash(*forged)])
    problems = _problems(wh)
    assert len(problems) == 1, problems
    assert "seq 2: prev_hash" in problems[0] and "seq 1" in problems[0]


def test_a_deleted_middle_row_is_caught(wh: Warehouse) -> None:
    _tamper(wh, "DELETE FROM audit_log WHERE seq = ?", [2])
    problems = _problems(wh)
    assert len(problems) == 1, problems
    assert "seq 2 is missing" in problems[0]


def test_a_deleted_first_row_is_caught(wh: Warehouse) -> None:
    _tamper(wh, "DELETE FROM audit_log WHERE seq = ?", [1])
    assert any("seq 1 is missing" in p for p in _problems(wh))


def test_unknown_action_and_empty_actor_are_refused(wh: Warehouse) -> None:
    with writer(wh) as con:
        with pytest.raises(IntegrityError, match="not one of"):
            record(con, actor="moshu", action="delete_everything")
        with pytest.raises(IntegrityError, match="actor"):
            record(con, actor=" ", action="query")
    assert len(_rows(wh)) == 3


def test_current_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOSHU_ACTOR", "cdo@plant-3")
    assert current_actor() == "cdo@plant-3"
    monkeypatch.delenv("MOSHU_ACTOR")
    monkeypatch.setattr(audit.getpass, "getuser", lambda: "operator")
    assert current_actor() == "operator"

    def no_login() -> str:
        raise OSError("no login name")

    monkeypatch.setattr(audit.getpass, "getuser", no_login)
    assert current_actor() == "unknown"
