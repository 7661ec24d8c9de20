"""Stop a run when asked: SIGTERM or SIGINT end it within seconds, remove its staging folders, record it `cancelled`.

Python runs a signal handler only when the main thread is back in the interpreter, which a long
native call (polars, DuckDB, Great Expectations' SQL) can delay for minutes; Dagster also puts its
own handlers in place while it executes. So the signal is caught at the C level too: the wakeup file
descriptor of the `signal` module wakes a watcher thread at once, which marks the stop as requested,
interrupts the DuckDB connections in use and gives the main thread `grace_s` seconds to unwind (each
step checks `check()` as it starts). If the main thread is still inside a native call by then, the
watcher removes the staging folders, records the runs as `cancelled` and ends the process itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.errors import RunCancelled
from pipelines.warehouse import Warehouse

SIGNALS = (signal.SIGTERM, signal.SIGINT)
GRACE_S = 10.0

_requested = threading.Event()
_signal: dict[str, int] = {}
_connections: set[Any] = set()
_runs: list[Run] = []
_lock = threading.Lock()


@dataclass(frozen=True)
class Run:
    """One dataset's run in progress: what to remove and record if it is stopped."""

    warehouse: Warehouse
    dataset: str
    run_id: str
    orchestrator: str
    started_at: str


def requested() -> int | None:
    """The signal that asked the run to stop, or None."""
    return _signal.get("signum") if _requested.is_set() else None


def check() -> None:
    """Raise `RunCancelled` when a stop was asked (called as each step starts)."""
    signum = requested()
    if signum is not None:
        raise RunCancelled(f"stopped by {signal.Signals(signum).name}")


def started(warehouse: Warehouse, dataset: str, run_id: str, orchestrator: str) -> None:
    """Note a dataset run as in progress (its staging folder is removed and its run recorded if it is stopped)."""
    with _lock:
        _runs.append(Run(warehouse, dataset, run_id, orchestrator, datetime.now(UTC).isoformat(timespec="seconds")))


def finished(run_id: str) -> None:
    """Note a dataset run as over (a later stop no longer touches it)."""
    with _lock:
        _runs[:] = [r for r in _runs if r.run_id != run_id]


@contextmanager
def interruptible(con: Any) -> Iterator[Any]:
    """Within the block, a stop request interrupts the DuckDB connection `con` (its running query fails)."""
    with _lock:
        _connections.add(con)
    try:
        yield con
    finally:
        with _lock:
            _connections.discard(con)


def take_runs() -> list[Run]:
    """The runs in progress, forgotten here (the caller removes their staging folders and records them)."""
    with _lock:
        runs = list(_runs)
        _runs.clear()
    return runs


def _watch(read_fd: int, done: threading.Event, grace_s: float, hard_stop: Callable[[int], None]) -> None:
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:
            return
        if not data or done.is_set():
            return
        hits = [b for b in data if b in SIGNALS]
        if not hits:
            continue
        _signal.setdefault("signum", hits[0])
        _requested.set()
        with _lock:
            cons = list(_connections)
        for con in cons:
            with contextlib.suppress(Exception):  # the connection may be closing; nothing to interrupt then
                con.interrupt()
        if done.wait(grace_s):
            return
        signum = _signal["signum"]
        logging.getLogger(__name__).warning("the run did not stop within %.0f s; ending it", grace_s)
        hard_stop(signum)
        os._exit(128 + signum)


def _raise(signum: int, frame: Any) -> None:
    _signal.setdefault("signum", signum)
    _requested.set()
    raise RunCancelled(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def stop_on_signals(hard_stop: Callable[[int], None], grace_s: float = GRACE_S) -> Iterator[None]:
    """Within the block (entered on the main thread), SIGTERM and SIGINT stop the run (see the module docstring).

    `hard_stop(signum)` is what the watcher does before ending the process when the main thread does
    not return within `grace_s` (`pipelines.runner.stop_runs`: remove staging folders, record `cancelled`).

    The caller checks `requested()` after the block: a stopped run may end with `RunCancelled`, with
    Dagster's own interruption error, or with its steps failed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    _signal.clear()
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    old_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    old = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _raise)
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(read_fd, done, grace_s, hard_stop), name="moshu-stop", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        for s, h in old.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_fd)
        os.close(write_fd)  # ends the watcher's read
        watcher.join(timeout=1)
        os.close(read_fd)
