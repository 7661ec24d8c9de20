"""`moshu init NAME PATH_OR_GLOB`: draft a dataset's first spec and rules from its raw files (registered by `pipelines.cli`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

_out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
_err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)


def init(
    name: Annotated[
        str,
        typer.Argument(help="Dataset name (lowercase, digits, `_`): writes dataset_specs/NAME.yaml and quality_rules/NAME.yaml."),
    ],
    path: Annotated[
        str, typer.Argument(help="Raw file, folder or glob inside the project, e.g. `seeds/press/*.csv` (quote globs).")
    ],
    grade: Annotated[
        str | None, typer.Option(help="GB/T 43697 grade: general, important, core (default important, marked REVIEW).")
    ] = None,
    domain: Annotated[str | None, typer.Option(help="r_and_d, production, operations_maintenance, management, external.")] = None,
    cdo: Annotated[str | None, typer.Option(help="The accountable chief data officer.")] = None,
    owner: Annotated[str | None, typer.Option(help="Team or person accountable for the dataset.")] = None,
    license: Annotated[str | None, typer.Option(help="License of the data (SPDX id where one exists).")] = None,
    sensitivity: Annotated[
        str | None, typer.Option(help="Default column sensitivity: personal, confidential (default), public.")
    ] = None,
    retention: Annotated[str | None, typer.Option(help="How long versions are kept, ISO 8601 (default P5Y).")] = None,
    title: Annotated[str | None, typer.Option(help="Human title.")] = None,
    description: Annotated[str | None, typer.Option(help="What the dataset holds and what it is for.")] = None,
    names: Annotated[
        Path | None, typer.Option("--names", help="File with one column name per line, for files without a header.")
    ] = None,
    no_groups: Annotated[
        bool, typer.Option("--no-groups", help="List every column of a wide file instead of `columns_from` groups.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print both files instead of writing them.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing spec or rule file.")] = False,
    project: Annotated[
        Path | None, typer.Option("--project", "-p", help="Project folder (default: as for the other commands).")
    ] = None,
) -> None:
    """Write a first spec and rule file for NAME from a bounded sample of its raw files; review the REVIEW lines."""
    from pipelines.errors import MoshuError
    from pipelines.init.draft import InitOptions, init_dataset, write
    from pipelines.settings import Settings

    options = InitOptions(
        grade=grade, domain=domain, cdo=cdo, owner=owner, license=license, sensitivity=sensitivity, retention=retention,
        title=title, description=description, groups=not no_groups, names_file=names,
    )  # fmt: skip
    try:
        root = Settings.resolve(project).project
        draft = init_dataset(root, name, path, options)
        if dry_run:
            _out.print(f"# --- {draft.spec_path}", markup=False, highlight=False)
            _out.print(draft.spec_text, markup=False, highlight=False)
            _out.print(f"# --- {draft.rules_path}", markup=False, highlight=False)
            _out.print(draft.rules_text, markup=False, highlight=False)
            return
        write(root, draft, force=force)
    except MoshuError as e:
        _err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(1) from None
    t = Table("column", "dtype", "role", "unit", "nulls", title=f"{name}: {draft.sample.rows:,} rows profiled")
    for c in draft.columns:
        t.add_row(c.name, c.dtype, c.role + (" (personal)" if c.personal else ""), c.unit or "", f"{c.nulls:,}")
    _out.print(t)
    _out.print(f"wrote {draft.spec_path} and {draft.rules_path} ({len(draft.rules)} rules)")
    _out.print(f"next: review the lines marked REVIEW, then `moshu check` and `moshu run {name}`")
