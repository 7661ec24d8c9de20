"""Render a drafted spec and its rules as commented YAML, the way the seed specs are written."""

from __future__ import annotations

import json
import re
from typing import Any

from pipelines.init.profile import ColumnProfile
from pipelines.init.suggest import Suggestion, n

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./*-]*$")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def scalar(value: Any) -> str:
    """A YAML scalar that reads back as `value`: plain when safe, else a JSON (YAML double-quoted) string."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            text = text.replace("e", ".0e", 1)  # YAML 1.1 (PyYAML) reads `1e-05` as text
        return text
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def flow(value: Any) -> str:
    """A value in YAML flow style (`[a, b]`, `{k: v}`) or as a scalar."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


def _comment(line: str, note: str | None) -> str:
    return f"{line}  # {note}" if note else line


def column_entry(c: ColumnProfile, key: list[str]) -> dict[str, Any]:
    """A spec column as an ordered mapping."""
    entry: dict[str, Any] = {"name": c.name}
    if c.from_path:
        entry["from_path"] = c.from_path
    elif c.raw != c.name:
        entry["source"] = c.raw
    entry["dtype"] = c.dtype
    if c.format:
        entry["format"] = c.format
    if c.time_encoding:
        entry["time_encoding"] = c.time_encoding
    if c.unit:
        entry["unit"] = c.unit
    entry["role"] = c.role
    if c.personal:
        entry["sensitivity"] = "personal"
    if c.complete and c.name not in key:
        entry["nullable"] = False
    return entry


def column_note(c: ColumnProfile) -> str:
    """What the sample showed of a column, for its line's comment."""
    if c.personal:
        return "REVIEW: the name suggests a person, so it is personal (pseudonymised at ingest)"
    if c.from_path:
        return "REVIEW: the file names differ in this part; name the column"
    parts = [f"seen: {n(c.nulls)} null{'' if c.nulls == 1 else 's'} in {n(c.rows)} rows"]
    if c.unit and c.unit_raw and c.unit != c.unit_raw:
        parts.append(f"header unit `{c.unit_raw}`")
    parts += c.notes
    return "; ".join(parts)


def render_rules(suggestions: list[Suggestion], header: list[str]) -> str:
    """The rule file: each rule preceded by its clause, what was seen and what to review."""
    lines = ["# yaml-language-server: $schema=rule_file.schema.json", *(f"# {h}" for h in header), "rules:"]
    for s in suggestions:
        lines.append(f"  # {s.cite}")
        lines.append(f"  # seen: {s.seen}")
        lines += [f"  # {note}" for note in s.notes]
        first = True
        for key, value in s.rule.items():
            lines.append(f"  {'- ' if first else '  '}{key}: {flow(value)}")
            first = False
    return "\n".join(lines) + "\n"


def render_spec(top: list[tuple[str, Any, str | None]], header: list[str]) -> str:
    """The spec: `top` is (key, value, comment) in order; lists of mappings become one flow mapping per line.

    A value that is a list of (mapping, comment) pairs is written as a block list with a comment per item;
    a dict is written as a nested block of (key, value, comment) triples when given as a list of triples.
    """
    lines = ["# yaml-language-server: $schema=dataset_spec.schema.json", *(f"# {h}" for h in header)]
    for key, value, note in top:
        if isinstance(value, list) and value and isinstance(value[0], tuple) and len(value[0]) == 2:
            lines.append(_comment(f"{key}:", note))
            lines += [_comment(f"  - {flow(item)}", item_note) for item, item_note in value]
        elif isinstance(value, list) and value and isinstance(value[0], tuple) and len(value[0]) == 3:
            lines.append(_comment(f"{key}:", note))
            lines += [_comment(f"  {k}: {flow(v)}", c) for k, v, c in value]
        elif value is None:
            lines.append(f"# {key}:  # {note}" if note else f"# {key}:")
        else:
            lines.append(_comment(f"{key}: {flow(value)}", note))
    return "\n".join(lines) + "\n"
