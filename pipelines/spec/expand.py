"""Resolve a spec's column groups (`columns_from:`) into ordinary columns, from the files' header lines only.

The resolved spec lists every member as a plain `Column` (explicit `columns` first, then each group's
members in file order) and no longer has `columns_from`, so everything downstream (typing, rules, card,
demands, hashes) sees an ordinary spec, and a grouped spec hashes like the same spec spelled out.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipelines.errors import SpecIssue
from pipelines.paths import relative
from pipelines.spec.base import NAME_PATTERN
from pipelines.spec.groups import ColumnGroup, matches, member_name, parse_positions
from pipelines.spec.models import Column, DatasetSpec
from pipelines.spec.yaml_marks import Located

_SHOWN = 12  # names listed in a message before "... and N more"


@dataclass(frozen=True)
class ResolvedGroup:
    """What one `columns_from` entry became.

    Attributes:
        index: Its position in `columns_from`.
        id: Its `id`, if it has one.
        how: `pattern \\`...\\`` or `positions \\`...\\``, for messages.
        members: The published names of its columns, in file order.
        sources: The raw names they read, in the same order.
    """

    index: int
    id: str | None
    how: str
    members: tuple[str, ...]
    sources: tuple[str, ...]


def shown(names: Sequence[str]) -> str:
    """Up to a dozen names in backticks, then how many more."""
    head = ", ".join(f"`{n}`" for n in names[:_SHOWN])
    return head + (f" ... and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _explicit_claims(header: Sequence[str], columns: Sequence[Column]) -> set[int]:
    """Header positions the explicit columns read (matched as the readers match: exactly, stripped, case-insensitively)."""
    claimed: set[int] = set()
    for c in columns:
        if c.from_path is not None or c.expr is not None:  # read from the path, or derived: no raw field
            continue
        for key in (lambda s: s, lambda s: s.strip(), lambda s: s.strip().casefold()):
            hits = [i for i, h in enumerate(header) if key(h) == key(c.source_name)]
            if hits:
                claimed.update(hits)
                break
    return claimed


class _Expander:
    """One spec's groups resolved against one header, with every problem appended to `issues`."""

    def __init__(self, spec: DatasetSpec, located: Located, issues: list[SpecIssue]) -> None:
        self.spec, self.located, self.issues = spec, located, issues
        self.ok = True

    def issue(self, key: tuple[Any, ...], message: str, hint: str | None) -> None:
        path = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in key).lstrip(".")
        self.issues.append(SpecIssue(self.located.display, *self.located.locate(key), path, message, hint))
        self.ok = False

    def claims(self, header: Sequence[str], display: str) -> list[list[tuple[int, re.Match[str] | None]]]:
        """Per pattern group, (header position, match) of each member; positions groups get an empty list here."""
        explicit = _explicit_claims(header, self.spec.columns)
        out: list[list[tuple[int, re.Match[str] | None]]] = []
        for g in self.spec.columns_from:
            if g.pattern is None:
                out.append([])
                continue
            out.append([(i, m) for i, h in enumerate(header) if i not in explicit and (m := matches(g, h))])
        return out

    def check_claims(self, claims: list[list[tuple[int, Any]]], header: Sequence[str], display: str) -> None:
        owner: dict[int, int] = {}
        for gi, members in enumerate(claims):
            g = self.spec.columns_from[gi]
            if g.pattern is None:
                continue
            if not members:
                close = difflib.get_close_matches(g.pattern, list(header), n=1, cutoff=0.3)
                self.issue(
                    ("columns_from", gi, "pattern"),
                    f"`{g.pattern}` matches no column of `{display}` (its header: {shown(header)})",
                    (f"did you mean a pattern for `{close[0]}`? " if close else "")
                    + "the pattern is a regular expression searched in each raw name; columns an explicit "
                    "`columns` entry reads are left to that entry",
                )
            twice = [header[i] for i, _ in members if i in owner]
            if twice:
                other = owner[next(i for i, _ in members if i in owner)]
                self.issue(
                    ("columns_from", gi, "pattern"),
                    f"raw columns {shown(twice)} are claimed by both columns_from[{other}] and columns_from[{gi}]",
                    "narrow one of the patterns (anchor it, e.g. `^s\\d+$`) so each raw column belongs to one group, "
                    "or declare the column under `columns`, which takes precedence over every group",
                )
            for i, _ in members:
                owner.setdefault(i, gi)

    def compare(self, ref: list[list[tuple[int, Any]]], ref_header: Sequence[str], ref_display: str,
                other: list[list[tuple[int, Any]]], header: Sequence[str], display: str) -> None:  # fmt: skip
        for gi, (a, b) in enumerate(zip(ref, other, strict=True)):
            want, got = [ref_header[i] for i, _ in a], [header[i] for i, _ in b]
            if set(want) != set(got):
                missing = [n for n in want if n not in set(got)]
                extra = [n for n in got if n not in set(want)]
                parts = ([f"lacks {shown(missing)}"] if missing else []) + ([f"adds {shown(extra)}"] if extra else [])
                self.issue(
                    ("columns_from", gi, "pattern"),
                    f"the files' headers disagree: against `{ref_display}`, `{display}` {' and '.join(parts)}",
                    "a group takes its columns from the header, so every file must have the same ones: fix or move "
                    "the odd file, or declare the columns under `columns` (then `source.drift` decides what a "
                    "file lacking one does)",
                )

    def members(self, gi: int, items: Sequence[tuple[str, str | int, re.Match[str] | None]]) -> list[Column]:
        """Columns of group `gi` from (raw name, template value, match) items."""
        g: ColumnGroup = self.spec.columns_from[gi]
        out: list[Column] = []
        for raw, value, m in items:
            try:
                name = member_name(g.name, value, m)
            except ValueError as e:
                self.issue(("columns_from", gi, "name"), f"for raw column `{raw}`: {e}", "fix the `name` template")
                return []
            if not re.match(NAME_PATTERN, name):
                self.issue(
                    ("columns_from", gi, "name"),
                    f"`{g.name}` makes `{name}` of raw column `{raw}`, which is not a snake_case column name",
                    "write a template giving lowercase letters, digits and `_`, starting with a letter, e.g. `s{:03d}`",
                )
                return []
            try:
                out.append(Column(name=name, source=raw if raw != name else None, **g.member_fields()))
            except ValidationError as e:
                msg = e.errors()[0]["msg"].removeprefix("Value error, ")
                self.issue(("columns_from", gi), f"member `{name}`: {msg}", None)
                return []
        return out


