"""Load `dataset_specs/*.yaml` and their rule files into typed, cross-checked objects.

Three steps, all before any data is read: YAML with positions -> pydantic models -> cross-file checks
(rule columns exist, rule ids unique, expressions parse). Every problem found is collected and raised
together as one `SpecError`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError, create_model

from pipelines.errors import SpecError, SpecIssue
from pipelines.spec.models import NUMERIC_DTYPES, TIME_DTYPES, DatasetSpec, RuleFile
from pipelines.spec.rules import RULE_KINDS, NotNull, Rule, RuleBase, Unique
from pipelines.spec.yaml_marks import Located

SPECS_DIR = "dataset_specs"
RULES_DIR = "quality_rules"


@dataclass(frozen=True)
class LoadedDataset:
    """A spec with its rules resolved: declared rules plus the ones the spec itself implies."""

    spec: DatasetSpec
    spec_path: Path
    rule_files: tuple[Path, ...]
    rules: tuple[RuleBase, ...]
    spec_data_hash: str
    spec_metadata_hash: str
    rules_hash: str

    @property
    def name(self) -> str:
        """Dataset name."""
        return self.spec.name


@dataclass
class Project:
    """A moshu project: a folder with `dataset_specs/`, `quality_rules/` and raw data."""

    root: Path
    datasets: dict[str, LoadedDataset] = field(default_factory=dict)


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


# Spec fields that change what data is published; everything else is metadata.
# (role and unit decide which guide clauses a rule measures and whether units are consistent.)
_DATA_COLUMN_FIELDS = ("name", "source", "from_path", "dtype", "format", "nullable", "role", "unit")
_RULE_METADATA_FIELDS = ("description",)


def spec_hashes(spec: DatasetSpec) -> tuple[str, str]:
    """Return (data_hash, metadata_hash) of a spec: only the first decides whether data changes."""
    d = spec.model_dump(mode="json")
    data = {
        "name": d["name"],
        "source": d["source"],
        "columns": [{k: c[k] for k in _DATA_COLUMN_FIELDS} for c in d["columns"]],
        "primary_key": d["primary_key"],
    }
    return _sha(data), _sha(d)


def rules_hash(rules: tuple[RuleBase, ...]) -> str:
    """Hash of what the rules check (descriptions excluded), order-independent."""
    parts = sorted(json.dumps(r.model_dump(mode="json", exclude=set(_RULE_METADATA_FIELDS)), sort_keys=True) for r in rules)
    return _sha(parts)


def implied_rules(spec: DatasetSpec) -> list[RuleBase]:
    """Rules the spec implies: not_null for non-nullable and key columns, unique for the primary key."""
    out: list[RuleBase] = []
    key = set(spec.primary_key)
    for c in spec.columns:
        if not c.nullable or c.name in key:
            out.append(
                NotNull(
                    kind="not_null",
                    id=f"schema.not_null.{c.name}",
                    column=c.name,
                    description=f"`{c.name}` is declared non-nullable in the spec.",
                )
            )
    if spec.primary_key:
        out.append(
            Unique(
                kind="unique",
                id="schema.primary_key",
                columns=spec.primary_key,
                description=f"Primary key ({', '.join(spec.primary_key)}) identifies one row.",
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# pydantic errors -> SpecIssues


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


def _validate(model: type[BaseModel], located: Located) -> tuple[Any, list[SpecIssue]]:
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
        return model.model_validate(located.data), []
    except ValidationError as e:
        return None, _issues_from_validation(e, located, model)


# ---------------------------------------------------------------------------------------------
# cross-file checks


def _check_rules_against_spec(
    spec: DatasetSpec, rules: list[tuple[RuleBase, Located, int]], issues: list[SpecIssue], root: Path
) -> None:
    names = spec.column_names
    seen: dict[str, str] = {}
    checks: dict[str, str] = {}
    for rule, located, idx in rules:
        where = located.locate(("rules", idx))
        if rule.id in seen:
            issues.append(
                SpecIssue(
                    located.display,
                    *where,
                    f"rules[{idx}].id",
                    f"rule id `{rule.id}` is used twice (also in {seen[rule.id]})",
                    "rule ids must be unique per dataset",
                )
            )
        seen[rule.id] = located.display
        if rule.id.startswith("schema."):
            issues.append(
                SpecIssue(
                    located.display,
                    *where,
                    f"rules[{idx}].id",
                    f"rule ids starting with `schema.` are reserved for the rules the spec implies (`{rule.id}`)",
                    "choose another prefix, e.g. the dataset name",
                )
            )
        mangled = rule.id.replace(".", "__").replace("-", "_")
        if mangled in checks and checks[mangled] != rule.id:
            issues.append(
                SpecIssue(
                    located.display,
                    *where,
                    f"rules[{idx}].id",
                    f"rule ids `{checks[mangled]}` and `{rule.id}` are the same Dagster check name `{mangled}`",
                    "make them differ by more than `.`, `-` and `_`",
                )
            )
        checks[mangled] = rule.id
        for col in rule.columns_used():
            if col not in names:
                close = difflib.get_close_matches(col, names, n=1, cutoff=0.5)
                key = _key_naming(rule, col)
                line, c = located.locate(("rules", idx, key))
                issues.append(
                    SpecIssue(
                        located.display,
                        line,
                        c,
                        f"rules[{idx}].{key}",
                        f"rule `{rule.id}` uses column `{col}`, which dataset `{spec.name}` does not have",
                        f"did you mean `{close[0]}`?" if close else f"columns are: {', '.join(names)}",
                    )
                )
        for key, message, hint in _semantic_problems(rule, spec, root):
            line, c = located.locate(("rules", idx, key))
            issues.append(SpecIssue(located.display, line, c, f"rules[{idx}].{key}", message, hint))


def _key_naming(rule: RuleBase, col: str) -> str:
    """The rule's key whose value names `col` (for the error position)."""
    for key, value in rule.model_dump().items():
        if value == col or (isinstance(value, list | tuple) and col in value):
            return key
    return "expr" if hasattr(rule, "expr") else "kind"


