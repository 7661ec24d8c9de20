"""`moshu push | pull | remote`: the warehouse's store of record on object storage, from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from pipelines.cli_common import ProjectOpt, RemoteOpt, WarehouseOpt, _fail, _settings, app, out

remote_app = typer.Typer(help="Inspect the remote warehouse; free a claim or the catalog lease a crashed run left behind.")
app.add_typer(remote_app, name="remote")

DatasetsArg = Annotated[list[str] | None, typer.Argument(help="Datasets (default: every dataset on either side).")]


def _opened(project: Any, warehouse: Any, remote: str | None) -> tuple[Any, Any]:
    """The warehouse (with a remote, else exit 1) and its opened remote."""
    from pipelines.errors import MoshuError
    from pipelines.remote import open_remote

    wh = _settings(project, warehouse, remote).warehouse
    if not wh.remote:
        _fail("no remote warehouse: pass --remote s3://bucket/prefix or set MOSHU_REMOTE")
    try:
        return wh, open_remote(wh.remote)
    except MoshuError as e:
        _fail(str(e))


def _names(wh: Any, rem: Any, datasets: list[str] | None) -> list[str]:
    if datasets:
        return list(dict.fromkeys(datasets))
    local = [p.name for p in (wh.root / "datasets").iterdir() if p.is_dir()] if (wh.root / "datasets").is_dir() else []
    return sorted(set(local) | set(rem.datasets()))


def _moved(wh: Any, done: dict[str, list[int]], verb: str) -> None:
    """The table of versions pushed or pulled per dataset."""
    t = Table("dataset", verb, "versions here", title=f"{verb} {'to' if verb == 'pushed' else 'from'} {wh.remote}")
    for n, vs in done.items():
        t.add_row(n, ", ".join(f"v{v}" for v in vs) or "-", str(len(wh.versions(n))))
    out.print(t)


def _specs(project: Any, names: list[str]) -> dict[str, Any]:
    """The loaded spec of each dataset the project declares (None for the others: their versions still register)."""
    from pipelines.spec.loader import load_project

    try:
        proj = load_project(_settings(project, None).project)
    except Exception:  # a machine that only reads needs no valid project
        return dict.fromkeys(names)
    return {n: proj.datasets.get(n) for n in names}


@app.command()
def push(
    datasets: DatasetsArg = None, project: ProjectOpt = None, warehouse: WarehouseOpt = None, remote: RemoteOpt = None
) -> None:
    """Upload the versions only this warehouse has (files first, manifest last) and register them in the shared catalog."""
    from pipelines.errors import MoshuError
    from pipelines.remote_sync import bind, push_derived
    from pipelines.remote_sync import push as push_versions
    from pipelines.stages.register import register_existing

    wh, rem = _opened(project, warehouse, remote)
    try:
        bind(wh)
        pushed = {n: push_versions(wh, n) for n in _names(wh, rem, datasets) if wh.versions(n)}
        for n in pushed:
            push_derived(wh, n)
        register_existing(wh, _specs(project, list(pushed)))  # under the catalog lease: every machine sees them
    except MoshuError as e:
        _fail(str(e))
    _moved(wh, pushed, "pushed")


@app.command()
def pull(
    datasets: DatasetsArg = None, project: ProjectOpt = None, warehouse: WarehouseOpt = None, remote: RemoteOpt = None
) -> None:
    """Download the versions other machines published (each file checked against its manifest) and the shared catalog."""
    from pipelines.errors import MoshuError
    from pipelines.remote_sync import mark_synced, pull_catalog, pull_derived, pull_versions
    from pipelines.stages.register import register_existing
    from pipelines.warehouse import Warehouse

    wh, rem = _opened(project, warehouse, remote)
    try:
        names = _names(wh, rem, datasets)
        pulled = {n: pull_versions(wh, n) for n in names}
        for n in names:
            pull_derived(wh, n)
        catalog = pull_catalog(wh)
        # Versions the shared catalog lacks are registered in this copy only (no lease: pulling needs no write access).
        register_existing(Warehouse(wh.root), _specs(project, names))
        if catalog != "ahead":  # registering pulled versions is re-done on every pull: not this machine's own writes
            mark_synced(wh)
    except MoshuError as e:
        _fail(str(e))
    _moved(wh, pulled, "pulled")
    out.print(f"catalog: {catalog}")


@remote_app.command("status")
def status(datasets: DatasetsArg = None, warehouse: WarehouseOpt = None, remote: RemoteOpt = None) -> None:
    """Versions here and on the remote, claims in progress, and who holds the catalog lease."""
    from pipelines.errors import MoshuError
    from pipelines.remote import LEASE, _who

    wh, rem = _opened(None, warehouse, remote)
    try:
        t = Table("dataset", "here", "remote", "only here", "claimed, not committed", title=f"{wh.root} <-> {wh.remote}")
        for n in _names(wh, rem, datasets):
            here, there = set(wh.versions(n)), set(rem.versions(n))
            pending = [v for v in rem.claimed(n) if v not in there]
            t.add_row(n, str(len(here)), str(len(there)), ", ".join(f"v{v}" for v in sorted(here - there)) or "-",
                      ", ".join(f"v{v}" for v in pending) or "-")  # fmt: skip
        out.print(t)
        lease = rem.read_json(rem.key(LEASE))
    except MoshuError as e:
        _fail(str(e))
    out.print(f"catalog lease: held by {_who(lease)}" if lease is not None else "catalog lease: free")


@remote_app.command("release")
def release(
    dataset: Annotated[str, typer.Argument(help="Dataset whose version number a crashed run claimed.")],
    version: Annotated[int, typer.Argument(help="The claimed, uncommitted version number.")],
    force: Annotated[bool, typer.Option("--force", help="Also a claim renewed recently (its run may be alive).")] = False,
    warehouse: WarehouseOpt = None,
    remote: RemoteOpt = None,
) -> None:
    """Release a version number a run claimed but never committed (the run is gone); a committed version is refused.

    Runs skip a released number at once (it is never reused: the run might still write into it); a claim not
    renewed for 15 minutes is skipped anyway.
    """
    from pipelines.errors import MoshuError

    wh, rem = _opened(None, warehouse, remote)
    try:
        done = rem.release(dataset, version, force=force)
    except MoshuError as e:
        _fail(str(e))
    out.print(f"released {dataset} v{version}" if done else f"{dataset} v{version} has no claim on {wh.remote}")


@remote_app.command("unlock")
def unlock(warehouse: WarehouseOpt = None, remote: RemoteOpt = None) -> None:
    """Free the catalog lease a crashed process left behind (check `moshu remote status` first: it names the holder)."""
    from pipelines.errors import MoshuError

    _, rem = _opened(None, warehouse, remote)
    try:
        rem.release_lease()
    except MoshuError as e:
        _fail(str(e))
    out.print("catalog lease: free")
