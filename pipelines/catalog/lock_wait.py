"""Wait while another process holds the catalog file: DuckDB lets one process write it, or many read it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import duckdb
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

T = TypeVar("T")
LOCK_WAIT_S = 30.0


def _locked(e: BaseException) -> bool:
    """DuckDB's error for a file another process holds."""
    return isinstance(e, duckdb.IOException) and "lock" in str(e).lower()


def while_locked(open_catalog: Callable[[], T], wait_s: float = LOCK_WAIT_S) -> T:
    """Call `open_catalog` until it stops failing on DuckDB's file lock (backing off from 0.05 s up to 1 s), at most `wait_s`.

    Any other error, or a lock still held after `wait_s`, is raised as it is.
    """
    retrying = Retrying(
        retry=retry_if_exception(_locked),
        wait=wait_exponential(multiplier=0.05, min=0.05, max=1.0),
        stop=stop_after_delay(wait_s),
        reraise=True,
    )
    return retrying(open_catalog)
