"""The Great Expectations worker process: the same suite, results and pages as in this process; failures fall back here."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.errors import SpecError, SpecIssue
from pipelines.quality import ge_worker
from pipelines.spec.loader import load_project
from pipelines.stages import ingest, validate
from pipelines.warehouse import Warehouse
from tests.conftest import copy_project

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One worker for this module's tests (as `moshu run` starts one), ended after them; the project it serves."""
    project = copy_project(tmp_path_factory.mktemp("worker") / "project")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ge_worker, "_allowed", True)
        mp.setattr(ge_worker, "_end_after_validation", False)
        ge_worker.start(project)
        assert ge_worker.started()
        yield project
        ge_worker.stop()


def _validated(project_dir: Path, wh: Path, name: str) -> tuple[dict, dict, dict, str]:
    loaded = load_project(project_dir).datasets[name]
    val = validate(loaded, ingest(loaded, project_dir, Warehouse(wh)))
    assert val.ge_suite is not None and val.ge_result is not None and val.data_docs is not None
    outcomes = {o.rule_id: o.as_dict() for o in val.outcomes}
    result = json.loads(val.ge_result.read_text())
    for r in result["results"]:  # GE gives the expectations it validates a fresh random id on every run
        r["expectation_config"].pop("id", None)
    page = UUID.sub("#", val.data_docs.read_text().replace(val.ingested.run_id, "<run>"))  # and each page element
    return json.loads(val.ge_suite.read_text()), result, outcomes, page


