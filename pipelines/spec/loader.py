"""Load `dataset_specs/*.yaml` and their rule files into typed, cross-checked objects.

Three steps, all before any data is read: YAML with positions -> pydantic models -> cross-file checks
(rule columns exist, rule ids unique, expressions parse). Every problem found is collected and raised
together as one `SpecError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model

from pipelines.errors import SpecError, SpecIssue
from pipelines.models.demand import Demand
from pipelines.paths import relative
from pipelines.spec.checks import check_rules_against_spec
from pipelines.spec.column_checks import check_columns
from pipelines.spec.containment import inside, master_issues, spec_path_issues
from pipelines.spec.derive import check_derived
from pipelines.spec.expand import ResolvedGroup, expand_columns
from pipelines.spec.issues import parse_file, validate_model
from pipelines.spec.models import Column, DatasetSpec, RuleFile
from pipelines.spec.rules import RULE_KINDS, NotNull, Rule, RuleBase, Unique
from pipelines.spec.selectors import Selection, lenient, selection_context
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
    demands: tuple[Demand, ...] = ()
    groups: tuple[ResolvedGroup, ...] = ()  # what each `columns_from` entry became (its members are in spec.columns)
    selections: tuple[Selection, ...] = ()  # what each selector in its rules and demands selected

    @property
    def name(self) -> str:
        """Dataset name."""
        return self.spec.name


@dataclass
class Project:
    """A moshu project: a folder with `dataset_specs/`, `quality_rules/` and raw data."""

    root: Path
    datasets: dict[str, LoadedDataset] = field(default_factory=dict)


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
        "source": {k: v for k, v in d["source"].items() if k != "landing"},  # how files arrive is not data
        "columns": [{k: c[k] for k in (*_DATA_COLUMN_FIELDS, *Column.ADDED_LATER) if k in c} for c in d["columns"]],
        "primary_key": d["primary_key"],
    }
    if spec.personal_columns:  # pseudonymised columns publish other values
        data["personal"] = spec.personal_columns
    if spec.partitions is not None:  # which file and which rows make each partition
        data["partitions"] = d["partitions"]
    if spec.enrich:  # the files joined on, how, and the columns they bring (descriptions are metadata)
        data["enrich"] = [
            {**e, "columns": [{k: v for k, v in c.items() if k != "description"} for c in e["columns"]]} for e in d["enrich"]
        ]
    return _sha(data), _sha(d)


def rules_hash(rules: tuple[RuleBase, ...]) -> str:
    """Hash of what the rules check (descriptions excluded), order-independent."""
    parts = sorted(json.dumps(r.model_dump(mode="json", exclude=set(_RULE_METADATA_FIELDS)), sort_keys=True) for r in rules)
    return _sha(parts)


def implied_rules(spec: DatasetSpec) -> list[RuleBase]:
    """Rules the spec implies: not_null for non-nullable and key columns, unique for the primary key."""
    out: list[RuleBase] = []
    key = set(spec.primary_key)
    for c in spec.declared_columns:
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


KINDS_PACKAGE = "moshu_project_kinds"


def _kinds_package() -> ModuleType:
    """The namespace the project's kind modules are imported under (it has no files of its own)."""
    package = ModuleType(KINDS_PACKAGE, "The project's own rule kinds (quality_rules/kinds/*.py).")
    package.__path__ = []
    return package


def load_project_kinds(root: Path) -> list[SpecIssue]:
    """Import the project's own rule kinds from `quality_rules/kinds/*.py` (each calls `register_kind`)."""
    import importlib.util

    issues: list[SpecIssue] = []
    for path in sorted((root / RULES_DIR / KINDS_DIR).glob("*.py")):
        name = f"{KINDS_PACKAGE}.{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        # Importable by name, so that rules of the kind pickle by reference: the Great Expectations worker
        # (`pipelines.quality.ge_worker`) loads the same files under the same names and receives them.
        sys.modules.setdefault(KINDS_PACKAGE, _kinds_package())
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # a broken plugin is the author's error, reported like a spec error
            sys.modules.pop(name, None)
            line = None
            tb = e.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == str(path):
                    line = tb.tb_lineno
                tb = tb.tb_next
            issues.append(
                SpecIssue(
                    relative(path, root),
                    line,
                    None,
                    "",
                    f"custom rule kind failed to load: {type(e).__name__}: {e}",
                    "see docs/custom_rules.md",
                )
            )
    return issues


_RuleCache = dict[tuple[Path, str], tuple[BaseModel | None, Located | None]]


