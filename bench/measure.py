"""Run one command as its own process and measure it: wall time, CPU time and peak resident memory.

The CPU time (user + system) and the peak are the kernel's `ru_utime`, `ru_stime` and `ru_maxrss`
of that child (and of the descendants it waited for), read with `os.wait4`. `ru_maxrss` is the
largest single process's peak, not a sum: for a command that runs helper processes at the same time
(`moshu run` validates with Great Expectations in a worker process), the wrapper also samples every
50 ms the resident memory of the command and all its descendants together, from `/proc`
(`peak_tree_mb`; a spike shorter than the interval can be missed). Linux counts in a
child's peak the memory of the process that forked it (until exec), so the command is started by
this file run as a small wrapper process (standard library only), never by the benchmark driver,
whose imports would otherwise inflate every peak.

    python -I bench/measure.py LOG TIMEOUT_S -- COMMAND...   (prints {"wall_s", "cpu_s", "peak_rss_mb", "returncode"})
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Measured:
    """Outcome of one measured command."""

    wall_s: float
    cpu_s: float  # user + system seconds of the command and the descendants it waited for
    peak_rss_mb: float
    returncode: int
    peak_tree_mb: float | None = None  # sampled sum over the command and its descendants
    log: str = ""  # file holding the command's stdout and stderr

    @property
    def ok(self) -> bool:
        """Whether the command exited with status 0."""
        return self.returncode == 0

    def as_dict(self) -> dict[str, Any]:
        """Plain fields, for JSON."""
        return asdict(self)


def _rss_kb(pid: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and every descendant, summed (one scan of /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_kb(str(pid))
        todo += children.get(pid, [])
    return total


class _TreeSampler(threading.Thread):
    """Samples the summed RSS of a process tree until stopped; `peak_kb` is the largest sum seen."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s, self.peak_kb = pid, every_s, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))


def _run_here(cmd: list[str], log: Path, timeout_s: float) -> dict[str, Any]:
    """Start `cmd` from this process, wait for it with wait4; kill it (status -9) after `timeout_s` (0: never)."""
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        timer = threading.Timer(timeout_s, proc.kill) if timeout_s > 0 else None
        if timer is not None:
            timer.start()
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # blocks: the wall time stays exact
        finally:
            sampler.done.set()
            if timer is not None:
                timer.cancel()
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    cpu = usage.ru_utime + usage.ru_stime
    peak = usage.ru_maxrss / 1024
    tree = max(sampler.peak_kb / 1024, peak)  # the sampler may miss the one process's own peak between two samples
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak, "returncode": proc.returncode, "peak_tree_mb": tree}


def measure(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path, timeout_s: float = 0) -> Measured:
    """Run `cmd` in `cwd` with `env` through the wrapper, output to `log`; return what it measured."""
    log.parent.mkdir(parents=True, exist_ok=True)
    wrapper = [sys.executable, "-I", str(Path(__file__).resolve()), str(log.resolve()), str(timeout_s), "--", *cmd]
    res = subprocess.run(wrapper, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return Measured(**json.loads(res.stdout), log=str(log))


if __name__ == "__main__":
    log_path, timeout, sep, *command = sys.argv[1:]
    assert sep == "--", "usage: measure.py LOG TIMEOUT_S -- COMMAND..."
    print(json.dumps(_run_here(command, Path(log_path), float(timeout))))
