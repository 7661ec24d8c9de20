"""Column selectors: `{role: measurement}`, `{pattern: 's*'}`, `{group: 0}` wherever a rule or demand lists columns.

A selector is resolved against the dataset's published columns while its rule or demand file is
validated (the loader passes them in the pydantic validation context), so the parsed model holds the
plain list of names and nothing downstream knows selectors exist. Each resolution is recorded, so
`moshu check` can show what ran.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo, model_validator

from pipelines.spec.base import DType, Role, _Frozen

CONTEXT_KEY = "moshu_selection"


class Selector(_Frozen):
    """Columns picked by what they are rather than listed: every condition given must hold (at least one)."""

    role: Role | None = Field(None, description="Columns of this role (e.g. `measurement`).")
    pattern: str | None = Field(None, description="Glob over the published column names (e.g. `s*`, `temp_?`).")
    group: int | str | None = Field(None, description="Members of a `columns_from` group: its 0-based index or its `id`.")
    dtype: DType | None = Field(None, description="Columns of this type (e.g. `float64`).")
    exclude: tuple[str, ...] = Field((), description="Names or globs of columns to leave out of the selection.")

    @model_validator(mode="after")
    def _something(self) -> Selector:
        if self.role is None and self.pattern is None and self.group is None and self.dtype is None:
            raise ValueError("a selector needs `role`, `pattern`, `group` or `dtype` (and optionally `exclude`)")
        return self

    def text(self) -> str:
        """The selector as written, e.g. `{role: measurement, exclude: [s001]}`."""
        parts = [f"{k}: {v}" for k, v in self.model_dump(exclude_defaults=True).items() if k != "exclude"]
        if self.exclude:
            parts.append(f"exclude: [{', '.join(self.exclude)}]")
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class ColumnInfo:
    """What a selector can see of a published column."""

    name: str
    role: str
    dtype: str


@dataclass(frozen=True)
class Selection:
    """One selector resolved: where it was, what it said, what it selected."""

    where: str
    selector: str
    columns: tuple[str, ...]


@dataclass
class SelectionContext:
    """The columns selectors of one dataset resolve against, and the record of what they selected."""

    dataset: str
    columns: tuple[ColumnInfo, ...]
    groups: dict[int | str, tuple[str, ...]] = field(default_factory=dict)
    resolved: list[Selection] = field(default_factory=list)

    def context(self) -> dict[str, Any]:
        """The pydantic validation context carrying this selection context."""
        return {CONTEXT_KEY: self}


def select(sel: Selector, ctx: SelectionContext) -> tuple[str, ...]:
    """The published names a selector picks, in column order.

    Raises:
        ValueError: an unknown group, an `exclude` entry that names no column, or an empty selection;
            the message names the selector and what exists.
    """
    names = [c.name for c in ctx.columns]
    if sel.group is not None and sel.group not in ctx.groups:
        known = ", ".join(f"`{k}`" for k in ctx.groups) or "none (the spec has no `columns_from`)"
        raise ValueError(
            f"selector {sel.text()}: dataset `{ctx.dataset}` has no column group `{sel.group}`; groups: {known} "
            "(by index, or by the group's `id`)"
        )
    members = set(ctx.groups[sel.group]) if sel.group is not None else None
    for ex in sel.exclude:
        if not fnmatch.filter(names, ex):
            close = difflib.get_close_matches(ex, names, n=1, cutoff=0.5)
            hint = f"did you mean `{close[0]}`?" if close else "list published column names or globs"
            raise ValueError(f"selector {sel.text()}: `exclude` entry `{ex}` matches no column of `{ctx.dataset}`; {hint}")
    picked = tuple(
        c.name
        for c in ctx.columns
        if (sel.role is None or c.role == sel.role)
        and (sel.dtype is None or c.dtype == sel.dtype)
        and (sel.pattern is None or fnmatch.fnmatchcase(c.name, sel.pattern))
        and (members is None or c.name in members)
        and not any(fnmatch.fnmatchcase(c.name, ex) for ex in sel.exclude)
    )
    if not picked:
        roles = sorted({c.role for c in ctx.columns})
        raise ValueError(
            f"selector {sel.text()} selects no column of dataset `{ctx.dataset}`; its {len(names)} columns are "
            f"{_shown(names)} (roles: {', '.join(roles)}); widen the selector, or fix the `role`/`dtype` of the columns "
            "in the spec"
        )
    return picked


def _shown(names: Sequence[str], n: int = 12) -> str:
    head = ", ".join(f"`{x}`" for x in names[:n])
    return head + (f" ... and {len(names) - n} more" if len(names) > n else "")


def _resolve(value: Any, info: ValidationInfo) -> Any:
    """A list stays as it is; a selector mapping becomes the names it selects (recorded in the context)."""
    if not isinstance(value, dict):
        return value
    sel = Selector.model_validate(value)
    ctx = (info.context or {}).get(CONTEXT_KEY)
    if ctx is None:
        if (info.context or {}).get("lenient"):
            return (sel.text(),)  # the dataset is unknown (its own spec failed): only the selector's shape is checked
        raise ValueError(
            f"selector {sel.text()} is resolved against a dataset's columns when the project is loaded; list the columns here"
        )
    names = select(sel, ctx)
    owner = info.data.get("id") or info.data.get("name") or "?"
    ctx.resolved.append(Selection(f"{owner}.{info.field_name}", sel.text(), names))
    return names


ColumnList = Annotated[
    tuple[str, ...],
    BeforeValidator(_resolve, json_schema_input_type=tuple[str, ...] | Selector),
]
"""A list of column names, or a selector resolved to one at load time."""


def lenient() -> dict[str, Any]:
    """Validation context for a file whose dataset is unknown: selectors are checked for shape only."""
    return {"lenient": True}


def selection_context(spec: Any, groups: Sequence[Any] = ()) -> SelectionContext:
    """The selection context of a resolved spec.

    Args:
        spec: A `DatasetSpec` whose groups are resolved (its published columns are what selectors see).
        groups: Its `ResolvedGroup`s, addressed by index and by `id`.
    """
    by: dict[int | str, tuple[str, ...]] = {}
    for g in groups:
        by[g.index] = g.members
        if g.id is not None:
            by[g.id] = g.members
    cols = tuple(ColumnInfo(c.name, c.role, c.dtype) for c in spec.published_columns)
    return SelectionContext(spec.name, cols, by)