def _semantic_problems(rule: RuleBase, spec: DatasetSpec, root: Path) -> list[tuple[str, str, str | None]]:
    """Problems a rule has with the spec beyond unknown columns: (key, message, hint)."""
    from pipelines.quality.units import convertible, valid

    out: list[tuple[str, str, str | None]] = []
    cols = {c.name: c for c in spec.columns}
    kind = rule.kind
    ts = getattr(rule, "timestamp", None)
    if ts in cols and cols[ts].dtype not in NUMERIC_DTYPES | TIME_DTYPES:
        out.append(
            (
                "timestamp",
                f"`{ts}` is a {cols[ts].dtype} column; a timestamp must be a datetime or a number (e.g. a cycle)",
                "convert it in the spec (`dtype: datetime` with `format:`)",
            )
        )
    numeric = NUMERIC_DTYPES
    value = getattr(rule, "column", None)
    if (
        kind in ("in_range", "outlier_share", "spike", "rate_of_change", "flat_line", "attenuated_signal")
        and value in cols
        and cols[value].dtype not in numeric
    ):
        out.append(
            (
                "column",
                f"rule kind `{kind}` needs a numeric column; `{value}` is {cols[value].dtype}",
                "use `in_set` or `regex` for text",
            )
        )
    if kind == "reference":
        master = root / str(getattr(rule, "master", ""))
        if not master.is_file():
            out.append(
                (
                    "master",
                    f"master data `{getattr(rule, 'master', '')}` does not exist",
                    "paths are relative to the project root",
                )
            )
    if kind == "unit_consistency":
        target = str(getattr(rule, "unit", ""))
        if not valid(target):
            out.append(("unit", f"`{target}` is not a unit the units library knows", "write e.g. `degC`, `K`, `bar`, `rpm`"))
        for c in getattr(rule, "columns", ()):
            if c in cols and not cols[c].unit:
                out.append(
                    (
                        "columns",
                        f"column `{c}` declares no `unit:` in the spec, so its unit cannot be checked",
                        f"add `unit:` to column `{c}`",
                    )
                )
            elif c in cols and valid(target) and not convertible(cols[c].unit, target):
                out.append(
                    (
                        "columns",
                        f"column `{c}` is declared in `{cols[c].unit}`, which does not convert to `{target}`",
                        "fix the column's unit or the rule's `unit`",
                    )
                )
    expr = getattr(rule, "expr", None)
    if expr and all(c in cols for c in rule.columns_used()):
        import polars as pl

        from pipelines.quality.kinds import POLARS_DTYPES

        empty = pl.LazyFrame(schema={c.name: POLARS_DTYPES[c.dtype] for c in spec.columns})
        try:
            dtype = empty.select(pl.sql_expr(str(expr)).alias("r")).collect().schema["r"]
            if dtype != pl.Boolean:
                out.append(("expr", f"`{expr}` gives {dtype}, not true/false", "write a comparison, e.g. `a = b + c`"))
        except pl.exceptions.PolarsError as e:
            out.append(
                (
                    "expr",
                    f"`{expr}` does not fit the columns' types: {str(e).splitlines()[0]}",
                    "compare numbers with numbers and text with text",
                )
            )
    if kind == "in_set" and value in cols and cols[value].dtype != "string":
        import polars as pl

        from pipelines.quality.kinds import POLARS_DTYPES

        try:
            pl.Series(list(getattr(rule, "values", ())), strict=False).cast(POLARS_DTYPES[cols[value].dtype], strict=True)
        except pl.exceptions.PolarsError:
            out.append(
                (
                    "values",
                    f"`values` are not all valid {cols[value].dtype} values for column `{value}`",
                    "list values of the column's type",
                )
            )
    clause_id = rule.clause
    if clause_id is not None:
        from pipelines.quality.guide import BY_ID

        if clause_id not in BY_ID:
            close = difflib.get_close_matches(clause_id, list(BY_ID), n=1)
            out.append(
                (
                    "clause",
                    f"`{clause_id}` is not a clause of the guide",
                    f"did you mean `{close[0]}`?" if close else "see docs/guide.md",
                )
            )
    return out


