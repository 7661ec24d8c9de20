"""`moshu catalog rebuild | migrate | pull`: the Delta tables are the store of record, the catalog an index of them."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli_common import ProjectOpt, RemoteOpt, WarehouseOpt, _fail, _settings, app, out

catalog_app = typer.Typer(help="The DuckDB catalog: an index of the warehouse's Delta tables.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("rebuild")
def catalog_rebuild(project: ProjectOpt = None, warehouse: WarehouseOpt = None, remote: RemoteOpt = None) -> None:
    """Recreate the catalog from the Delta tables' commit history and the audit table (replaces the catalog file).

    With a remote warehouse, this folder is first brought up to date from it (as `moshu pull`).
    """
    from pipelines.errors import MoshuError, SpecError
    from pipelines.spec.loader import load_project
    from pipelines.storage.rebuild import rebuild_catalog

    settings = _settings(project, warehouse, remote)
    if settings.warehouse.remote:
        _pull(settings.warehouse)
    try:
        specs = load_project(settings.project).datasets
    except SpecError:
        specs = {}  # the tables alone are enough: datasets without a spec get their rows from their manifests
    try:
        done = rebuild_catalog(settings.warehouse, specs)
    except MoshuError as e:
        _fail(str(e))
    for line in done.restored:
        out.print(f"restored: {line}", markup=False, highlight=False)
    audit = "from the audit table" if done.audit_from_table else "recorded anew (no audit table)"
    kept = ", ".join(f"{t} {n}" for t, n in done.kept.items() if n) or "nothing"
    out.print(
        f"rebuilt {settings.warehouse.catalog_path}: {len(done.datasets)} datasets, {done.versions} versions from their Delta "
        f"commits; {done.audit_rows} audit rows {audit}; carried over from the old catalog: {kept}",
        markup=False,
        highlight=False,
    )


@app.command()
def migrate(
    dataset: Annotated[str | None, typer.Argument(help="Only this dataset (default: every dataset).")] = None,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Move versions written before the Delta tables into them; numbers, data hashes and file hashes are kept."""
    from pipelines.errors import MoshuError
    from pipelines.storage.migrate import migrate_warehouse

    wh = _settings(project, warehouse).warehouse
    try:
        done = migrate_warehouse(wh, dataset)
    except MoshuError as e:
        _fail(str(e))
    for name, versions in sorted(done.versions.items()):
        out.print(f"{name}: v{', v'.join(map(str, versions))} moved into Delta tables", markup=False, highlight=False)
    for name, why in sorted(done.skipped.items()):
        out.print(f"{name}: skipped, {why}", markup=False, highlight=False)


def _pull(wh: object) -> dict[str, list[int]]:
    from pipelines.errors import MoshuError
    from pipelines.storage.mirror import pull_all
    from pipelines.warehouse import bind

    try:
        bind(wh)  # type: ignore[arg-type]
        done = pull_all(wh)  # type: ignore[arg-type]
    except (MoshuError, OSError) as e:
        _fail(f"could not copy from the remote warehouse: {e}")
    for name, versions in sorted(done.items()):
        got = f"v{', v'.join(map(str, versions))} copied" if versions else "up to date"
        out.print(f"{name}: {got}", markup=False, highlight=False)
    return done


@app.command()
def pull(project: ProjectOpt = None, warehouse: WarehouseOpt = None, remote: RemoteOpt = None) -> None:
    """Bring this warehouse folder up to date with its remote: the tables' new commits, their files and version
    folders; then register the new versions in this machine's catalog."""
    from pipelines.errors import MoshuError
    from pipelines.spec.loader import load_project
    from pipelines.stages.register import register_existing

    settings = _settings(project, warehouse, remote)
    if not settings.warehouse.remote:
        _fail("no remote warehouse: give --remote s3://bucket/prefix (or MOSHU_REMOTE), or run in a folder bound to one")
    done = _pull(settings.warehouse)
    try:
        specs = load_project(settings.project).datasets
    except MoshuError:
        specs = {}
    try:
        register_existing(settings.warehouse, {name: specs.get(name) for name in done})
    except MoshuError as e:
        _fail(str(e))
