"""`moshu`: the command line. Heavy libraries are imported inside the commands that need them."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines.cli_common import EXIT_FAILED, ProjectOpt, RemoteOpt, WarehouseOpt, _fail, _load, _settings, app, err, out
from pipelines.cli_init import init as _init  # imports nothing from the command modules
from pipelines.cli_query import list_datasets, report, show, sql, versions


@app.command()
def check(project: ProjectOpt = None) -> None:
    """Validate every dataset spec and rule file without reading any data."""
    proj = _load(project)
    t = Table("dataset", "columns", "rules", "rule files", "schedule", title="specs OK")
    for name, ld in sorted(proj.datasets.items()):
        t.add_row(
            name,
            str(len(ld.spec.declared_columns)),
            str(len(ld.rules)),
            ", ".join(p.name for p in ld.rule_files),
            ld.spec.schedule or "-",
        )
    out.print(t)
    from pipelines.spec.expand import resolution_lines

    for name, ld in sorted(proj.datasets.items()):
        for line in resolution_lines(name, ld.groups, ld.selections):
            out.print(line, markup=False, highlight=False)


@app.command()
def run(
    datasets: Annotated[list[str] | None, typer.Argument(help="Datasets to build (default: all).")] = None,
    partition: Annotated[
        list[str] | None,
        typer.Option(
            "--partition",
            help="Partition key to (re)build, e.g. `2026-03-02` (repeatable; partitioned datasets only). "
            "Default: every partition with raw files; unchanged ones are kept as they are.",
        ),
    ] = None,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
    remote: RemoteOpt = None,
) -> None:
    """Build datasets from their raw files through Dagster: ingest, validate, publish, register.

    With a remote warehouse, each run first pulls what other machines published and pushes the versions it makes.
    """
    settings = _settings(project, warehouse, remote)
    from pipelines.quality import ge_worker

    ge_worker.start(settings.project)  # Great Expectations loads on the other core while Dagster starts and rows are staged
    if settings.warehouse.remote:
        from pipelines.errors import MoshuError
        from pipelines.warehouse import bind

        try:
            bind(settings.warehouse)  # every later command on this folder then uses the remote, not a local catalog
        except MoshuError as e:
            _fail(str(e))
        os.environ["MOSHU_REMOTE"] = settings.warehouse.remote  # for step processes that load the definitions again
    proj = _load(project, only=datasets or None)
    names = sorted(proj.datasets) if not datasets else list(dict.fromkeys(datasets))
    _check_keys(proj, names)
    from pipelines.defs.progress import set_listener

    status = None
    tty = None
    if err.is_terminal:
        # Dagster captures each step's stdout/stderr for its compute logs; a duplicate of the
        # terminal's descriptor keeps the progress line on the terminal while steps run.
        tty = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
        status = Console(file=tty, stderr=True).status("starting Dagster ...")
        status.start()
        set_listener(lambda ds, stage: status.update(f"[bold]{ds}[/]: {stage}"))
    from pipelines import cancel
    from pipelines.errors import RunCancelled
    from pipelines.runner import stop_runs

    try:
        from pipelines.defs.orchestrate import materialize

        with cancel.stop_on_signals(hard_stop=stop_runs):
            try:
                run_id, outcomes = materialize(proj, settings, names, partition or None)
            except (RunCancelled, KeyboardInterrupt):
                if cancel.requested() is None:
                    raise
    finally:
        set_listener(None)
        if status is not None:
            status.stop()
        if tty is not None:
            tty.close()
    if (signum := cancel.requested()) is not None:
        _cancelled(signum)
    t = Table(
        "dataset",
        "version",
        "status",
        "level",
        "score",
        "rows in",
        "published",
        "quarantined",
        "warned",
        "rules passed",
        "rules failed",
        title=f"moshu run {run_id[:8]} -> {settings.warehouse.root}",
    )
    failed = []
    for o in outcomes:
        if not o.ok:
            failed.append(o)
            t.add_row(o.dataset, "-", "[red]failed[/]", *["-"] * 8)
            continue
        p = o.published
        assert p is not None
        t.add_row(
            o.dataset,
            f"v{p.version}",
            ("[red]rejected[/]" if p.status == "rejected" else "new") if p.created else "unchanged",
            p.level,
            f"{p.score:.3f}" if p.score is not None else "n/a",
            f"{p.rows_in:,}",
            f"{p.rows_published:,}",
            f"{p.rows_quarantined:,}",
            f"{p.rows_warned:,}",
            str(p.rules_passed),
            str(p.rules_failed),
        )
    out.print(t)
    from pipelines.report.level_reasons import print_level_reasons

    print_level_reasons(out, [o.published for o in outcomes if o.ok and o.published is not None])
    _print_models_summary(settings, [o.dataset for o in outcomes if o.ok])
    for o in failed:
        err.print(f"[bold red]error:[/] dataset [bold]{o.dataset}[/]: {escape(o.error or '')}", highlight=False)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _check_keys(proj: Any, names: list[str]) -> None:
    """Fail before any data is read when a dataset to build has personal columns and no pseudonymisation key is usable."""
    from pipelines.governance.pseudonym import PseudonymKeyError, load_key

    for name in names:
        if (ld := proj.datasets.get(name)) is not None and ld.spec.personal_columns:
            try:
                load_key(name, ld.spec.personal_columns)
            except PseudonymKeyError as e:
                _fail(str(e))


def _cancelled(signum: int) -> NoReturn:
    """End a run stopped by a signal: staging folders removed, runs recorded `cancelled`, exit 128 + signal."""
    import signal

    from pipelines.runner import stop_runs

    stop_runs(signum)
    name = signal.Signals(signum).name
    _fail(f"stopped by {name}: the run's staging folders were removed and its runs recorded as `cancelled`", 128 + signum)


def _print_models_summary(settings: Any, names: list[str]) -> None:
    """Per demand of the built datasets: is it met by the latest version, and does trial training say it lifts?"""
    from pipelines.catalog.client import CatalogClient

    if not names or not settings.warehouse.catalog_path.is_file():
        return
    with CatalogClient(settings.warehouse.root) as c:
        rows = c.rows(
            "SELECT d.dataset, d.demand, r.version, r.met, r.gaps, t.metric, t.value, t.lift, t.verdict, "
            "(SELECT count(*) FROM feedback_status f WHERE f.dataset = d.dataset AND f.status = 'proposed') AS proposed "
            "FROM demands d JOIN latest_versions v ON v.name = d.dataset "
            "LEFT JOIN demand_results r ON r.dataset = d.dataset AND r.demand = d.demand AND r.version = v.version "
            "LEFT JOIN trial_trend t ON t.dataset = d.dataset AND t.demand = d.demand AND t.version = v.version "
            f"WHERE d.dataset IN ({', '.join('?' * len(names))}) ORDER BY d.dataset, d.demand",
            names,
        )
    if not rows:
        return
    t = Table("dataset", "demand", "version", "demand met", "trial metric", "value", "lift", "verdict", "findings to review",
              title="what models need, and what they report (moshu gaps / trials / feedback list)")  # fmt: skip
    for ds, dm, v, met, gaps, metric, value, lift, verdict, proposed in rows:
        t.add_row(
            ds, dm, f"v{v}", "yes" if met else f"[yellow]no, {gaps} gaps[/]", metric or "-",
            f"{value:.4f}" if value is not None else "-", f"{lift:+.4f}" if lift is not None else "-", verdict or "-",
            str(proposed),
        )  # fmt: skip
    out.print(t)


# Registered here, between `run` and `schema`, so `moshu --help` lists the commands in the same order.
app.command()(sql)
app.command(name="list")(list_datasets)
app.command()(versions)
app.command()(show)
app.command()(report)


@app.command()
def schema(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the JSON Schemas.")] = Path("."),
) -> None:
    """Write JSON Schemas of dataset specs and rule files (for editors)."""
    from pipelines.spec.jsonschema import write_schemas

    for p in write_schemas(out_dir):
        out.print(f"wrote {p}")


generate = typer.Typer(help="Generate synthetic data.", no_args_is_help=True)
app.add_typer(generate, name="generate")


@generate.command("cnc-line")
def generate_cnc_line(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write cnc_line_sample.csv and defects.json into.")],
    rows: Annotated[int, typer.Option(help="About how many rows.")] = 2400,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20260302,
    defects_per_kind: Annotated[int, typer.Option(help="Defects injected of each kind.")] = 3,
) -> None:
    """Write the CNC line sensor stream sample and the list of its injected defects."""
    from pipelines.synthetic.cnc_line import write_sample

    csv_path, meta = write_sample(out_dir, rows=rows, seed=seed, defects_per_kind=defects_per_kind)
    out.print(f"wrote {csv_path} and {meta}")


# Imported after the commands above so theirs follow in `moshu --help`; they import `pipelines.cli_common`, never this module.
from pipelines import cli_governance, cli_models, cli_site, cli_storage  # noqa: E402, F401  (register their commands on `app`)

app.command(name="init")(_init)


def main() -> None:
    """Entry point of the `moshu` command.

    After the command, the process exits without the interpreter's teardown: DuckDB's nanobind
    bindings print spurious "leaked instance" warnings when their module is finalised after the
    libraries a run loads (Great Expectations, SQLAlchemy), and the teardown of those libraries
    costs time. Output is flushed first; nothing else is pending at that point.
    """
    from pipelines.quality import ge_worker

    ge_worker.allow()
    code: int = 0
    try:
        app()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    ge_worker.stop()  # however the command ended: a run, a spec error, a stop
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    # Under `python -m pipelines.cli` this file runs as `__main__`; every command module registered on the
    # one `app` of `pipelines.cli_common`, so this module's entry point has every command.
    main()