def _known_kinds() -> list[str]:
    from pipelines.quality.registry import MODELS

    return sorted(MODELS)


def rule_file_model() -> type[BaseModel]:
    """The rule-file model over every registered kind (built-in and project kinds)."""
    from pipelines.quality.registry import MODELS

    models = tuple(MODELS.values())
    if set(models) == set(RULE_KINDS):
        return RuleFile
    union = typing.Union[models]  # type: ignore[valid-type]  # noqa: UP007 - built from a runtime tuple
    return create_model(  # type: ignore[call-overload, no-any-return]
        "RuleFile",
        __base__=RuleFile,
        rules=(tuple[Annotated[union, Field(discriminator="kind")], ...], Field(min_length=1)),  # type: ignore[maybe-unrecognized-str-typeform]
    )


KINDS_DIR = "kinds"


def load_project_kinds(root: Path) -> list[SpecIssue]:
    """Import the project's own rule kinds from `quality_rules/kinds/*.py` (each calls `register_kind`)."""
    import importlib.util

    issues: list[SpecIssue] = []
    for path in sorted((root / RULES_DIR / KINDS_DIR).glob("*.py")):
        name = f"moshu_project_kinds.{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # a broken plugin is the author's error, reported like a spec error
            line = None
            tb = e.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == str(path):
                    line = tb.tb_lineno
                tb = tb.tb_next
            issues.append(
                SpecIssue(
                    _display(path, root),
                    line,
                    None,
                    "",
                    f"custom rule kind failed to load: {type(e).__name__}: {e}",
                    "see docs/custom_rules.md",
                )
            )
    return issues


_RuleCache = dict[Path, tuple[BaseModel | None, Located | None]]


def _load_rule_file(path: Path, root: Path, cache: _RuleCache, issues: list[SpecIssue]) -> None:
    """Parse a rule file once into `cache`, adding its problems to `issues`."""
    if path in cache:
        return
    try:
        located = Located(path, _display(path, root))
    except SpecError as e:
        issues.extend(e.issues)
        cache[path] = (None, None)
        return
    rf, errs = _validate(rule_file_model(), located)
    issues.extend(errs)
    cache[path] = (rf, located)


