"""Paths as people and manifests see them: relative to the project root, with forward slashes."""

from __future__ import annotations

from pathlib import Path


def relative(path: Path, root: Path) -> str:
    """`path` relative to `root` (POSIX form), or as given when it lies outside `root`."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
