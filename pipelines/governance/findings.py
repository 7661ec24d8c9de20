"""What `moshu verify` reports: one `Problem` per damaged input, collected in a `Report` while the checks run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pipelines.catalog.client import CatalogClient
from pipelines.warehouse import Warehouse

__all__ = ["AUDIT_LOG", "CATALOG", "ORPHANS", "Ctx", "Problem", "Report"]

AUDIT_LOG = "<audit_log>"
CATALOG = "<catalog>"
ORPHANS = "<orphans>"
T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One thing that is not as recorded: which file, what was expected, what was found."""

    dataset: str
    version: int | None
    path: str  # relative to the warehouse
    problem: str
    expected: str | None = None
    actual: str | None = None

    def render(self) -> str:
        """`dataset@version path: problem (expected ..., found ...)` as one human line."""
        where = self.dataset if self.version is None else f"{self.dataset}@{self.version}"
        text = f"{where} {self.path}: {self.problem}"
        if self.expected is not None or self.actual is not None:
            text += f" (expected {self.expected}, found {self.actual})"
        return text


@dataclass
class Report:
    """What `verify` looked at and what it found."""

    checked_versions: int = 0
    checked_files: int = 0
    problems: list[Problem] = field(default_factory=list)
    # The audit log's last row as sealed beside the catalog: `seq` and `hash` (None when the log is empty).
    audit_tail: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems


@dataclass
class Ctx:
    """One verification in progress: the warehouse, the catalog (None when it cannot be read) and the report."""

    warehouse: Warehouse
    catalog: CatalogClient | None
    report: Report

    def add(
        self, dataset: str, version: int | None, path: Path, problem: str, expected: object = None, actual: object = None
    ) -> None:
        """Record a problem about `path` (a path inside the warehouse, reported relative to it)."""
        try:
            rel = Path(path).relative_to(self.warehouse.root).as_posix()
        except ValueError:
            rel = Path(path).as_posix()
        self.report.problems.append(Problem(dataset, version, rel, problem, _text(expected), _text(actual)))

    def guarded(self, dataset: str, version: int | None, path: Path, what: str, check: Callable[..., T], *args: Any) -> T | None:
        """Run `check(*args)`; an exception it raises (a damaged file it reads, say) becomes a problem, never a traceback.

        Returns:
            What `check` returned, or None when it raised.
        """
        try:
            return check(*args)
        except Exception as e:  # any damaged input is a finding: the report must cover every other item
            logging.getLogger(__name__).debug("verify: %s failed", what, exc_info=True)
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            self.add(dataset, version, path, f"{what} failed: {type(e).__name__}: {first[:300]}")
            return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)