def _load_rule_file(
    path: Path, root: Path, cache: _RuleCache, issues: list[SpecIssue], context: dict[str, Any] | None = None, key: str = ""
) -> None:
    """Parse a rule file once per dataset (`key`) into `cache`, adding its problems to `issues`.

    The dataset's selection `context` resolves column selectors; a problem found for two datasets is reported once.
    """
    if (path, key) in cache:
        return
    parsed = next((loc for (p, _), (_, loc) in cache.items() if p == path and loc is not None), None)
    if parsed is None:
        cache[path, key] = parse_file(rule_file_model(), path, relative(path, root), issues, context or lenient())
        return
    obj, errs = validate_model(rule_file_model(), parsed, context or lenient())  # the YAML is parsed once per file
    issues.extend(errs)
    cache[path, key] = (obj, parsed)


def _check_derived_grades(specs: dict[str, DatasetSpec], spec_dir: Path, root: Path, issues: list[SpecIssue]) -> None:
    """A dataset derived from others is graded at least as high as the highest of them (GB/T 43697)."""
    from pipelines.spec.models import GRADE_ORDER

    for spec in specs.values():
        c = spec.classification
        display = relative(spec_dir / f"{spec.name}.yaml", root)
        for i, src in enumerate(c.derived_from):
            if src == spec.name:
                message = f"`{spec.name}` names itself in `derived_from`: a dataset cannot be derived from itself"
                hint = "list the datasets it is built from, or remove `derived_from`"
                issues.append(SpecIssue(display, None, None, f"classification.derived_from[{i}]", message, hint))
                continue
            if src not in specs:
                close = difflib.get_close_matches(src, list(specs), n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"datasets: {', '.join(sorted(specs))}"
                issues.append(SpecIssue(display, None, None, f"classification.derived_from[{i}]", f"no dataset `{src}`", hint))
                continue
            theirs = specs[src].classification.grade
            if GRADE_ORDER.index(c.grade) < GRADE_ORDER.index(theirs):
                issues.append(
                    SpecIssue(
                        display, None, None, "classification.grade",
                        f"`{spec.name}` is graded {c.grade} but is derived from `{src}`, graded {theirs}",
                        f"grade it at least `{theirs}`",
                    )
                )  # fmt: skip


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
    all_specs: dict[str, DatasetSpec] = {}
    all_groups: dict[str, tuple[ResolvedGroup, ...]] = {}
    for path in spec_paths:
        display = relative(path, root)
        spec, located = parse_file(DatasetSpec, path, display, issues)
        if located is None:
            continue
        if spec is None:
            # Still check the rule files it names, so one `moshu check` reports every problem.
            declared = located.data.get("rules") if isinstance(located.data, dict) else None
            for rel in declared if isinstance(declared, list) else []:
                rpath = (root / str(rel)).resolve()
                if inside(rpath, root) and rpath.is_file():
                    _load_rule_file(rpath, root, rule_cache, issues)
            continue
        outside = spec_path_issues(spec, located, display, root)  # before any file it names is opened
        if outside:
            issues.extend(outside)
            continue
        spec, groups = expand_columns(spec, located, root, issues)
        if spec is None:
            continue
        all_specs.setdefault(spec.name, spec)
        all_groups.setdefault(spec.name, groups)
        selection = selection_context(spec, groups)
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
                close = difflib.get_close_matches(rel, [relative(p, root) for p in (root / RULES_DIR).glob("*.y*ml")], n=1)
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
            _load_rule_file(rpath, root, rule_cache, issues, selection.context(), spec.name)
            cached_rf, cached_loc = rule_cache[rpath, spec.name]
            if cached_rf is not None and cached_loc is not None:
                rules.extend((r, cached_loc, j) for j, r in enumerate(getattr(cached_rf, "rules", ())))
        issues.extend(master_issues(rules, root))  # not read: `check_rules_against_spec` only asks if it exists
        check_rules_against_spec(spec, rules, issues, root)
        check_columns(spec, located, issues)
        check_derived(spec, located, issues)
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
            groups=groups,
            selections=tuple(selection.resolved),
        )
    _check_derived_grades(all_specs, spec_dir, root, issues)
    from pipelines.models.demand_loader import load_demands

    contexts = {n: selection_context(s, all_groups[n]) for n, s in all_specs.items()}
    for ds, demands in load_demands(spec_dir, root, all_specs, issues, contexts).items():
        if ds in project.datasets:
            picked = (*project.datasets[ds].selections, *contexts[ds].resolved)
            project.datasets[ds] = dataclasses.replace(project.datasets[ds], demands=tuple(demands), selections=picked)
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
        raise SpecError(list(dict.fromkeys(issues)))  # a rule file shared by two datasets reports a problem once
    return project


__all__ = ["LoadedDataset", "Project", "Rule", "implied_rules", "load_project", "rules_hash", "spec_hashes"]