def load_project(root: Path, only: list[str] | None = None) -> Project:
    """Load and cross-check every spec under `root/dataset_specs` (or only the named ones).

    Raises:
        SpecError: with every problem found, each with file, line, key path and a hint.
    """
    root = root.resolve()
    spec_dir = root / SPECS_DIR
    if not spec_dir.is_dir():
        raise SpecError(
            [
                SpecIssue(
                    str(spec_dir),
                    None,
                    None,
                    "",
                    "no `dataset_specs/` folder here",
                    "run moshu from the project root or pass --project",
                )
            ]
        )
    issues: list[SpecIssue] = load_project_kinds(root)
    project = Project(root=root)
    spec_paths = sorted([*spec_dir.glob("*.yaml"), *spec_dir.glob("*.yml")])
    rule_cache: _RuleCache = {}
    for path in spec_paths:
        display = _display(path, root)
        try:
            located = Located(path, display)
        except SpecError as e:
            issues.extend(e.issues)
            continue
        spec, errs = _validate(DatasetSpec, located)
        issues.extend(errs)
        if spec is None:
            # Still check the rule files it names, so one `moshu check` reports every problem.
            declared = located.data.get("rules") if isinstance(located.data, dict) else None
            for rel in declared if isinstance(declared, list) else []:
                rpath = (root / str(rel)).resolve()
                if rpath.is_file():
                    _load_rule_file(rpath, root, rule_cache, issues)
            continue
        if only and spec.name not in only:
            continue
        if path.stem != spec.name:
            issues.append(
                SpecIssue(
                    display,
                    *located.locate(("name",)),
                    "name",
                    f"spec file is `{path.name}` but its name is `{spec.name}`",
                    f"rename the file to `{spec.name}.yaml`",
                )
            )
        if spec.name in project.datasets:
            issues.append(
                SpecIssue(display, *located.locate(("name",)), "name", f"dataset `{spec.name}` is declared twice", None)
            )
            continue
        rules: list[tuple[RuleBase, Located, int]] = []
        rule_paths: list[Path] = []
        for i, rel in enumerate(spec.rules):
            rpath = (root / rel).resolve()
            if not rpath.is_file():
                close = difflib.get_close_matches(rel, [_display(p, root) for p in (root / RULES_DIR).glob("*.y*ml")], n=1)
                issues.append(
                    SpecIssue(
                        display,
                        *located.locate(("rules", i)),
                        f"rules[{i}]",
                        f"rule file `{rel}` does not exist",
                        f"did you mean `{close[0]}`?" if close else "paths are relative to the project root",
                    )
                )
                continue
            rule_paths.append(rpath)
            _load_rule_file(rpath, root, rule_cache, issues)
            cached_rf, cached_loc = rule_cache[rpath]
            if cached_rf is not None and cached_loc is not None:
                rules.extend((r, cached_loc, j) for j, r in enumerate(getattr(cached_rf, "rules", ())))
        _check_rules_against_spec(spec, rules, issues, root)
        all_rules: tuple[RuleBase, ...] = (*implied_rules(spec), *(r for r, _, _ in rules))
        dh, mh = spec_hashes(spec)
        project.datasets[spec.name] = LoadedDataset(
            spec=spec,
            spec_path=path,
            rule_files=tuple(rule_paths),
            rules=all_rules,
            spec_data_hash=dh,
            spec_metadata_hash=mh,
            rules_hash=rules_hash(all_rules),
        )
    if only:
        unknown = [n for n in only if n not in project.datasets]
        if unknown and not issues:
            known = sorted(project.datasets) or [p.stem for p in spec_paths]
            close = difflib.get_close_matches(unknown[0], known, n=1)
            issues.append(
                SpecIssue(
                    SPECS_DIR,
                    None,
                    None,
                    "",
                    f"no dataset spec named `{unknown[0]}`",
                    f"did you mean `{close[0]}`?" if close else f"datasets: {', '.join(known)}",
                )
            )
    if issues:
        raise SpecError(issues)
    return project


__all__ = ["LoadedDataset", "Project", "Rule", "implied_rules", "load_project", "rules_hash", "spec_hashes"]
