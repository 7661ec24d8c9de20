"""Great Expectations in a process of its own, started when a run begins, so that importing it overlaps the run's work.

Importing Great Expectations 1.x takes seconds of CPU (it loads SciPy, SQLAlchemy, Altair and pandas), and a run
needs it only once its rows are validated. `moshu run` calls `start()` before anything else; the one worker
process imports Great Expectations on the other core while the parent loads the project, starts Dagster, stages
the raw files and runs pandera. `call()` then runs the Great Expectations share (the suite, the dataset-level
rules, Data Docs) in that worker, or in this process when no worker was started (a plain `pytest` of a stage, a
Dagster step in its own process).

A call that fails in the worker is run again in this process, so that its error is raised with its own type and
message (an exception does not always survive the trip back between processes); a failure is rare and the second
attempt pays only the import the worker would have saved.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import connection, util
from pathlib import Path
from typing import Any, Generic, TypeVar

from pipelines import cancel
from pipelines.errors import RunCancelled

T = TypeVar("T")
log = logging.getLogger(__name__)

_pool: ProcessPoolExecutor | None = None
_warmed: Future[None] | None = None
_calls: list[Future[Any]] = []  # the calls handed to the worker, for `stop()` to know whether it is busy
_allowed = False
_QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"
_end_after_validation = False


def _warm(project_root: str | None) -> None:
    """The worker's start: import Great Expectations, moshu's expectations and the project's own rule kinds.

    The worker ends as the `moshu` command does, without the interpreter's teardown (see `pipelines.cli.main`): its
    last exit handler, after multiprocessing's own, flushes the output and exits.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the command stops the run
    util.Finalize(None, _exit_now, exitpriority=-100)
    parent = multiprocessing.parent_process()
    if parent is not None:  # a command killed outright (SIGKILL, out of memory) leaves no orphan behind
        threading.Thread(target=_exit_with, args=(parent.sentinel,), name="moshu-parent-watch", daemon=True).start()
    from pipelines.quality.ge_engine import _prepare_ge
    from pipelines.report import data_docs  # noqa: F401  (its imports, ahead of the first page)

    _prepare_ge()
    if project_root is not None:
        from pipelines.spec.loader import load_project_kinds

        load_project_kinds(Path(project_root))


def allow() -> None:
    """Let `start()` start a worker: called by the `moshu` command's entry point only.

    A spawned process imports the parent's main module again; moshu's entry points guard theirs, a caller's script
    (or a test runner invoking the command in its own process) may not, so those run everything in-process.
    """
    global _allowed
    _allowed = True


def _exit_with(sentinel: int) -> None:
    """Wait for the parent process to end, then end this worker (its queue would otherwise wait forever)."""
    connection.wait([sentinel])
    os._exit(1)


def _exit_now() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def start(project_root: Path | None) -> None:
    """Start the worker (once per process, if `allow()`ed); it begins importing Great Expectations at once."""
    global _pool, _warmed
    if _pool is None and _allowed:
        # A worker terminated mid-import (a run that failed or was stopped early) leaves the semaphores it made to
        # multiprocessing's resource tracker, which removes them and warns on stderr; the removal is all that is needed.
        if _QUIET_TRACKER not in sys.warnoptions:
            sys.warnoptions.append(_QUIET_TRACKER)  # passed as -W to the tracker process when it starts
        _pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),  # never fork a process that runs polars' and Dagster's threads
            initializer=_warm,
            initargs=(str(project_root) if project_root else None,),
        )
        _warmed = _pool.submit(_ready)  # the executor starts its process on the first submit


def _ready() -> None:
    """Nothing: submitted at the start so that the worker's process starts at once."""


def stop() -> None:
    """End the worker, whatever it is doing (it holds no state a run needs once the run is over).

    An idle worker exits on its own; one still importing, or still working for a run that was stopped, is
    terminated, so that a stop never waits for a validation to finish.
    """
    global _pool, _warmed, _end_after_validation
    _end_after_validation = False
    if _pool is None:
        return
    busy = any(not f.done() for f in _calls) or (_warmed is not None and not _warmed.done())
    processes = list((getattr(_pool, "_processes", None) or {}).values())  # the executor has no public terminate
    if busy:  # importing for a run that did not need it, or working for a run that was stopped: end it now
        for p in processes:
            p.terminate()
    _pool.shutdown(wait=not busy, cancel_futures=True)  # an idle worker exits on its own, its finalisers run
    for p in processes:
        p.join()
    _pool = _warmed = None
    _calls.clear()
    gc.collect()  # the executor's queues release their semaphores now, not at an exit that skips finalisers


def end_after_validation(end: bool = True) -> None:
    """Say whether the next validation is the run's last use of the worker; if so, `validation_done()` ends it, so
    that its memory is returned before the publish step's own peak (set by `moshu run` before each dataset)."""
    global _end_after_validation
    _end_after_validation = end


def validation_done() -> None:
    """Called after a validation's Great Expectations share: ends the worker if that was its last use."""
    global _end_after_validation
    if _end_after_validation:
        _end_after_validation = False  # said for one validation only
        stop()


def started() -> bool:
    """Whether this process has a worker."""
    return _pool is not None


class Pending(Generic[T]):
    """A call handed to the worker (or, without one, made at `result()`)."""

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        self._fn, self._args = fn, args
        self._future: Future[T] | None = None
        if _pool is not None:
            try:
                self._future = _pool.submit(fn, *args)
                _calls.append(self._future)
            except Exception as e:
                log.debug("the Great Expectations worker is gone (%s: %s)", type(e).__name__, e)

    def result(self) -> T:
        """The call's value; a call that failed in the worker is made again here, so its error keeps its type.

        Raises:
            RunCancelled: the run was asked to stop (SIGTERM or SIGINT) while this process waited, or before the
                call could be made here instead.
        """
        if self._future is not None:
            try:
                return self._future.result()
            except RunCancelled:  # raised in this thread by the stop handler (`pipelines.cancel`) while it waited
                raise
            except Exception as e:
                log.debug("the worker's %s failed (%s: %s); running it here", self._fn.__name__, type(e).__name__, e)
            cancel.check()  # a stop asked meanwhile (the worker may have died of the same Ctrl-C): stop, not redo
        return self._fn(*self._args)


def submit(fn: Callable[..., T], /, *args: Any) -> Pending[T]:
    """Hand `fn(*args)` to the worker when there is one (`fn` must be a module-level function); `.result()` waits."""
    return Pending(fn, args)


def call(fn: Callable[..., T], /, *args: Any, meanwhile: Callable[[], object] | None = None) -> T:
    """`fn(*args)` in the worker when there is one, else here.

    `meanwhile` runs here while the worker works (only when there is a worker): what this process would do next
    anyway and can do before the result, such as importing the modules of the steps that follow.
    """
    pending = submit(fn, *args)
    if meanwhile is not None and pending._future is not None:
        meanwhile()
    return pending.result()
