"""`moshu run` stops when asked: SIGTERM mid-run leaves no staging folder and a `cancelled` run in the catalog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import cancel


def _slow_ai4i(project: Path, copies: int = 40) -> None:
    """The AI4I seed repeated `copies` times with fresh ids (400,000 rows): long enough to be stopped mid-run."""
    seed = project / "seeds" / "ai4i2020" / "ai4i2020.csv"
    df = pl.read_csv(seed)
    big = pl.concat([df] * copies).with_columns(pl.int_range(1, pl.len() + 1).alias("UDI"))
    big.write_csv(seed)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_run_cleans_staging_and_records_it_cancelled(
    project_dir: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    _slow_ai4i(project_dir)
    wh = tmp_path / "wh"
    cmd = [sys.executable, "-m", "pipelines.cli", "run", "ai4i2020", "--project", str(project_dir), "--warehouse", str(wh)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    staging = wh / "_staging" / "ai4i2020"
    try:
        for _ in range(1200):  # wait until the run has started ingesting (its staging folder exists)
            if (staging.is_dir() and any(staging.iterdir())) or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before it could be stopped"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err
    assert f"stopped by {signal.Signals(signum).name}" in err
    assert not staging.exists() or not any(staging.iterdir()), "the run's staging folder is removed"
    assert not (wh / "datasets" / "ai4i2020").exists() or not any((wh / "datasets" / "ai4i2020").glob("v*"))
    con = duckdb.connect(str(wh / "catalog.duckdb"), read_only=True)
    runs = con.execute("select name, status, message from runs").fetchall()
    con.close()
    assert [(n, s) for n, s, _ in runs] == [("ai4i2020", "cancelled")] and "stopped by" in runs[0][2]


def test_check_raises_only_once_a_stop_is_requested() -> None:
    with cancel.stop_on_signals(hard_stop=lambda signum: None):
        cancel.check()  # nothing asked
        assert cancel.requested() is None


_STUCK = """
import signal, time
from pipelines import cancel
with cancel.stop_on_signals(hard_stop=lambda s: print("hard stop", s, flush=True), grace_s=0.5):
    # as under Dagster, whose handler only notes the signal, with the main thread in a call that does not return
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    print("ready", flush=True)
    time.sleep(120)
"""


def test_a_main_thread_stuck_in_a_native_call_is_stopped_by_the_watcher() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _STUCK], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert out.strip() == f"hard stop {int(signal.SIGTERM)}", "the watcher cleaned up and ended the process"
