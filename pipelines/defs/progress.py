"""Progress of a run for a person at a terminal: a callback the CLI installs, a no-op otherwise."""

from __future__ import annotations

from collections.abc import Callable

_listener: Callable[[str, str], None] | None = None


def set_listener(fn: Callable[[str, str], None] | None) -> None:
    """Install (or remove) the function told about each (dataset, stage)."""
    global _listener
    _listener = fn


def report(dataset: str, stage: str) -> None:
    """Tell the listener, if any, that `dataset` entered `stage`; stop here if the run was asked to stop.

    Raises:
        RunCancelled: SIGTERM or SIGINT asked the run to stop (see `pipelines.cancel`).
    """
    from pipelines.cancel import check

    check()
    if _listener is not None:
        _listener(dataset, stage)
