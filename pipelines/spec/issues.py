"""Turn pydantic validation errors into `SpecIssue`s: file:line:column, key path, expected/got, hints."""

from __future__ import annotations

import difflib
import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pipelines.errors import SpecIssue
from pipelines.spec.yaml_marks import Located


def _known_kinds() -> list[str]:
    from pipelines.quality.registry import MODELS

    return sorted(MODELS)


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of `loc` (for 'did you mean' candidates)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            if part in current.model_fields:
                current = _unwrap(current.model_fields[part].annotation, None)
                continue
            return current
        if isinstance(current, tuple):  # a union of rule models: part is the kind tag
            match = [m for m in current if _kind_of(m) == part]
            current = match[0] if match else None
            continue
        return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _kind_of(model: type[BaseModel]) -> str | None:
    f = model.model_fields.get("kind")
    if f is None:
        return None
    args = typing.get_args(f.annotation)
    return str(args[0]) if args else None


def _unwrap(annotation: Any, _: Any) -> Any:
    """Strip Optional/tuple/Annotated down to a model class or a tuple of union members."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _unwrap(args[0], None)
    if origin in (tuple, list):
        return _unwrap(args[0], None) if args else None
    if args and origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        members = [a for a in args if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if len(models) == 1:
            return models[0]
        if models:
            return tuple(models)
        return None
    return annotation


def _path_str(loc: tuple[Any, ...], located: Located) -> str:
    parts: list[str] = []
    node_data: Any = located.data
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
            node_data = node_data[p] if isinstance(node_data, list) and p < len(node_data) else None
        elif isinstance(node_data, dict) and p in node_data:
            parts.append(("." if parts else "") + str(p))
            node_data = node_data[p]
        elif isinstance(node_data, dict) and p not in node_data and node_data.get("kind") == p:
            continue  # discriminator tag inserted by pydantic
        else:
            parts.append(("." if parts else "") + str(p))
            node_data = None
    return "".join(parts)


def _issues_from_validation(e: ValidationError, located: Located, model: type[BaseModel]) -> list[SpecIssue]:
    issues = []
    for err in e.errors():
        loc = tuple(err["loc"])
        etype = err["type"]
        hint = None
        if etype == "extra_forbidden":
            key = str(loc[-1])
            owner = _model_at(model, loc[:-1])
            candidates = list(owner.model_fields) if owner else []
            close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
            message = f"unknown key `{key}`"
            hint = f"did you mean `{close[0]}`?" if close else (f"allowed keys: {', '.join(candidates)}" if candidates else None)
            line, col = located.locate(loc, at_key=True)
        elif etype == "missing":
            message = f"required key `{loc[-1]}` is missing"
            owner = _model_at(model, loc[:-1])
            fld = owner.model_fields.get(str(loc[-1])) if owner else None
            if fld is not None and fld.description:
                hint = f"add `{loc[-1]}:` ({fld.description})"
            line, col = located.locate(loc[:-1])
        elif etype == "union_tag_invalid":
            got = err.get("ctx", {}).get("tag")
            kinds = _known_kinds()
            close = difflib.get_close_matches(str(got), kinds, n=1, cutoff=0.5)
            message = f"unknown rule kind `{got}`"
            hint = f"did you mean `{close[0]}`?" if close else f"known kinds: {', '.join(kinds)}"
            line, col = located.locate((*loc, "kind"))
        elif etype == "finite_number":
            message = f"`{loc[-1]}` must be a finite number, got {err.get('input')}"
            hint = "write a number (or null where the key allows it); NaN and infinity bound nothing"
            line, col = located.locate(loc)
        elif etype == "union_tag_not_found":
            kinds = _known_kinds()
            message = "rule has no `kind`"
            hint = f"add `kind:` with one of {', '.join(kinds)}"
            line, col = located.locate(loc)
        else:
            got = err.get("input")
            shown = json.dumps(got, default=str) if not isinstance(got, dict) else "a mapping"
            if len(shown) > 60:
                shown = shown[:57] + "..."
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
                message = msg
            else:
                message = f"expected {msg[0].lower() + msg[1:]}, got {shown}"
            line, col = located.locate(loc)
        issues.append(
            SpecIssue(
                file=located.display,
                line=line,
                column=col,
                key_path=_path_str(loc, located),
                message=message,
                hint=hint,
            )
        )
    return issues


def issues_from_validation(e: ValidationError, located: Located, model: type[BaseModel]) -> list[SpecIssue]:
    """The problems of a pydantic validation error as `SpecIssue`s located in the YAML they came from."""
    return _issues_from_validation(e, located, model)


def validate_model(
    model: type[BaseModel], located: Located, context: dict[str, Any] | None = None
) -> tuple[Any, list[SpecIssue]]:
    if not isinstance(located.data, dict):
        return None, [
            SpecIssue(
                located.display,
                1,
                1,
                "",
                "expected a mapping at the top of the file",
                "see README.md, `Add a dataset in three files`",
            )
        ]
    try:
        return model.model_validate(located.data, context=context), []
    except ValidationError as e:
        return None, _issues_from_validation(e, located, model)


def parse_file(
    model: type[BaseModel], path: Path, display: str, issues: list[SpecIssue], context: dict[str, Any] | None = None
) -> tuple[Any, Located | None]:
    """Read a YAML file with positions and validate it as `model`; every problem goes to `issues`.

    `context` is passed to pydantic's validators (column selectors read the dataset's columns from it).

    Returns (the model or None, the located YAML or None when the file is not readable YAML).
    """
    from pipelines.errors import SpecError

    try:
        located = Located(path, display)
    except SpecError as e:
        issues.extend(e.issues)
        return None, None
    obj, errs = validate_model(model, located, context)
    issues.extend(errs)
    return obj, located