def _headers(spec: DatasetSpec, root: Path, x: _Expander) -> list[tuple[str, list[str]]]:
    """(display, header) of every source file; names given in the spec stand for every file."""
    from pipelines.spec.headers import HeaderError, read_header, source_files

    opts = spec.source.csv.column_names if spec.source.format == "csv" else (spec.source.excel and spec.source.excel.column_names)
    if opts:
        return [("`source` column names", list(opts))]
    files = source_files(spec, root)
    if not files:
        x.issue(
            ("source", "path"),
            f"no file matches `{spec.source.path}`, so `columns_from` has no header to match its patterns against",
            "put at least one raw file there, or declare the columns under `columns`",
        )
        return []
    out = []
    for f in files:
        display = relative(f, root)
        try:
            out.append((display, read_header(f, spec, display)))
        except HeaderError as e:
            x.issue(("source", "path"), str(e), "columns_from reads each file's header when the spec is loaded")
    return out


def _pattern_members(spec: DatasetSpec, root: Path, x: _Expander) -> dict[int, list[Column]]:
    if all(g.pattern is None for g in spec.columns_from):
        return {}  # `positions` groups need no header
    headers = _headers(spec, root, x)
    if not headers or not x.ok:
        return {}
    ref_display, ref_header = headers[0]
    ref = x.claims(ref_header, ref_display)
    x.check_claims(ref, ref_header, ref_display)
    for display, header in headers[1:]:
        x.compare(ref, ref_header, ref_display, x.claims(header, display), header, display)
    if not x.ok:
        return {}
    return {
        gi: x.members(gi, [(ref_header[i], ref_header[i], m) for i, m in claims])
        for gi, claims in enumerate(ref)
        if spec.columns_from[gi].pattern is not None
    }


def _position_members(spec: DatasetSpec, x: _Expander) -> tuple[dict[int, list[Column]], int]:
    """Members of the `positions` groups, and the highest position any of them claims."""
    names = spec.source.csv.column_names
    explicit = {c.source_name for c in spec.columns if c.from_path is None}
    owner: dict[int, int] = {}
    out: dict[int, list[Column]] = {}
    width = 0
    for gi, g in enumerate(spec.columns_from):
        if g.positions is None:
            continue
        items = []
        for p in parse_positions(g.positions):
            if names and p > len(names):
                x.issue(("columns_from", gi, "positions"), f"position {p} is past the {len(names)} `csv.column_names`", None)
                return {}, 0
            raw = names[p - 1] if names else str(p)
            if raw in explicit:
                continue
            if p in owner:
                x.issue(
                    ("columns_from", gi, "positions"),
                    f"position {p} is claimed by both columns_from[{owner[p]}] and columns_from[{gi}]",
                    "make the ranges disjoint",
                )
                return {}, 0
            owner[p] = gi
            width = max(width, p)
            items.append((raw, p, None))
        out[gi] = x.members(gi, items)
    return out, width


