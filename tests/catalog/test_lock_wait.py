"""Opening the catalog waits while another process writes it, and gives up with DuckDB's own error after the wait."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.catalog.lock_wait import while_locked

_HOLD = "import duckdb, sys, time\ncon = duckdb.connect(sys.argv[1])\nprint('held', flush=True)\ntime.sleep(float(sys.argv[2]))\n"


def _hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_a_reader_waits_for_a_writer_that_lets_go(tmp_path: Path) -> None:
    db = tmp_path / "catalog.duckdb"
    duckdb.connect(str(db)).close()
    writer = _hold(db, 1.0)
    con = while_locked(lambda: duckdb.connect(str(db), read_only=True), wait_s=20)
    assert con.execute("select 42").fetchall() == [(42,)]
    con.close()
    writer.wait()
    writer.stdout.close()  # type: ignore[union-attr]


def test_a_lock_held_past_the_wait_raises_the_lock_error(tmp_path: Path) -> None:
    db = tmp_path / "catalog.duckdb"
    duckdb.connect(str(db)).close()
    writer = _hold(db, 10.0)
    try:
        with pytest.raises(duckdb.IOException, match=r"(?i)lock"):
            while_locked(lambda: duckdb.connect(str(db), read_only=True), wait_s=0.5)
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()  # type: ignore[union-attr]


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    calls = []

    def fail() -> None:
        calls.append(1)
        raise duckdb.IOException("IO Error: Cannot open file: no such file")

    with pytest.raises(duckdb.IOException, match="no such file"):
        while_locked(fail, wait_s=5)
    assert len(calls) == 1
