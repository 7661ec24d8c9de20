"""`moshu catalog rebuild | migrate`: the Delta tables are the store of record, the catalog an index of them."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli_common import ProjectOpt, WarehouseOpt, _fail, _settings, app, out

catalog_app = typer.Typer(help="The DuckDB catalog: an index of the warehouse's Delta tables.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("rebuild")
def catalog_rebuild(project: ProjectOpt = None, warehouse: WarehouseOpt = None) -> None:
    """Recreate the catalog from the Delta tables' commit history and the audit table (replaces the catalog file)."""
    from pipelines.errors import MoshuError, SpecError
    from pipelines.spec.loader import load_project
    from pipelines.storage.rebuild import rebuild_catalog

    settings = _settings(project, warehouse)
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
