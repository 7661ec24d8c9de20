"""`moshu verify | card | audit`: tamper evidence, dataset cards and the audit log on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli_common import (
    EXIT_FAILED,
    ProjectOpt,
    WarehouseOpt,
    _client,
    _fail,
    _print_table,
    _resolved,
    _settings,
    app,
    err,
    out,
)


@app.command()
def verify(
    ref: Annotated[
        str | None, typer.Argument(help="DATASET or DATASET@VERSION (default: every version of every dataset).")
    ] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="First register committed version folders the catalog lacks (from their manifests) and remove the "
            "orphan staging and temporary folders of stopped runs; then verify.",
        ),
    ] = False,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Check every version's files, catalog rows, derived files and audit records; exit 1 on any problem."""
    from pipelines.catalog.client import parse_ref
    from pipelines.catalog.db import writer
    from pipelines.errors import MoshuError
    from pipelines.governance.audit import current_actor, record
    from pipelines.governance.repair import repair as run_repair
    from pipelines.governance.verify import verify as run_verify

    wh = _settings(project, warehouse).warehouse
    try:
        name, version = parse_ref(ref) if ref else (None, None)
        if repair:
            for line in run_repair(wh, name):
                out.print(f"repair: {line}")
        report = run_verify(wh, name, version)
    except MoshuError as e:
        _fail(str(e))
    if wh.catalog_path.is_file():
        try:
            with writer(wh) as con:
                record(con, actor=current_actor(), action="verify", object=ref or "*", decision="ok" if report.ok else "failed",
                       detail={"versions": report.checked_versions, "files": report.checked_files, "problems": len(report.problems)})  # fmt: skip
        except MoshuError as e:
            err.print(f"could not record the verification in the audit log: {e}")
    if report.ok:
        tail = f" up to its sealed tail seq {report.audit_tail[0]}, hash {report.audit_tail[1]}" if report.audit_tail else ""
        out.print(
            f"ok: {report.checked_versions} versions, {report.checked_files} files match their manifests and the catalog; "
            f"catalog rows match the manifests and the Delta log; audit log chain intact{tail}"
        )
        return
    t = Table("dataset", "version", "path", "problem", "expected", "found")
    for p in report.problems:
        t.add_row(p.dataset, "" if p.version is None else str(p.version), p.path, p.problem, p.expected or "", p.actual or "")
    out.print(t)
    err.print(
        f"[bold red]{len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}[/] in {report.checked_versions} versions"
    )
    raise typer.Exit(EXIT_FAILED)


@app.command()
def audit(
    limit: Annotated[int, typer.Option("--limit", help="Latest entries to show.")] = 50,
    action: Annotated[str | None, typer.Option("--action", help="Only this action (publish, gate, query, ...).")] = None,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """The audit log, latest first: who did what, when, with which decision."""
    from pipelines.errors import MoshuError

    where = "WHERE action = $1" if action else ""
    with _client(project, warehouse) as c:
        try:
            rel = c.sql(
                f"SELECT seq, logged_at, actor, role, action, object, decision, detail FROM audit_log {where} ORDER BY seq DESC LIMIT {int(limit)}",
                [action] if action else None,
            )
        except MoshuError as e:
            hint = "; a catalog written by an older moshu gets its audit log when a run next writes it (`moshu run`)"
            _fail(f"{e}{hint if 'audit_log' in str(e) else ''}")
        _print_table(rel, limit)


@app.command()
def card(
    ref: Annotated[str, typer.Argument(help="DATASET or DATASET@VERSION (default: the latest published version).")],
    open_browser: Annotated[bool, typer.Option("--open", help="Open the HTML card in a web browser.")] = False,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the dataset card of a version (Markdown with a Hugging Face YAML header, and HTML); print the paths."""
    from pipelines.errors import MoshuError
    from pipelines.report.card import write_card

    with _client(project, warehouse) as c:
        name, v = _resolved(c, ref)
    try:
        paths = write_card(_settings(project, warehouse).warehouse, name, v)
    except MoshuError as e:
        _fail(str(e))
    for p in paths:
        out.print(str(p))
    if open_browser:
        import webbrowser

        webbrowser.open(next(p for p in paths if p.suffix == ".html").as_uri())


policy_app = typer.Typer(
    help="The access policy that `moshu sql --role` enforces: apply one, show the one in force.", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")


@policy_app.command("apply")
def policy_apply(
    file: Annotated[Path, typer.Argument(help="The policy YAML file to put in force (see catalog/access_policy.yaml).")],
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Validate a policy file and install it in the warehouse as the policy in force (a cdo's act, audited with its sha256)."""
    from pipelines.errors import MoshuError
    from pipelines.governance.policy_store import apply_policy

    try:
        installed, changed = apply_policy(_settings(project, warehouse).warehouse, file)
    except MoshuError as e:
        _fail(str(e))
    if not changed:
        out.print(f"already in force: sha256 {installed.sha256} (applied {installed.applied_at} UTC by {installed.actor})")
        return
    out.print(f"in force: sha256 {installed.sha256}, roles {', '.join(sorted(installed.policy.roles))}; copy at {installed.path}")


@policy_app.command("show")
def policy_show(project: ProjectOpt = None, warehouse: WarehouseOpt = None) -> None:
    """The access policy in force: its sha256, where it comes from, who applied it, and its roles."""
    from pipelines.errors import MoshuError
    from pipelines.governance.policy_store import policy_in_force

    try:
        p = policy_in_force(_settings(project, warehouse).warehouse)
    except MoshuError as e:
        _fail(str(e))
    how = f"applied {p.applied_at} UTC by {p.actor}" if p.source == "installed" else "none applied yet: the project's file"
    out.print(f"sha256 {p.sha256}  ({p.source}; {how})\nfile: {p.path}")
    t = Table("role", "grades", "sensitivities", "datasets", "catalog tables")
    for name, r in sorted(p.policy.roles.items()):
        datasets = r.datasets if isinstance(r.datasets, str) else ", ".join(r.datasets)
        tables = r.catalog_tables if isinstance(r.catalog_tables, str) else f"{len(r.catalog_tables)} tables"
        t.add_row(name, ", ".join(r.grades), ", ".join(r.sensitivities), datasets, tables)
    out.print(t)
