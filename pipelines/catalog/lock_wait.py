"""Wait while another process holds the catalog file: DuckDB lets one process write it, or many read it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import duckdb

T = TypeVar("T")
LOCK_WAIT_S = 30.0


def while_locked(open_catalog: Callable[[], T], wait_s: float = LOCK_WAIT_S) -> T:
    """Call `open_catalog` until it stops failing on DuckDB's file lock (backing off up to 1 s), at most `wait_s`.

    Any other error, or a lock still held after `wait_s`, is raised as it is.
    """
    delay, waited = 0.05, 0.0
    while True:
        try:
            return open_catalog()
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or waited >= wait_s:
                raise
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 1.0)
