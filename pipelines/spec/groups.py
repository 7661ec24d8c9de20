"""Column groups (`columns_from:`): many raw columns declared at once, by a regex over the header or by position.

A group is resolved into ordinary columns before anything else sees the spec (`expand.py`); this module
holds the parse model and the pure parts: position ranges, name templates, matching a header.
"""

from __future__ import annotations

import re
import string
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pipelines.spec.base import NAME_PATTERN, DType, Role, Sensitivity, _Frozen

# The `Column` fields a group passes on to every member (everything but `name`, `source` and `from_path`).
MEMBER_FIELDS = (
    "dtype", "format", "time_encoding", "timezone", "keep_original", "nullable", "unit", "source_unit", "role",
    "description", "sensitivity",
)  # fmt: skip
_NUMERIC_FORMAT_TYPES = frozenset("bcdoxXneEfFgG%")
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")


class ColumnGroup(_Frozen):
    """Many columns declared at once: every raw column whose header matches `pattern` (or that stands at one of
    `positions`) becomes a published column named by `name`, with the column fields given here."""

    id: str | None = Field(
        None, pattern=NAME_PATTERN, description="Name of the group, for selectors (`{group: <id>}`); default: its index."
    )
    pattern: str | None = Field(
        None,
        description=r"Regular expression searched in each raw header name (anchor it: `^\d+$`); the files' header "
        "lines are read when the spec is loaded. Columns an explicit `columns` entry reads are left to that entry.",
    )
    positions: str | None = Field(
        None,
        description="1-based field positions, for files without a header (`csv: {header: false}`): `1-590`, or a "
        "comma-separated list of positions and ranges (`1,3-10`). Without `csv.column_names` the fields are named by "
        "their position (`'1'`, `'2'`, ...), so an explicit column reads field 3 with `source: '3'`.",
    )
    name: str = Field(
        "{}",
        description="Template of the published names, Python `str.format` syntax: `{}` is the raw header name (for "
        "`positions`: the position, a number), `{:03d}` formats it as a number (`7` -> `007`), `{1}`, `{2}` ... are "
        "the pattern's groups `( )` and `{tag}` its named group `(?P<tag>...)`. Each name must be snake_case.",
    )
    dtype: DType = Field(description="Type every member is converted to (as a column's `dtype`).")
    format: str | None = Field(None, description="As a column's `format`, for every member.")
    time_encoding: Literal["epoch_s", "epoch_ms", "epoch_us", "excel_serial"] | None = Field(
        None, description="As a column's `time_encoding`, for every member."
    )
    timezone: str | None = Field(None, description="As a column's `timezone`, for every member.")
    keep_original: bool = Field(False, description="As a column's `keep_original`, for every member.")
    nullable: bool = Field(True, description="As a column's `nullable`, for every member.")
    unit: str | None = Field(None, description="As a column's `unit`, for every member.")
    source_unit: str | None = Field(None, description="As a column's `source_unit`, for every member.")
    role: Role = Field("attribute", description="As a column's `role`, for every member (e.g. `measurement`).")
    description: str = Field(
        "", description="As a column's `description`, for every member; `{}` and the template fields are filled in."
    )
    sensitivity: Sensitivity | None = Field(None, description="As a column's `sensitivity`, for every member.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"`{v}` is not a valid regular expression: {e}") from None
        return v

    @field_validator("positions")
    @classmethod
    def _ranges(cls, v: str | None) -> str | None:
        if v is not None:
            parse_positions(v)
        return v

    @field_validator("name")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(v) if f is not None]
        except ValueError as e:
            raise ValueError(f"`{v}` is not a name template: {e}; write e.g. `s{{:03d}}` or `temp_{{}}`") from None
        if not fields:
            raise ValueError(f"`{v}` has no `{{}}`, so every member would get the same name; write e.g. `s{{:03d}}`")
        return v

    @model_validator(mode="after")
    def _one_way(self) -> ColumnGroup:
        if (self.pattern is None) == (self.positions is None):
            raise ValueError("give either `pattern` (a regex over the header names) or `positions` (e.g. `1-590`)")
        return self

    def member_fields(self) -> dict[str, Any]:
        """The column fields every member gets, only those given (so members equal spelled-out columns)."""
        return {k: getattr(self, k) for k in MEMBER_FIELDS if k in self.model_fields_set}


