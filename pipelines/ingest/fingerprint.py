"""Content fingerprints of raw files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceFile:
    """One raw file that fed a run: where it was, its sha256, size and data rows."""

    path: str
    sha256: str
    size: int
    rows: int = 0


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