def _shape_problem(spec: DatasetSpec) -> tuple[tuple[Any, ...], str, str] | None:
    """Why the spec's groups cannot apply to its source at all, if so: (key, message, hint)."""
    src = spec.source
    headerless = src.format == "csv" and not src.csv.header
    for gi, g in enumerate(spec.columns_from):
        if src.long is not None:
            return ("columns_from",), "`columns_from` does not apply to `source.long`", "map the tags in `source.long.tags`"
        if g.positions is not None and not headerless:
            return (
                ("columns_from", gi, "positions"),
                "`positions` name the fields of a file without a header (`source.csv.header: false`)",
                "for a file with a header, use `pattern:` over its names",
            )
        if g.pattern is not None and headerless and not src.csv.column_names:
            return (
                ("columns_from", gi, "pattern"),
                "a file without a header has no names for `pattern` to match",
                "use `positions:` (e.g. `positions: '1-590'`), or name the fields in `source.csv.column_names`",
            )
    return None


def expand_columns(
    spec: DatasetSpec, located: Located, root: Path, issues: list[SpecIssue]
) -> tuple[DatasetSpec | None, tuple[ResolvedGroup, ...]]:
    """Resolve `columns_from` into columns, reading only the header line of each raw file.

    Args:
        spec: The spec as parsed (with `columns_from`).
        located: Its YAML, to locate problems.
        root: The project root (`source.path` is relative to it).
        issues: Where problems are appended (file:line, key path, message, fix).

    Returns:
        (the resolved spec, or None when it has problems; what each group became). A spec without
        groups is returned as it is.
    """
    if not spec.columns_from:
        return spec, ()
    x = _Expander(spec, located, issues)
    if (shape := _shape_problem(spec)) is not None:
        x.issue(*shape)
        return None, ()
    by_group = _pattern_members(spec, root, x)
    positional, width = _position_members(spec, x)
    by_group.update(positional)
    if not x.ok:
        return None, ()
    taken = {c.name: "columns" for c in spec.columns}
    for gi in sorted(by_group):
        for c in by_group[gi]:
            if c.name in taken:
                x.issue(
                    ("columns_from", gi, "name"),
                    f"member `{c.name}` (raw `{c.source_name}`) has the name of a column of {taken[c.name]}",
                    "change the template or the other column's name",
                )
                return None, ()
            taken[c.name] = f"columns_from[{gi}]"
    data = spec.model_dump()
    data["columns"] = [c.model_dump() for c in spec.columns] + [c.model_dump() for gi in sorted(by_group) for c in by_group[gi]]
    data.pop("columns_from", None)
    if spec.source.format == "csv" and not spec.source.csv.header and not spec.source.csv.column_names:
        numeric = [int(c.source_name) for c in spec.columns if c.from_path is None and c.source_name.isdigit()]
        data["source"]["csv"]["column_names"] = [str(p) for p in range(1, max([width, *numeric]) + 1)]
    try:
        resolved = DatasetSpec.model_validate(data)
    except ValidationError as e:
        from pipelines.spec.issues import issues_from_validation

        issues.extend(issues_from_validation(e, located, DatasetSpec))
        return None, ()
    groups = tuple(
        ResolvedGroup(
            gi, g.id, f"pattern `{g.pattern}`" if g.pattern is not None else f"positions `{g.positions}`",
            tuple(c.name for c in by_group.get(gi, [])), tuple(c.source_name for c in by_group.get(gi, [])),
        )
        for gi, g in enumerate(spec.columns_from)
    )  # fmt: skip
    return resolved, groups


def resolution_lines(name: str, groups: Sequence[ResolvedGroup], selections: Sequence[Any]) -> list[str]:
    """What a dataset's column groups and selectors resolved to, one line each (for `moshu check`)."""
    lines = []
    for g in groups:
        label = f"columns_from[{g.index}]" + (f" ({g.id})" if g.id else "")
        lines.append(f"{name}: {label} {g.how} -> {len(g.members)} columns: {_span(g.members)}")
    for s in selections:
        lines.append(f"{name}: {s.where} {s.selector} -> {len(s.columns)} columns: {_span(s.columns)}")
    return lines


def _span(names: Sequence[str]) -> str:
    return ", ".join(names) if len(names) <= 6 else f"{', '.join(names[:3])}, ..., {', '.join(names[-2:])}"


def resolution_record(groups: Sequence[ResolvedGroup], selections: Sequence[Any]) -> dict[str, Any]:
    """The manifest's record of what the column groups and selectors resolved to (nothing when there are none)."""
    out: dict[str, Any] = {}
    if groups:
        out["column_groups"] = [
            {"index": g.index, "id": g.id, "how": g.how, "columns": list(g.members), "sources": list(g.sources)} for g in groups
        ]
    if selections:
        out["column_selections"] = [{"where": s.where, "selector": s.selector, "columns": list(s.columns)} for s in selections]
    return out