def parse_positions(text: str) -> list[int]:
    """`1-3,7` -> [1, 2, 3, 7]; raises ValueError for anything else (0, a reversed range, a repeat)."""
    out: list[int] = []
    for part in text.split(","):
        m = _RANGE.match(part)
        if m is None:
            raise ValueError(f"`{text}`: `{part.strip()}` is not a position or a range; write e.g. `1-590` or `1,3-10`")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo < 1 or hi < lo:
            raise ValueError(f"`{text}`: `{part.strip()}` is not a range of 1-based positions (first <= last, from 1)")
        out.extend(range(lo, hi + 1))
    repeated = sorted({p for p in out if out.count(p) > 1}) if len(out) != len(set(out)) else []
    if repeated:
        raise ValueError(f"`{text}` names position {repeated[0]} twice")
    return out


def _typed(value: str | int, spec: str) -> Any:
    """`value` as a number when the format spec asks for one (`{:03d}`), else unchanged; ValueError if not numeric."""
    if not spec or spec[-1] not in _NUMERIC_FORMAT_TYPES or isinstance(value, int):
        return value
    try:
        return int(value) if spec[-1] in "bcdoxXn" else float(value)
    except ValueError:
        raise ValueError(f"`{{:{spec}}}` formats a number, but the raw name is `{value}`") from None


def member_name(template: str, raw: str | int, match: re.Match[str] | None = None) -> str:
    """Fill a name template for one member.

    Args:
        template: The group's `name`, e.g. `s{:03d}`.
        raw: The raw header name, or the 1-based position for a `positions` group.
        match: The pattern's match on the header name (for `{1}` and named groups).

    Raises:
        ValueError: a field is numeric but the raw name is not, or a field names a group the pattern lacks.
    """
    args: list[Any] = [raw, *(match.groups() if match else ())]
    kwargs: dict[str, Any] = dict(match.groupdict()) if match else {}
    out, auto = [], 0
    for literal, field, spec, conv in string.Formatter().parse(template):
        out.append(literal)
        if field is None:
            continue
        if field == "":
            key: int | str = auto
            auto += 1
        else:
            key = int(field) if field.isdigit() else field
        if isinstance(key, int) and key >= len(args):
            raise ValueError(f"`{{{field}}}` in `{template}`: the pattern has {len(args) - 1} groups `( )`")
        if isinstance(key, str) and key not in kwargs:
            raise ValueError(f"`{{{field}}}` in `{template}`: the pattern has no group `(?P<{key}>...)`")
        value = args[key] if isinstance(key, int) else kwargs[key]
        value = "" if value is None else value
        if conv:
            value = repr(value) if conv == "r" else str(value)
        out.append(format(_typed(value, spec or ""), spec or ""))
    return "".join(out)


def matches(group: ColumnGroup, name: str) -> re.Match[str] | None:
    """The group's pattern searched in one raw header name."""
    return re.search(group.pattern or "", name) if group.pattern is not None else None


def shape_problem(columns: tuple[Any, ...], groups: tuple[ColumnGroup, ...], csv: Any) -> str | None:
    """What is wrong with how a spec names its columns before any header is read, if anything.

    Args:
        columns: The spec's explicit `columns`.
        groups: Its `columns_from`.
        csv: Its `source.csv` options.
    """
    if not columns and not groups:
        return "a dataset needs `columns`, `columns_from`, or both"
    if not csv.header and not csv.column_names and not any(g.positions is not None for g in groups):
        return (
            "`source.csv.column_names` is required when `header` is false (or name the fields by position with "
            "`columns_from: [{positions: '1-590', name: 's{:03d}', dtype: float64}]`)"
        )
    return None
