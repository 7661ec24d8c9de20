"""`moshu init`: profile a new dataset's raw files and write its first spec and rule file."""

from __future__ import annotations

import difflib
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from pipelines.errors import InitError, SpecError
from pipelines.init import structure as st
from pipelines.init.names import column_names
from pipelines.init.profile import ColumnProfile, profile_column, typed_series
from pipelines.init.sample import PATH, Sample, format_of, match_files
from pipelines.init.suggest import Suggestion, n, suggest
from pipelines.init.text import sample_text
from pipelines.init.typed import sample_typed
from pipelines.init.write import column_entry, column_note, render_rules, render_spec
from pipelines.paths import relative
from pipelines.spec.models import NAME_PATTERN, RESERVED_NAMES, DatasetSpec, Domain, Grade, RuleFile, Sensitivity

SPECS_DIR = "dataset_specs"
RULES_DIR = "quality_rules"
DEFAULTS = {
    "grade": "important",
    "domain": "production",
    "cdo": "unassigned",
    "owner": "unassigned",
    "retention": "P5Y",
    "sensitivity": "confidential",
}


@dataclass(frozen=True)
class InitOptions:
    """What the user said about the dataset; None means the conservative default, marked for review."""

    grade: str | None = None
    domain: str | None = None
    cdo: str | None = None
    owner: str | None = None
    license: str | None = None
    sensitivity: str | None = None
    retention: str | None = None
    title: str | None = None
    description: str | None = None
    groups: bool = True
    names_file: Path | None = None


@dataclass
class Draft:
    """A drafted dataset: what was profiled and the two files' text."""

    name: str
    glob: str
    sample: Sample
    columns: list[ColumnProfile]
    structure: st.Structure
    rules: list[Suggestion]
    spec_text: str = ""
    rules_text: str = ""
    grouped: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def spec_path(self) -> str:
        """Where the spec goes, relative to the project root."""
        return f"{SPECS_DIR}/{self.name}.yaml"

    @property
    def rules_path(self) -> str:
        """Where the rules go, relative to the project root."""
        return f"{RULES_DIR}/{self.name}.yaml"


def read_sample(root: Path, files: list[Path], names_path: Path | None = None) -> Sample:
    """Read a bounded sample of the files: at most `MAX_FILES` files, `FILE_BYTES` each, `MAX_ROWS` rows in all.

    Args:
        root: The project root.
        files: The matched raw files.
        names_path: A file with one column name per line, for files without a header.

    Raises:
        SourceError: a file cannot be read; the message names it, says why and what to do.
    """
    fmt = format_of(files)
    if fmt == "csv":
        return sample_text(root, files, names_path)
    return sample_typed(root, files, fmt)