def test_the_worker_gives_the_suite_results_and_outcomes_of_this_process(
    worker: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_worker = _validated(worker, tmp_path / "a", "cnc_line")  # row_count and time_coverage run in GE's SQL engine
    monkeypatch.setattr(ge_worker, "_pool", None)  # as without a worker
    here = _validated(worker, tmp_path / "b", "cnc_line")
    assert with_worker == here
    suite, result, outcomes, page = with_worker
    assert "cnc_line" in page and "<run>" in page  # the Data Docs page, rendered in the same call
    by_engine = {e["meta"]["rule_id"]: e["meta"]["executed_by"] for e in suite["expectations"]}
    assert by_engine["cnc.row_count"] == by_engine["cnc.ts.coverage"] == "great_expectations"
    assert result["meta"]["engines"]["pandera"] > 0 and outcomes["cnc.row_count"]["passed"]


@pytest.mark.slow  # starts a worker of its own (the import costs seconds on the other core)
def test_the_worker_ends_after_the_last_validation_of_a_run(
    worker: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`moshu run` marks its last dataset's validation: the worker's memory is returned before publishing."""
    monkeypatch.setattr(ge_worker, "_pool", None)  # this module's worker aside: one of this test's own
    monkeypatch.setattr(ge_worker, "_warmed", None)
    monkeypatch.setattr(ge_worker, "_allowed", True)
    ge_worker.start(worker)
    ge_worker.end_after_validation(False)
    _validated(worker, tmp_path / "a", "steel_plates_faults")
    assert ge_worker.started()  # another dataset follows
    ge_worker.end_after_validation(True)
    _validated(worker, tmp_path / "b", "steel_plates_faults")
    assert not ge_worker.started()
    ge_worker.end_after_validation(False)


def _spec_error() -> None:
    raise SpecError([SpecIssue("quality_rules/x.yaml", 3, None, "x.rule", "a message that names the fix")])


def test_an_error_in_the_worker_is_raised_here_with_its_own_type_and_message(worker: Path) -> None:
    with pytest.raises(SpecError, match="a message that names the fix"):
        ge_worker.call(_spec_error)


def test_without_a_worker_calls_run_here_and_start_needs_the_command_to_allow_it(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ge_worker, "_pool", None)  # this module's worker aside
    monkeypatch.setattr(ge_worker, "_allowed", False)
    assert not ge_worker.started()
    ge_worker.start(project_dir)  # not allowed: a test runner's or a caller's process never spawns one
    assert not ge_worker.started()
    assert ge_worker.call(_pid) == os.getpid()


def test_stop_ends_a_worker_that_is_still_importing(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ge_worker, "_pool", None)  # this module's worker aside
    monkeypatch.setattr(ge_worker, "_warmed", None)
    monkeypatch.setattr(ge_worker, "_allowed", True)
    ge_worker.start(project_dir)
    pool = ge_worker._pool
    assert pool is not None
    processes = list(pool._processes.values())  # type: ignore[attr-defined]
    ge_worker.stop()  # at once: the import takes seconds
    assert not ge_worker.started()
    assert processes and all(p.exitcode is not None for p in processes)


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_stop_while_waiting_for_the_worker_stops_the_run_and_is_not_redone_here(worker: Path) -> None:
    """SIGTERM while the command waits for the worker raises `RunCancelled`; the call is not made again in-process."""
    from pipelines import cancel
    from pipelines.errors import RunCancelled

    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    with pytest.raises(RunCancelled, match="SIGTERM"), cancel.stop_on_signals(hard_stop=lambda signum: None):
        timer.start()
        ge_worker.call(_sleep, 4.0)
    assert time.monotonic() - started < 3.5  # not the 4 s of the call, nor 8 s of a second one here
    assert cancel.requested() == signal.SIGTERM
    with cancel.stop_on_signals(hard_stop=lambda signum: None):
        pass  # entering the block forgets the stop: the next tests run as a new command would
    assert cancel.requested() is None


def test_stop_ends_a_worker_that_is_still_working(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped run does not wait for the validation its worker is doing."""
    monkeypatch.setattr(ge_worker, "_pool", None)  # this module's worker aside: one of this test's own
    monkeypatch.setattr(ge_worker, "_warmed", None)
    monkeypatch.setattr(ge_worker, "_calls", [])
    monkeypatch.setattr(ge_worker, "_allowed", True)
    ge_worker.start(project_dir)
    working = ge_worker.submit(_sleep, 60.0)
    assert working._future is not None
    time.sleep(0.5)
    started = time.monotonic()
    ge_worker.stop()
    assert time.monotonic() - started < 30  # terminated, not waited for (the call would take a minute)
    assert not ge_worker.started() and working._future.done()


def _pid() -> int:
    return os.getpid()


def test_a_killed_worker_leaves_the_call_to_this_process(worker: Path) -> None:  # last: it ends the module's worker
    pid = ge_worker.call(_pid)
    assert pid != os.getpid()  # it ran in the worker
    os.kill(pid, signal.SIGKILL)
    assert ge_worker.call(_pid) == os.getpid()  # the broken worker is noticed; the call is made here
    assert ge_worker.submit(_pid).result() == os.getpid()


_KILLED_PARENT = """
import os, signal, sys
from pathlib import Path
from pipelines.quality import ge_worker

if __name__ == "__main__":
    ge_worker.allow()
    ge_worker.start(Path(sys.argv[1]))
    print(ge_worker.call(os.getpid), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no `stop()`, no exit handler: as a command killed outright
"""


@pytest.mark.slow  # starts a worker of its own (the import costs seconds on the other core)
def test_a_worker_whose_command_is_killed_ends_too(tmp_path: Path, project_dir: Path) -> None:
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_PARENT, encoding="utf-8")
    out = tmp_path / "out.txt"
    with out.open("w") as f:  # a file, not a pipe: an orphan worker would hold a pipe open
        res = subprocess.run([sys.executable, str(script), str(project_dir)], stdout=f, stderr=f, timeout=120)
    assert res.returncode == -signal.SIGKILL, out.read_text()
    pid = int(out.read_text().split()[0])
    assert pid != os.getpid()
    for _ in range(300):  # the worker notices its parent's end at once; allow for a loaded machine
        if not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"the worker {pid} outlived the command that started it")


_LOCK_HOLDER = """
import multiprocessing, time

def hold() -> None:
    lock = multiprocessing.Lock()  # registered with the parent's resource tracker, never released: terminated below
    time.sleep(60)
"""

_STOPPED_EARLY = """
import os, sys, time
from pathlib import Path
from pipelines.quality import ge_worker

if __name__ == "__main__":
    import holder
    ge_worker.allow()
    ge_worker.start(None)
    ge_worker.submit(holder.hold)
    time.sleep(8)  # the worker imports, then makes its lock
    ge_worker.stop()  # busy: terminated, as for a run stopped or failed early
    sys.stderr.flush()
    os._exit(0)
"""


@pytest.mark.slow  # starts a worker of its own
def test_a_worker_ended_while_working_leaves_no_noise_on_stderr(tmp_path: Path) -> None:
    """multiprocessing's resource tracker removes what a terminated worker left, without warning on stderr."""
    (tmp_path / "holder.py").write_text(_LOCK_HOLDER, encoding="utf-8")
    (tmp_path / "stopped.py").write_text(_STOPPED_EARLY, encoding="utf-8")
    res = subprocess.run([sys.executable, "stopped.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "resource_tracker" not in res.stderr and "leaked" not in res.stderr, res.stderr
