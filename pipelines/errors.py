"""Every exception moshu raises, in one place.

The tree::

    MoshuError                      base of everything below
    ├── SpecError                   a spec or rule file is wrong (raised before any data is read)
    ├── SourceError                 a raw file cannot be read as its spec says (missing, bad header, undecodable)
    │   └── BadFileError            one file's structure does not fit the spec (empty, header only, undecodable,
    │                               wrong field count, looks transposed): set aside under `source.on_bad_file`
    ├── QualityGateError            an error-severity dataset-level rule failed; the version is a rejected candidate
    ├── IntegrityError              the pipeline broke one of its own invariants
    │   ├── CountMismatchError      rows_in != rows_published + rows_quarantined
    │   └── CommitConflict          another writer committed to a Delta table after this run read it (retried)
    ├── StorageError                the remote warehouse cannot be reached, or a folder is bound to another one
    ├── CatalogError                the catalog cannot be opened, migrated or queried
    ├── FeedbackError               submitted feedback or a model run is malformed; nothing was written
    ├── PolicyError                 a query was refused by the access policy of its role
    ├── InitError                   `moshu init` cannot draft or write a spec (bad name or option, file exists)
    ├── NotFoundError               a dataset or version asked for does not exist
    └── RunCancelled                a run was stopped by SIGTERM or SIGINT; nothing of it was published

"The author's file is wrong" (`SpecError`) is kept apart from "the data is wrong": bad data never
raises, it becomes rule results and quarantined rows. Every message names the offending object in
backticks and, where one is likely, ends with the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "BadFileError",
    "CatalogError",
    "CommitConflict",
    "CountMismatchError",
    "FeedbackError",
    "InitError",
    "IntegrityError",
    "MoshuError",
    "NotFoundError",
    "PolicyError",
    "QualityGateError",
    "RunCancelled",
    "SourceError",
    "SpecError",
    "SpecIssue",
    "StorageError",
]


class MoshuError(Exception):
    """Base class of every error moshu raises on purpose."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec or rule file, with where it is and how to fix it."""

    file: str
    line: int | None
    column: int | None
    key_path: str
    message: str
    hint: str | None = None

    def render(self) -> str:
        """Return `file:line:col: key: message (hint)` as one human line."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.key_path or '<root>'}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


@dataclass
class SpecError(MoshuError):
    """A dataset spec or rule file is invalid; raised at load time, before any data is read."""

    issues: list[SpecIssue] = field(default_factory=list)

    def __str__(self) -> str:
        n = len(self.issues)
        head = f"{n} problem{'s' if n != 1 else ''} in dataset specs or rule files:"
        return "\n".join([head, *("  " + i.render() for i in self.issues)])


class SourceError(MoshuError):
    """A raw source file is missing, unreadable, or does not match what its spec declares."""


class BadFileError(SourceError):
    """One raw file's structure does not fit the spec: empty, header only, undecodable, the wrong number of fields
    throughout, or stored transposed. `source.on_bad_file: quarantine_file` sets such a file aside (the rest are read).

    Attributes:
        display: The file's path as shown in messages.
        rows: The file's raw data rows, when they can be counted (None otherwise).
    """

    def __init__(self, message: str, display: str | None = None, rows: int | None = None) -> None:
        super().__init__(message)
        # Messages start with the file's path in backticks: that is the file when `display` is not given.
        self.display = display if display is not None else message.split("`")[1] if message.startswith("`") else ""
        self.rows = rows

    @property
    def reason(self) -> str:
        """The message without the leading file name (for the manifest's `quarantined_files`)."""
        text = str(self)
        head = f"`{self.display}`"
        return text[len(head) :].lstrip(",: ") if text.startswith(head) else text


class QualityGateError(MoshuError):
    """An error-severity dataset-level rule failed (it cannot quarantine rows): the version is a rejected candidate, never latest."""


class IntegrityError(MoshuError):
    """The pipeline broke one of its own invariants; nothing was published."""


class CountMismatchError(IntegrityError):
    """Rows were lost or duplicated: rows_in != rows_published + rows_quarantined."""


class CommitConflict(IntegrityError):
    """Another writer committed to the table after this run read it; build again on the newer state."""


class StorageError(MoshuError):
    """The remote warehouse cannot be reached, or a warehouse folder is bound to another remote."""


class CatalogError(MoshuError):
    """The DuckDB catalog cannot be opened, migrated or queried."""


class FeedbackError(MoshuError):
    """Submitted feedback, a review or a model run is malformed; nothing of it was written."""


class PolicyError(MoshuError):
    """A query was refused by the access policy; the message says what and what the role can use instead."""


class InitError(MoshuError):
    """`moshu init` cannot draft or write a dataset: a bad name or option, or files it would overwrite."""


class NotFoundError(MoshuError):
    """A dataset or dataset version that was asked for does not exist in the warehouse."""


class RunCancelled(MoshuError):
    """A run was stopped by SIGTERM or SIGINT; its staging folder is removed and it is recorded as `cancelled`."""
