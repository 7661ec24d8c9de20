"""Run one command as its own process and measure it: wall time, CPU time and peak resident memory.

The CPU time (user + system) and the peak are the kernel's `ru_utime`, `ru_stime` and `ru_maxrss`
of that child (and of the descendants it waited for), read with `os.wait4`. Linux counts in a
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
    log: str  # file holding the command's stdout and stderr

    @property
    def ok(self) -> bool:
        """Whether the command exited with status 0."""
        return self.returncode == 0

    def as_dict(self) -> dict[str, Any]:
        """Plain fields, for JSON."""
        return asdict(self)


def _run_here(cmd: list[str], log: Path, timeout_s: float) -> dict[str, Any]:
    """Start `cmd` from this process, wait for it with wait4; kill it (status -9) after `timeout_s` (0: never)."""
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        timer = threading.Timer(timeout_s, proc.kill) if timeout_s > 0 else None
        if timer is not None:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # blocks: the wall time stays exact
        finally:
            if timer is not None:
                timer.cancel()
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": usage.ru_maxrss / 1024, "returncode": proc.returncode}


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
