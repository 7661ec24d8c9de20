"""`moshu`: the command line. Heavy libraries are imported inside the commands that need them."""

from __future__ import annotations

import csv
import json
import os
import sys
from enum import StrEnum
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
        help="Remote warehouse, the store of record on object storage, e.g. s3://bucket/warehouse (default: MOSHU_REMOTE). "
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
            "-p",
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
    if settings.warehouse.remote:
        from pipelines.errors import MoshuError
        from pipelines.remote_sync import bind

        try:
            bind(settings.warehouse)  # every later command on this folder then uses the remote, not a local catalog
        except MoshuError as e:
            _fail(str(e))
        os.environ["MOSHU_REMOTE"] = settings.warehouse.remote  # for step processes that load the definitions again
    proj = _load(project, only=datasets or None)
    names = sorted(proj.datasets) if not datasets else list(dict.fromkeys(datasets))
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


class Format(StrEnum):
    """Output formats of `moshu sql`."""

    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help='A SQL query against the catalog, e.g. "select * from ai4i2020 limit 5".')],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (csv, json; required for parquet).")
    ] = None,
    max_rows: Annotated[int, typer.Option("--max-rows", help="Rows shown by the table format.")] = 100,
    role: Annotated[
        str | None, typer.Option("--role", help="Query as this role of the access policy: only what it may read.")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Access policy file (default: catalog/access_policy.yaml).")
    ] = None,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Query the catalog read-only: any dataset version, rule results, lineage (with --role: as that role)."""
    from pipelines.errors import MoshuError

    if role is not None:
        rel = _guarded_query(project, warehouse, role, policy, query)
        _output(rel, fmt, output, max_rows)
        return
    client = _client(project, warehouse)
    try:
        _output(client.sql(query), fmt, output, max_rows)
    except MoshuError as e:
        _fail(str(e))
    finally:
        client.close()


def _output(rel: Any, fmt: Format, output: Path | None, max_rows: int) -> None:
    """Print or write a result (a DuckDB relation, or a guarded client's materialised result)."""
    import duckdb

    try:
        if fmt is Format.parquet:
            if output is None:
                _fail("--format parquet needs --output FILE", EXIT_USAGE)
            rel.write_parquet(str(output))  # a relation streams to the file
            err.print(f"wrote {output}")
        elif fmt is Format.table:
            _print_table(rel, max_rows)
        else:
            _write_text(rel, fmt, output)
    except duckdb.Error as e:  # raised while rows are computed (a failed cast, error())
        _fail(str(e).splitlines()[0])


def _guarded_query(project: Path | None, warehouse: Path | None, role: str, policy: Path | None, query: str) -> Any:
    """Run a query as a role; the guarded client writes the audit record before any row is shown."""
    from pipelines.errors import MoshuError, NotFoundError, SpecError
    from pipelines.governance.audit import record_query
    from pipelines.governance.guard import GuardedClient
    from pipelines.governance.policy import default_policy_path, load_policy

    settings = _settings(project, warehouse)
    try:
        client = GuardedClient(settings.warehouse.root, role, load_policy(policy or default_policy_path(settings.project)))
    except (SpecError, NotFoundError) as e:  # an unknown role or an unreadable policy: refused, and audited
        try:
            record_query(settings.warehouse, role, query, "refused", "unknown role or unreadable policy")
        except MoshuError as audit_error:
            _fail(str(audit_error))
        _fail(str(e), EXIT_USAGE)
    except MoshuError as e:  # no catalog, or one that cannot be read: nothing to audit into
        _fail(str(e))
    try:
        return client.sql(query)
    except MoshuError as e:
        _fail(str(e))
    finally:
        client.close()


def _write_text(rel: Any, fmt: Format, output: Path | None) -> None:
    stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        if fmt is Format.csv:
            w = csv.writer(stream)
            w.writerow(rel.columns)
            w.writerows([_csv_cell(v) for v in r] for r in rel.fetchall())
        else:
            rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
            json.dump(rows, stream, default=str, ensure_ascii=False, indent=1)
            stream.write("\n")
    finally:
        if output:
            stream.close()


def _csv_cell(v: Any) -> Any:
    """Lists and structs as JSON, so a CSV cell can be parsed back."""
    return json.dumps(v, default=str, ensure_ascii=False) if isinstance(v, list | dict) else v


def _print_table(rel: Any, max_rows: int) -> None:
    _print_rows(rel.columns, rel.limit(max_rows + 1).fetchall(), max_rows)


def _print_rows(columns: list[str], rows: list[tuple[Any, ...]], max_rows: int) -> None:
    """A table of at most `max_rows` rows, saying so on stderr when there are more."""
    t = Table(*columns, show_lines=False)
    for r in rows[:max_rows]:
        t.add_row(*("NULL" if v is None else str(v) for v in r))
    out.print(t)
    if len(rows) > max_rows:
        err.print(f"(only the first {max_rows} rows are shown; use --max-rows, or --format csv/json/parquet for all)")


@app.command()
def versions(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """List the versions of a dataset (published and rejected candidates) with their verdict."""
    with _client(project, warehouse) as c:
        if dataset not in c.datasets():
            _fail(f"no dataset `{dataset}` in the catalog (datasets: {', '.join(c.datasets()) or 'none yet'})")
        rows = c.rows(
            "SELECT version, parent_version, created_at, rows_in, rows_published, rows_quarantined, rows_warned, "
            "rules_passed, rules_failed, left(data_hash, 12), status, level, score FROM versions WHERE name = ? ORDER BY version",
            [dataset],
        )
    t = Table(
        "version",
        "status",
        "level",
        "score",
        "parent",
        "created (UTC)",
        "rows in",
        "published",
        "quarantined",
        "warned",
        "rules passed",
        "rules failed",
        "data hash",
        title=dataset,
    )
    for r in rows:
        status = "[red]rejected[/]" if r[10] == "rejected" else str(r[10])
        score = f"{r[12]:.3f}" if r[12] is not None else "n/a"
        t.add_row(
            f"v{r[0]}",
            status,
            str(r[11]),
            score,
            f"v{r[1]}" if r[1] else "-",
            str(r[2]),
            *(f"{x:,}" for x in r[3:7]),
            str(r[7]),
            str(r[8]),
            r[9],
        )
    out.print(t)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="`DATASET` or `DATASET@VERSION`.")],
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Show a dataset version: description, schema, counts, rule results, source files."""

    with _client(project, warehouse) as c:
        name, v = _resolved(c, ref)
        d = c.rows(
            "SELECT title, description, owner, license, synthetic, synthetic_generator FROM datasets WHERE name = ?", [name]
        )[0]
        ver = c.rows(
            "SELECT rows_in, rows_published, rows_quarantined, rows_warned, created_at, data_hash, parent_version, ge_success, "
            "status, level, score, failed_gates "
            "FROM versions WHERE name = ? AND version = ?",
            [name, v],
        )[0]
        cols = c.rows(
            "SELECT column_name, dtype, unit, nullable, role, description FROM columns WHERE name = ? AND version = ? ORDER BY position",
            [name, v],
        )
        rules = c.rows(
            "SELECT rule_id, kind, severity, engine, evaluated, failed, passed, coalesce(samples[1], observed, ''), suspect, "
            "(SELECT string_agg(printf('%.4g = %.4g / %.4g', m.x, m.a, m.b), '; ') FROM measures m "
            "WHERE m.name = r.name AND m.version = r.version AND m.rule_id = r.rule_id) "
            "FROM rule_results r WHERE name = ? AND version = ? ORDER BY passed, failed DESC, suspect DESC, rule_id",
            [name, v],
        )
        files = c.rows(
            "SELECT path, rows, size_bytes, left(sha256, 12) FROM source_files WHERE name = ? AND version = ? ORDER BY path",
            [name, v],
        )
    assert d is not None and ver is not None
    out.print(f"[bold]{name}@{v}[/]  {d[0]}" + ("  [yellow](synthetic)[/]" if d[4] else ""))
    out.print(f"{d[1]}".strip(), highlight=False)
    out.print(
        f"owner: {d[2]}   license: {d[3] or '-'}   created: {ver[4]} UTC   parent: {('v' + str(ver[6])) if ver[6] else '-'}   data hash: {ver[5][:12]}"
    )
    out.print(f"rows in {ver[0]:,} = published {ver[1]:,} + quarantined {ver[2]:,}   (published with warnings: {ver[3]:,})")
    verdict = f"{ver[8]}, level {ver[9]}" + (f", score {ver[10]:.3f}" if ver[10] is not None else "")
    if ver[11]:
        verdict += f", failed gates: {', '.join(ver[11])}"
    out.print(("[red]" + escape(verdict) + "[/]") if ver[8] == "rejected" else escape(verdict))
    t = Table("column", "dtype", "unit", "nullable", "role", "description", title="schema")
    for r in cols:
        t.add_row(r[0], r[1], r[2] or "", "yes" if r[3] else "no", r[4] or "", r[5] or "")
    out.print(t)
    rt = Table("rule", "kind", "severity", "engine", "failed + suspect / evaluated (X = A / B)", "result", "example",
               title="rule results")  # fmt: skip
    for r in rules:
        mark = "[green]pass[/]" if r[6] else ("[red]FAIL[/]" if r[2] == "error" else "[yellow]warn[/]")
        counted = f"{r[5]:,} + {r[8] or 0:,} suspect / {r[4]:,}" if r[3] == "pandera" else (r[9] or f"{r[5]:,} / {r[4]:,}")
        rt.add_row(r[0], r[1], r[2], r[3], counted, mark, r[7])
    out.print(rt)
    ft = Table("source file", "rows", "bytes", "sha256", title="lineage")
    for f in files:
        ft.add_row(f[0], f"{f[1]:,}", f"{f[2]:,}", f[3])
    out.print(ft)


@app.command()
def report(
    ref: Annotated[str, typer.Argument(help="`DATASET` or `DATASET@VERSION`.")],
    open_browser: Annotated[bool, typer.Option("--open", help="Open the report in a web browser.")] = False,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Print the path of a version's HTML quality report (and its GE Data Docs); `--open` opens it."""

    with _client(project, warehouse) as c:
        name, v = _resolved(c, ref)
        row = c.rows(
            "SELECT report_path, data_docs_path, level, score, status FROM versions WHERE name = ? AND version = ?", [name, v]
        )[0]
        root = c.root
    if not row[0]:
        _fail(f"`{name}@{v}` has no quality report (it was published before reports existed); run it again after a change")
    path = root / row[0]
    out.print(
        f"{name}@{v}: {row[4]}, level {row[2]}, score {row[3]:.3f}"
        if row[3] is not None
        else f"{name}@{v}: {row[4]}, level {row[2]}"
    )
    out.print(f"report:     {path}")
    if row[1]:
        out.print(f"data docs:  {root / row[1]}")
    page = root / "datasets" / name / "models" / f"v{v}.html"
    if page.is_file():
        out.print(f"model page: {page}")
    if open_browser:
        import webbrowser

        webbrowser.open(path.as_uri())


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


from pipelines import cli_governance, cli_models, cli_remote  # noqa: E402, F401  (register their commands on `app`)
from pipelines.cli_init import init as _init  # noqa: E402  (imports nothing from this module: no cycle)

app.command(name="init")(_init)


def main() -> None:
    """Entry point of the `moshu` command.

    After the command, the process exits without the interpreter's teardown: DuckDB's nanobind
    bindings print spurious "leaked instance" warnings when their module is finalised after the
    libraries a run loads (Great Expectations, SQLAlchemy), and the teardown of those libraries
    costs time. Output is flushed first; nothing else is pending at that point.
    """
    code: int = 0
    try:
        app()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    # Under `python -m pipelines.cli` this file runs as `__main__`, while the command modules register on
    # `pipelines.cli.app`: run that module's entry point, so every command is there.
    from pipelines.cli import main as _main

    _main()
