"""YAML loading (libyaml) that keeps every key's file:line:column and refuses duplicate keys, non-UTF-8 bytes, deep nesting and alias bombs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import SpecError, SpecIssue

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a spec, rule or policy file may have."""

MAX_ALIAS_VALUES = 100_000
"""Most values a file's aliases may add once expanded (a "billion laughs" file adds 10^9)."""

_SAFE_COMPOSE_DEPTH = 1_000  # libyaml's composer recurses in C: far deeper nesting would crash the process


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false are booleans, so `OFF`, `no` and `y` stay strings."""


class _CLoader(yaml.CSafeLoader):
    """`Loader` on libyaml's C parser (ten times faster on large files, e.g. an `in_set` of 300,000 values)."""


for _cls in (Loader, _CLoader):
    _cls.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _cls.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_LEAD = re.compile(r"^[ \t?:-]*", re.MULTILINE)


def _issue(display: str, line: int | None, column: int | None, message: str, hint: str) -> SpecIssue:
    return SpecIssue(file=display, line=line, column=column, key_path="", message=message, hint=hint)


def _decode(data: bytes, display: str) -> str:
    """The file's text (a UTF-8 byte order mark is dropped); bytes that are not UTF-8 are a `SpecError`."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecError(
            [
                _issue(
                    display,
                    line,
                    column,
                    f"not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} cannot be decoded",
                    "save the file as UTF-8, e.g. with `iconv -f latin1 -t utf-8`",
                )
            ]
        ) from None


def _structure_issues(root: yaml.Node, display: str) -> list[SpecIssue]:
    """Duplicate keys, nesting deeper than MAX_DEPTH and alias bombs, found without recursion."""
    issues: list[SpecIssue] = []
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    seen: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:  # an alias: its target is checked once
            continue
        seen.add(id(node))
        mark = node.start_mark
        if depth > MAX_DEPTH:
            return [_issue(display, mark.line + 1, mark.column + 1, f"nested deeper than {MAX_DEPTH} levels",
                           "flatten the structure; no spec, rule or policy field nests this deep")]  # fmt: skip
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in first:
                        issues.append(
                            _issue(
                                display,
                                key.start_mark.line + 1,
                                key.start_mark.column + 1,
                                f"duplicate key `{key.value}` (first at line {first[key.value]}): YAML would keep only the last",
                                "remove one of them or merge their values",
                            )
                        )
                    else:
                        first[key.value] = key.start_mark.line + 1
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
    if not issues and _expanded_size(root, {}, len(seen) + MAX_ALIAS_VALUES) > len(seen) + MAX_ALIAS_VALUES:
        issues.append(
            _issue(
                display,
                None,
                None,
                f"aliases expand to more than {MAX_ALIAS_VALUES:,} further values (a YAML alias bomb)",
                "write the values out or use fewer nested aliases (`*name`)",
            )
        )
    return issues


def _depth_bound(text: str) -> int:
    """An upper bound of the nesting depth: flow brackets plus the longest run of indentation and `- `/`? `/`: ` indicators."""
    lead = max((len(m.group(0)) for m in _LEAD.finditer(text)), default=0)
    return text.count("[") + text.count("{") + 2 * lead + 2


def _deeper_than(loader: yaml.CSafeLoader, limit: int) -> Any:
    """Where the nesting first passes `limit`, read from the parser's events (which do not recurse); None if never."""
    depth = 0
    while (event := loader.get_event()) is not None and not isinstance(event, yaml.StreamEndEvent):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limit:
                return event.start_mark
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _expanded_size(node: yaml.Node, memo: dict[int, int], cap: int) -> int:
    """How many values the node holds with every alias expanded, capped at `cap + 1` (depth is at most MAX_DEPTH)."""
    if id(node) in memo:
        return memo[id(node)]
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo, cap) + _expanded_size(v, memo, cap) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(c, memo, cap) for c in node.value)
    memo[id(node)] = min(size, cap + 1)
    return memo[id(node)]


class Located:
    """A parsed YAML document plus its node tree, to turn a key path into a line and column.

    Args:
        path: The file.
        display: How messages name it.
        text: The file's text when it is already in memory (the file is not read then).

    Raises:
        SpecError: the file is not UTF-8, not YAML, has duplicate keys, nests too deep or is an alias bomb.
    """

    def __init__(self, path: Path, display: str, text: str | None = None) -> None:
        self.path = path
        self.display = display
        if text is None:
            text = _decode(path.read_bytes(), display)
        try:
            if _depth_bound(text) > _SAFE_COMPOSE_DEPTH:
                deep = _deeper_than(_CLoader(text), MAX_DEPTH)
                if deep is not None:
                    raise SpecError(
                        [
                            _issue(
                                display,
                                deep.line + 1,
                                deep.column + 1,
                                f"nested deeper than {MAX_DEPTH} levels",
                                "flatten the structure; no spec, rule or policy field nests this deep",
                            )
                        ]
                    )
            loader = _CLoader(text)
            try:
                self.node = loader.get_single_node()
                issues = [] if self.node is None else _structure_issues(self.node, display)
                if issues:
                    raise SpecError(issues)
                self.data: Any = None if self.node is None else loader.construct_document(self.node)
            finally:
                loader.dispose()
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            problem = getattr(e, "problem", None) or str(e)
            raise SpecError(
                [
                    SpecIssue(
                        file=display,
                        line=mark.line + 1 if mark else None,
                        column=mark.column + 1 if mark else None,
                        key_path="",
                        message=f"not valid YAML: {problem}",
                        hint="check indentation and quoting around this place",
                    )
                ]
            ) from None

    def locate(self, loc: tuple[Any, ...], *, at_key: bool = False) -> tuple[int | None, int | None]:
        """Line and column (1-based) of the value at `loc`; parts that are not in the document are skipped.

        With `at_key`, the last part names a mapping key and its key node is located instead.
        """
        node = self.node
        if node is None:
            return None, None
        best = node
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == part:
                        node = k if (last and at_key) else v
                        best = node
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                best = node
        return best.start_mark.line + 1, best.start_mark.column + 1
