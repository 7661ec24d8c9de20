"""Paths a spec names stay inside the project: each resolves, symlinks followed, under the project root or an allowed root.

A spec names files in `source.path` (a glob, and each file it matches), `source.landing.path`, `rules`, each
`enrich[].path` (and, with placeholders, the partner of each source file) and each `reference` rule's `master`.
`spec_path_issues` and `master_issues` check them when the project is loaded, so `moshu check` and `moshu run`
stop before any of them is read; ingest checks each matched file again (`inside`) and sets aside, unread, one
that resolves outside (a link delivered after the spec was loaded).

A project that keeps raw data elsewhere allows that folder with the environment variable `MOSHU_ALLOWED_ROOTS`
(folders separated by the platform's path separator, `:` on POSIX; a relative one is taken from the project root),
read when a project is loaded, like `MOSHU_PROJECT` and `MOSHU_WAREHOUSE`.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipelines.errors import SpecIssue

__all__ = ["ENV_ALLOWED_ROOTS", "allowed_roots", "inside", "master_issues", "outside_note", "spec_path_issues"]

ENV_ALLOWED_ROOTS = "MOSHU_ALLOWED_ROOTS"
_GLOB_CHARS = re.compile(r"[*?\[]")


def allowed_roots(root: Path) -> list[Path]:
    """The project root and the folders `MOSHU_ALLOWED_ROOTS` lists, resolved (symlinks followed)."""
    out = [root.resolve()]
    for entry in os.environ.get(ENV_ALLOWED_ROOTS, "").split(os.pathsep):
        if entry.strip():
            out.append((root / Path(entry.strip()).expanduser()).resolve())
    return out


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, symlinks followed, lies in the project root or an allowed root."""
    real = path.resolve()
    return any(real == r or real.is_relative_to(r) for r in allowed_roots(root))


def outside_note(path: Path, root: Path, given: str) -> str:
    """`given`, and what it resolves to when that differs (a link, `..`): for messages about a path outside."""
    real = path.resolve()
    link = " (a symbolic link)" if path.is_symlink() else ""
    return f"`{given}`{link}" + (f" resolves to `{real}`" if str(real) != given else "")


def _hint(root: Path) -> str:
    return (
        f"name a file inside the project (`{root.name}/`), relative to its root; to read files kept elsewhere, "
        f"allow their folder with the environment variable `{ENV_ALLOWED_ROOTS}` "
        f"(folders separated by `{os.pathsep}`)"
    )


def _glob_base(pattern: str) -> str:
    """The folder part of a glob before its first wildcard (`seeds/x/*.csv` -> `seeds/x`)."""
    parts = Path(pattern).parts
    fixed = list(parts[: next((i for i, p in enumerate(parts) if _GLOB_CHARS.search(p)), len(parts))])
    return str(Path(*fixed)) if fixed else "."


def _issue(display: str, located: Any, loc: tuple[Any, ...], key: str, what: str, root: Path) -> SpecIssue:
    line, col = located.locate(loc) if located is not None else (None, None)
    return SpecIssue(display, line, col, key, f"{what}, outside the project; moshu does not read it", _hint(root))


def _matches(pattern: str, root: Path) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(root / pattern), recursive=True) if Path(p).is_file())


def _shown(path: Path, root: Path) -> str:
    """A matched file's path as seen in the project (not resolved: the link's own name)."""
    try:
        return path.absolute().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def spec_path_issues(spec: Any, located: Any, display: str, root: Path) -> list[SpecIssue]:
    """Problems with the paths a dataset spec names: each must resolve inside the project or an allowed root.

    Args:
        spec: The parsed `DatasetSpec`.
        located: The spec's `Located` document (for line and column), or None.
        display: The spec file as shown in messages.
        root: The project root.

    Returns:
        One issue per path outside, with file, line, key path, the path as given and as resolved, and the fix.
    """
    out: list[SpecIssue] = []
    pattern = spec.source.path
    base = root / _glob_base(pattern)
    if not inside(base, root):
        what = f"`source.path` {outside_note(base, root, pattern)}"
        out.append(_issue(display, located, ("source", "path"), "source.path", what, root))
        return out  # its matches are outside too; none is listed
    matched = _matches(pattern, root)
    for p in matched:
        if not inside(p, root):
            what = f"`source.path` `{pattern}` matches {outside_note(p, root, _shown(p, root))}"
            out.append(_issue(display, located, ("source", "path"), "source.path", what, root))
    if spec.source.landing is not None and not inside(root / spec.source.landing.path, root):
        what = f"the landing folder {outside_note(root / spec.source.landing.path, root, spec.source.landing.path)}"
        out.append(_issue(display, located, ("source", "landing", "path"), "source.landing.path", what, root))
    for i, rel in enumerate(spec.rules):
        if not inside(root / rel, root):
            what = f"rule file {outside_note(root / rel, root, rel)}"
            out.append(_issue(display, located, ("rules", i), f"rules[{i}]", what, root))
    sources = [_shown(p, root) for p in matched if inside(p, root)]
    for i, e in enumerate(spec.enrich):
        for rel in dict.fromkeys(e.partner(s) for s in sources) if e.templated else [e.path]:
            if not inside(root / rel, root):
                what = f"`enrich` file {outside_note(root / rel, root, rel)}"
                out.append(_issue(display, located, ("enrich", i, "path"), f"enrich[{i}].path", what, root))
    return out


def master_issues(rules: Iterable[tuple[Any, Any, int]], root: Path) -> list[SpecIssue]:
    """Problems with the master files of `reference` rules: each must resolve inside the project or an allowed root.

    Args:
        rules: `(rule, its rule file's Located, position in the file)` of a dataset's declared rules.
        root: The project root.
    """
    out = []
    for rule, located, j in rules:
        master = getattr(rule, "master", None)
        if getattr(rule, "kind", None) != "reference" or not isinstance(master, str):
            continue
        if not inside(root / master, root):
            what = f"master data {outside_note(root / master, root, master)}"
            out.append(_issue(located.display, located, ("rules", j, "master"), f"rules[{j}].master", what, root))
    return out