def _check_choice(option: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        close = difflib.get_close_matches(value, allowed, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise InitError(f"`--{option} {value}` is not one of {', '.join(allowed)}{hint}")


def _check_name(name: str) -> None:
    import re

    if not re.match(NAME_PATTERN, name) or "__" in name:
        raise InitError(f"dataset name `{name}` must be lowercase letters, digits and single `_`, starting with a letter")
    if name in RESERVED_NAMES:
        raise InitError(f"`{name}` is reserved for the catalog; choose another name")


def profile(root: Path, name: str, pattern: str, options: InitOptions) -> Draft:
    """Sample the files and infer columns, roles, key and rules.

    Args:
        root: The project root.
        name: The dataset name.
        pattern: File, folder or glob of the raw files, inside the project.
        options: What the user declared.

    Raises:
        InitError: a bad name or option.
        SourceError: no file matches, or a file cannot be read.
    """
    _check_name(name)
    for opt, allowed in (("grade", Grade), ("domain", Domain), ("sensitivity", Sensitivity)):
        _check_choice(opt, getattr(options, opt), typing.get_args(allowed))
    rel, files = match_files(root, pattern)
    names_path = None
    if options.names_file is not None:
        names_path = options.names_file if options.names_file.is_absolute() else root / options.names_file
        if not names_path.is_file():
            raise InitError(f"names file `{options.names_file}` does not exist; give a file with one column name per line")
    sample = read_sample(root, files, names_path)
    df = sample.frame
    pairs = column_names(sample.raw_names)
    cols: list[ColumnProfile] = []
    typed: dict[str, pl.Series] = {}
    path_col = st.path_column([relative(f, root) for f in files], {p[0] for p in pairs})
    if path_col:
        values = df.get_column(PATH).str.extract(path_col[1], 1)
        pc = ColumnProfile(
            raw=path_col[0],
            name=path_col[0],
            dtype="string",
            role="attribute",
            rows=df.height,
            nulls=values.null_count(),
            distinct=values.n_unique(),
            from_path=path_col[1],
        )
        cols.append(pc)
        typed[pc.name] = values
    tokens: set[str] = set()
    for raw, (cname, unit) in zip(sample.raw_names, pairs, strict=True):
        p, seen = profile_column(raw, cname, unit, df.get_column(raw), sample.native.get(raw))
        tokens |= set(seen)
        cols.append(p)
        typed[p.name] = typed_series(p, df.get_column(raw))
    sample.null_values = sorted(tokens)
    frame = pl.DataFrame(typed).with_columns(df.get_column(PATH))
    s = st.Structure()
    st.find_time_axis(cols, frame, PATH, s)
    st.find_one_hot(cols, frame, s)
    st.mark_roles(cols, s)
    st.find_key(cols, frame, s)
    st.features_seen(cols, frame, s)
    s.duplicate_rows = frame.height - frame.drop(PATH).n_unique()
    s.groups = st.find_groups(sample.raw_names, cols)
    grouped = bool(s.groups) and options.groups
    members = _name_members(s.groups, cols) if grouped else {}
    draft = Draft(name, rel, sample, cols, s, suggest(name, cols, s, frame.height, sample.complete, members))
    draft.grouped = grouped
    return draft


def group_template(i: int, pattern: str) -> tuple[str, str, str]:
    """(pattern with one capture group, name template, group id) of the `i`-th wide group.

    The template is filled by the spec's own resolver (`pipelines.spec.groups.member_name`), so the
    names the suggested rules use are the names the loaded spec gives the members.
    """
    if pattern == r"^\d+$":
        return pattern, "s{:03d}", "sensors"
    stem = re.sub(r"[^a-z0-9]+", "_", pattern.split("\\d+")[0].lstrip("^").replace("\\", "").lower()).strip("_")
    captured = pattern.replace("\\d+", "(\\d+)", 1)
    return captured, f"{stem or f'g{i}'}_{{1}}", stem or f"group_{i}"


def _name_members(groups: list[tuple[str, str, list[str]]], cols: list[ColumnProfile]) -> dict[str, str]:
    """Give each wide-group member its published name (in place); returns member name -> group id."""
    from pipelines.spec.groups import member_name

    by_raw = {c.raw: c for c in cols}
    out: dict[str, str] = {}
    for i, (pattern, _dtype, raws) in enumerate(groups):
        captured, template, gid = group_template(i, pattern)
        for raw in raws:
            match = re.search(captured, raw)
            c = by_raw[raw]
            c.name = member_name(template, raw, match)
            c.role = "measurement"
            out[c.name] = gid
    return out


def _csv_options(sample: Sample) -> dict[str, Any]:
    o: dict[str, Any] = {"delimiter": sample.delimiter, "header": sample.header}
    if sample.delimiter == "whitespace" and sample.header:
        o |= {"header": False, "skip_rows": 1}
    if not o["header"] or sample.renamed:
        o["column_names"] = list(sample.raw_names)
    if sample.decimal_comma:
        o["decimal_comma"] = True
    if sample.null_values:
        o["null_values"] = ["", *sample.null_values]
    if sample.encoding != "utf8":
        o["encoding"] = sample.encoding
    return o


def _group_entries(draft: Draft) -> tuple[list[tuple[dict[str, Any], str]], set[str]]:
    """`columns_from` items and the raw columns they cover (empty unless groups are written)."""
    if not draft.grouped:
        return [], set()
    items, covered = [], set()
    for i, (pattern, dtype, members) in enumerate(draft.structure.groups):
        captured, template, gid = group_template(i, pattern)
        items.append(
            (
                {"id": gid, "pattern": captured, "name": template, "dtype": dtype, "role": "measurement"},
                f"seen: {len(members)} {dtype} columns named like `{members[0]}`",
            )
        )
        covered |= set(members)
    return items, covered


def render(draft: Draft, options: InitOptions) -> None:
    """Write the spec and rule text into the draft (see `pipelines.init.write`)."""
    sample, s = draft.sample, draft.structure

    def chosen(key: str, value: str | None, what: str) -> tuple[str, str | None]:
        return (value, None) if value is not None else (DEFAULTS[key], f"REVIEW: default; {what}")

    grade, grade_note = chosen("grade", options.grade, "GB/T 43697 general | important | core (--grade)")
    domain, domain_note = chosen(
        "domain", options.domain, "r_and_d | production | operations_maintenance | management | external"
    )
    cdo, cdo_note = chosen("cdo", options.cdo, "the accountable chief data officer (--cdo)")
    owner, owner_note = chosen("owner", options.owner, "the team accountable for the dataset (--owner)")
    retention, ret_note = chosen("retention", options.retention, "ISO 8601 duration (--retention)")
    sens, sens_note = chosen("sensitivity", options.sensitivity, "personal | confidential | public (--sensitivity)")
    groups, covered = _group_entries(draft)
    columns = [c for c in draft.columns if c.raw not in covered or c.from_path]
    source: list[tuple[str, Any, str | None]] = [
        ("format", sample.format, None),
        ("path", draft.glob, f"{len(sample.files)} file{'s' if len(sample.files) != 1 else ''}"),
    ]
    if sample.drift:
        source.append(("drift", "allow_new_nullable", "REVIEW: the files' columns differ (see the note at the top)"))
    if sample.format == "csv":
        note = f"column names from `{sample.names_from}`" if sample.names_from else None
        source.append(("csv", _csv_options(sample), note))
    excel: dict[str, Any] = {"header_row": sample.header_row} if sample.header_row else {}
    if sample.format == "xlsx" and sample.null_values:
        excel["null_values"] = ["", *sample.null_values]
    if sample.format == "xlsx" and excel:
        source.append(("excel", excel, f"header in Excel row {sample.header_row + 1}"))
    read = (
        "every row"
        if sample.complete
        else f"a sample of {n(sample.rows)} rows from {len(sample.sampled)} of {len(sample.files)} files"
    )
    top: list[tuple[str, Any, str | None]] = [
        ("name", draft.name, None),
        ("title", options.title or draft.name.replace("_", " ").capitalize(), None if options.title else "REVIEW: a human title"),
        (
            "description",
            options.description or f"Raw files `{draft.glob}`, described by `moshu init`.",
            None if options.description else "REVIEW: what the data holds and what it is for",
        ),
        ("owner", owner, owner_note),
        ("license", options.license, None if options.license else "REVIEW: the data's license (SPDX id)"),
        (
            "classification",
            [
                ("grade", grade, grade_note),
                ("domain", domain, domain_note),
                ("cdo", cdo, cdo_note),
                ("retention", retention, ret_note),
                ("default_sensitivity", sens, sens_note),
            ],
            None,
        ),
        ("source", source, None),
        ("columns", [(column_entry(c, s.key), column_note(c)) for c in columns], None),
    ]
    if groups:
        top.append(("columns_from", groups, "wide groups of same-typed columns (`moshu init --no-groups` lists them)"))
    if s.key:
        seen = "unique" if not s.key_repeats else f"{n(s.key_repeats)} repeated keys (rows quarantined by `schema.primary_key`)"
        top.append(("primary_key", list(s.key), f"seen: {seen}, complete in {n(sample.rows)} rows"))
    top.append(("rules", [draft.rules_path], None))
    header = [
        f"Written by `moshu init` from {read} of `{draft.glob}`.",
        "Lines marked REVIEW are guesses or defaults: check them, then `moshu check` and `moshu run " + draft.name + "`.",
        *sample.notes,
    ]
    draft.spec_text = render_spec(top, header)
    draft.rules_text = render_rules(
        draft.rules,
        [f"Suggested by `moshu init` from {read}. Each rule cites its guide clause and what the sample showed."],
    )


def validate(draft: Draft) -> None:
    """Parse the drafted texts into the spec and rule models (the loader's first step).

    Raises:
        InitError: the draft does not load (a bug in `moshu init`; the message says which key).
    """
    from pydantic import ValidationError

    for text, model, path in ((draft.spec_text, DatasetSpec, draft.spec_path), (draft.rules_text, RuleFile, draft.rules_path)):
        try:
            # selectors (`{role: measurement}`) resolve against the spec when the project loads: check their shape only
            model.model_validate(yaml.safe_load(text), context={"lenient": True})
        except ValidationError as e:
            raise InitError(f"the drafted `{path}` does not load: {e}; please report this with the file") from None


def write(root: Path, draft: Draft, *, force: bool = False) -> list[Path]:
    """Write the spec and rule file, then load the project's new dataset as `moshu check` does.

    Raises:
        InitError: a file exists and `force` is false, or the written files do not load (then they are removed).
    """
    targets = [(root / draft.spec_path, draft.spec_text), (root / draft.rules_path, draft.rules_text)]
    existing = [relative(p, root) for p, _ in targets if p.exists()]
    if existing and not force:
        raise InitError(
            f"{' and '.join(f'`{e}`' for e in existing)} already exist; pass `--force` to overwrite, or pick another name"
        )
    for path, text in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    from pipelines.spec.loader import load_project

    try:
        load_project(root, only=[draft.name])
    except SpecError as e:
        ours = [i for i in e.issues if i.file in (draft.spec_path, draft.rules_path)]
        if ours:  # problems elsewhere in the project are not this draft's to fix
            if not existing:
                for path, _ in targets:
                    path.unlink(missing_ok=True)
            raise InitError(f"the drafted files do not pass `moshu check`:\n{SpecError(ours)}") from None
    return [p for p, _ in targets]


def init_dataset(root: Path, name: str, pattern: str, options: InitOptions | None = None) -> Draft:
    """Profile the files and draft the spec and rules, validated, without writing anything.

    Args:
        root: The project root.
        name: The dataset name.
        pattern: File, folder or glob of the raw files, inside the project.
        options: Classification and other choices (defaults when None).
    """
    options = options or InitOptions()
    draft = profile(root.resolve(), name, pattern, options)
    render(draft, options)
    validate(draft)
    return draft
