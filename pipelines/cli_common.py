"""What every `moshu` command module shares: the Typer `app`, consoles, common options, exit codes, error exits.

The command modules (`pipelines.cli`, `pipelines.cli_*`) import from here and never from one another's
helpers, so there is no import cycle among them. Commands register on `app` when `pipelines.cli` is
imported: it imports the command modules in the order their commands appear in `moshu --help`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    name="moshu",
    help="Curate raw factory data into certified, versioned datasets you can query with SQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from pipelines import __version__

        typer.echo(f"moshu {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print moshu's version and exit.")
    ] = False,
) -> None:
    """Curate raw factory data into certified, versioned datasets you can query with SQL."""


# Outside a terminal (logs, CI) rich would wrap tables at 80 columns; give them room instead.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        help="Project folder (default: MOSHU_PROJECT, else the current folder if it has dataset_specs/, else the moshu checkout).",
    ),
]
WarehouseOpt = Annotated[
    Path | None, typer.Option("--warehouse", "-w", help="Warehouse folder (default: MOSHU_WAREHOUSE, else <project>/warehouse).")
]

EXIT_FAILED = 1
EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


RemoteOpt = Annotated[
    str | None,
    typer.Option(
        "--remote",
        "-r",
        help="Remote warehouse whose Delta tables are the store of record, e.g. s3://bucket/warehouse (default: MOSHU_REMOTE). "
        "Endpoint and credentials come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.",
    ),
]


def _settings(project: Path | None, warehouse: Path | None, remote: str | None = None) -> Any:
    from pipelines.errors import MoshuError
    from pipelines.settings import Settings

    try:
        return Settings.resolve(project, warehouse, remote)
    except MoshuError as e:  # e.g. a folder bound to another remote
        _fail(str(e))


def _client(project: Path | None, warehouse: Path | None) -> Any:
    from pipelines.catalog.client import CatalogClient
    from pipelines.errors import MoshuError

    try:
        return CatalogClient(_settings(project, warehouse).warehouse.root)
    except MoshuError as e:
        _fail(str(e))


def _resolved(client: Any, ref: str) -> tuple[str, int]:
    """`name[@version]` resolved by the catalog client (latest published without a version), or exit 1."""
    from pipelines.errors import MoshuError

    try:
        name, version = client.resolve(ref)
    except MoshuError as e:
        _fail(str(e))
    return name, version


def _load(project: Path | None, only: list[str] | None = None) -> Any:
    from pipelines.errors import SpecError
    from pipelines.spec.loader import load_project

    try:
        return load_project(_settings(project, None).project, only=only)
    except SpecError as e:
        err.print(str(e), highlight=False, markup=False)
        raise typer.Exit(EXIT_USAGE) from None


SQL_MORE = "use --max-rows, or --format csv/json/parquet for all"
LIMIT_MORE = "use --limit N for more"


def _print_table(rel: Any, max_rows: int, more: str = SQL_MORE) -> None:
    _print_rows(rel.columns, rel.limit(max_rows + 1).fetchall(), max_rows, more)


def _print_rows(columns: list[str], rows: list[tuple[Any, ...]], max_rows: int, more: str = SQL_MORE) -> None:
    """A table of at most `max_rows` rows, saying so on stderr when there are more (`more`: the command's own way to see them)."""
    t = Table(*columns, show_lines=False)
    for r in rows[:max_rows]:
        t.add_row(*("NULL" if v is None else str(v) for v in r))
    out.print(t)
    if len(rows) > max_rows:
        err.print(f"(only the first {max_rows} rows are shown; {more})")
