"""Move versions and the catalog between the local warehouse and its remote store of record.

`push` uploads the versions only this machine has (files first, manifest last); `pull` downloads what
only the remote has, checking every file against the sha256 its manifest records; `shared_catalog`
holds the remote catalog's lease while the local catalog is written, so every machine writes one
catalog. A local catalog with writes the remote lacks is never overwritten silently: if the remote
did not change since the last sync it is uploaded (a fast-forward), otherwise it is kept aside as
`catalog.duckdb.diverged-<time>` and the message says so.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.ingest.fingerprint import sha256_file
from pipelines.remote import Remote, RemoteConflict, RemoteError, open_remote
from pipelines.warehouse import BINDING, CATALOG_FILE, MANIFEST, Warehouse, bound_remote

SYNC_STATE = "catalog.remote.json"  # the remote catalog's stamp and the local file's sha256 at the last sync
log = logging.getLogger(__name__)


def remote_of(warehouse: Warehouse) -> Remote | None:
    """The warehouse's remote, or None when it has none."""
    return open_remote(warehouse.remote) if warehouse.remote else None


def _need(warehouse: Warehouse) -> Remote:
    remote = remote_of(warehouse)
    if remote is None:
        raise RemoteError("this warehouse has no remote: pass --remote or set MOSHU_REMOTE (e.g. s3://bucket/warehouse)")
    return remote


def bind(warehouse: Warehouse) -> None:
    """Record that this folder is the cache of `warehouse.remote`, so every later command on it uses the remote.

    A folder already bound to another remote never gets here: `Settings.resolve` refuses that pairing.
    """
    if not warehouse.remote or bound_remote(warehouse.root) is not None:
        return
    warehouse.root.mkdir(parents=True, exist_ok=True)
    tmp = warehouse.root / f".{BINDING}.{uuid.uuid4().hex[:8]}"
    tmp.write_text(json.dumps({"url": warehouse.remote}) + "\n", encoding="utf-8")
    os.replace(tmp, warehouse.root / BINDING)


# -------------------------------------------------------------------------------------------------- versions


def _differs(warehouse: Warehouse, remote: Remote, name: str, version: int) -> RemoteError:
    return RemoteError(
        f"dataset `{name}`: local v{version} differs from v{version} on {remote.url} (it was made here without the remote, "
        f"or its upload never finished and another machine took the number); move "
        f"`{warehouse.version_dir(name, version)}` and any later local versions aside, or work in an empty folder"
    )


def _check_same(warehouse: Warehouse, remote: Remote, name: str, version: int, theirs: bytes) -> None:
    """Raise unless the local version's manifest is byte for byte the remote one's."""
    if (warehouse.version_dir(name, version) / MANIFEST).read_bytes() != theirs:
        raise _differs(warehouse, remote, name, version)


def _remote_files(remote: Remote, name: str, version: int | None) -> dict[str, str]:
    """`path -> sha256` of a committed remote version's files (empty for None)."""
    body = remote.manifest_bytes(name, version) if version is not None else None
    return {f["path"]: f["sha256"] for f in json.loads(body).get("files", [])} if body else {}


def push_version(
    warehouse: Warehouse, remote: Remote, name: str, version: int, have: set[int], mine: dict[str, Any] | None = None
) -> bool:
    """Upload one local version: claim its number (unless `mine` holds it), every file, then the manifest as the commit;
    False when the remote holds it already (the same bytes).

    A file identical to one of the remote's previous version (a kept partition) is copied on the server.

    Raises:
        RemoteError: the remote holds a different version of that number, another run holds or committed it,
            a local file no longer matches its manifest, or the upload failed (re-run `moshu push`).
    """
    vdir = warehouse.version_dir(name, version)
    body = (vdir / MANIFEST).read_bytes()
    m = json.loads(body)
    theirs = remote.manifest_bytes(name, version)
    if theirs is not None:  # committed already: by this machine (another process), or a different version
        _check_same(warehouse, remote, name, version, theirs)
        return False
    if mine is None:
        mine = remote.claim(name, version, str(m.get("run_id")))
        if mine is None:
            raise RemoteConflict(
                f"dataset `{name}`: local v{version} cannot be uploaded: on {remote.url} that number was released or its "
                "claim went stale, and runs skip it"
            )
    earlier = [v for v in have if v < version]
    prev = max(earlier) if earlier else None
    prev_files = _remote_files(remote, name, prev)
    with remote.heartbeat(name, version, mine):
        for f in m.get("files", []):
            src, dst = vdir / f["path"], remote.version_key(name, version, f["path"])
            if prev is not None and prev_files.get(f["path"]) == f["sha256"]:
                remote.call(remote.fs.copy, remote.version_key(name, prev, f["path"]), dst)
                continue
            if (actual := sha256_file(src)) != f["sha256"]:
                raise RemoteError(
                    f"dataset `{name}` v{version}: local `{src}` has sha256 {actual[:12]}..., its manifest records "
                    f"{f['sha256'][:12]}...; run `moshu verify` and restore the file before pushing"
                )
            remote.call(remote.fs.put_file, str(src), dst)
        remote.check_held(name, version, mine)
        for f in m.get("files", []):
            size = remote.call(remote.fs.info, remote.version_key(name, version, f["path"])).get("size")
            if size != f["bytes"]:
                raise RemoteError(
                    f"dataset `{name}` v{version}: `{f['path']}` on {remote.url} has {size} bytes, not {f['bytes']}; "
                    "another writer changed it, nothing was committed: run `moshu push` again"
                )
        if not remote.create(remote.version_key(name, version, MANIFEST), body) and remote.manifest_bytes(name, version) != body:
            raise RemoteConflict(
                f"dataset `{name}`: another run committed a different v{version} on {remote.url} while this one uploaded it "
                "(its claim had been released); that version may now hold files of both runs: pull it into an empty "
                "folder to check it"
            )
    return True


def push(warehouse: Warehouse, name: str) -> list[int]:
    """Upload every local version of `name` the remote lacks, oldest first; the versions pushed.

    Raises:
        RemoteError: a version both sides hold differs, or an upload failed.
    """
    remote = _need(warehouse)
    have = set(remote.versions(name))
    done = []
    for v in warehouse.versions(name):
        if push_version(warehouse, remote, name, v, have):
            done.append(v)
        have.add(v)
    return done


_RESTORE = "restore the object from the store's versioning, or copy the file up from a machine whose copy `moshu verify` passes"


def _download_version(warehouse: Warehouse, remote: Remote, name: str, version: int, body: bytes) -> None:
    """Fetch one committed version into a hidden folder, check every file, rename it into place."""
    m = json.loads(body)
    ddir = warehouse.dataset_dir(name)
    ddir.mkdir(parents=True, exist_ok=True)
    earlier = [v for v in warehouse.versions(name) if v < version]
    prev = warehouse.version_dir(name, max(earlier)) if earlier else None
    prev_files = {f["path"]: f["sha256"] for f in json.loads((prev / MANIFEST).read_bytes()).get("files", [])} if prev else {}
    tmp = ddir / f".pull-v{version}-{uuid.uuid4().hex[:8]}"
    try:
        for f in m.get("files", []):
            dst = tmp / f["path"]
            dst.parent.mkdir(parents=True, exist_ok=True)
            if prev is not None and prev_files.get(f["path"]) == f["sha256"]:
                os.link(prev / f["path"], dst)  # the same bytes as the version before: share them, as publish does
                continue
            try:
                remote.call(remote.fs.get_file, remote.version_key(name, version, f["path"]), str(dst))
            except FileNotFoundError:
                raise RemoteError(
                    f"dataset `{name}` v{version}: `{f['path']}`, listed in its manifest, is missing on {remote.url}; "
                    f"the remote copy is damaged: {_RESTORE}"
                ) from None
            if (actual := sha256_file(dst)) != f["sha256"]:
                raise RemoteError(
                    f"dataset `{name}` v{version}: `{f['path']}` on {remote.url} has sha256 {actual[:12]}..., its manifest "
                    f"records {f['sha256'][:12]}...; the remote copy is damaged and nothing was pulled: {_RESTORE}"
                )
        (tmp / MANIFEST).write_bytes(body)
        os.rename(tmp, warehouse.version_dir(name, version))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _wanted(remote: Remote, name: str, latest_only: bool) -> dict[int, bytes]:
    """The committed versions to pull with their manifests: all, or the newest one and the newest published one when
    that is older (a rejected candidate is newest)."""
    out: dict[int, bytes] = {}
    listed = remote.versions(name)
    for v in reversed(listed) if latest_only else listed:
        body = remote.manifest_bytes(name, v)
        if body is None:
            continue
        out[v] = body
        if latest_only and json.loads(body).get("status", "published") == "published":
            break
    return dict(sorted(out.items()))


def pull_versions(warehouse: Warehouse, name: str, *, latest_only: bool = False) -> list[int]:
    """Download the committed remote versions of `name` this machine lacks (with `latest_only`, only the newest ones a
    run builds on); the versions pulled.

    Raises:
        RemoteError: a local version differs from the remote one of the same number, or a remote file is damaged.
    """
    remote = remote_of(warehouse)
    if remote is None:
        return []
    with warehouse.dataset_lock(name):
        return _pull(warehouse, remote, name, latest_only)


def _pull(warehouse: Warehouse, remote: Remote, name: str, latest_only: bool) -> list[int]:
    got = []
    local = set(warehouse.versions(name))
    for v, body in _wanted(remote, name, latest_only).items():
        if v in local:
            _check_same(warehouse, remote, name, v, body)
        else:
            _download_version(warehouse, remote, name, v, body)
            got.append(v)
    return got


def sync_pending(warehouse: Warehouse, name: str) -> None:
    """Before a run: finish uploads a failed run left (its versions are committed here only), then fetch the newest
    versions to build on. Under the dataset's lock, so parallel steps of one run (partitions) do it once."""
    remote = remote_of(warehouse)
    if remote is None:
        return
    with warehouse.dataset_lock(name):
        push(warehouse, name)
        _pull(warehouse, remote, name, latest_only=True)


# -------------------------------------------------------------------------------------------------- catalog


def _state(warehouse: Warehouse) -> dict[str, Any] | None:
    p = warehouse.root / SYNC_STATE
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None


def _local_sha(warehouse: Warehouse) -> str | None:
    return sha256_file(warehouse.catalog_path) if warehouse.catalog_path.is_file() else None


def _save_state(warehouse: Warehouse, stamp: str | None, sha: str | None = None) -> None:
    """Record the remote stamp the local catalog is in line with, and the local file's sha256 (`sha`, if known)."""
    sha = sha or _local_sha(warehouse)
    (warehouse.root / SYNC_STATE).write_text(json.dumps({"stamp": stamp, "sha256": sha}) + "\n", encoding="utf-8")


def _set_aside(warehouse: Warehouse, remote: Remote) -> Path:
    kept = warehouse.root / f"{CATALOG_FILE}.diverged-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    shutil.copy2(warehouse.catalog_path, kept)
    wal = Path(str(warehouse.catalog_path) + ".wal")
    if wal.is_file():  # writes a crashed process left in the write-ahead log belong with it
        shutil.copy2(wal, Path(str(kept) + ".wal"))
    log.warning(
        "the local catalog had writes the catalog on %s lacks, and that one changed meanwhile: the local copy is kept "
        "as %s and replaced by the shared catalog (its runs, feedback and audit entries are in the kept file)",
        remote.url,
        kept,
    )
    return kept


def _fetch_catalog(warehouse: Warehouse, remote: Remote) -> tuple[str, str | None]:
    """Bring the local catalog in line with the remote one; what happened and the remote stamp the local copy
    now starts from (None: the remote has no catalog).

    What happened: `none` (the remote has none), `current`, `ahead` (only local writes since the last sync:
    kept, to be uploaded), `fetched` (possibly with this machine's own writes kept aside, and said so).
    """
    stamp = remote.stamp(remote.key(CATALOG_FILE))
    if stamp is None:
        return "none", None
    state, local = _state(warehouse), warehouse.catalog_path
    wal = Path(str(local) + ".wal").is_file()
    dirty = local.is_file() and (state is None or wal or sha256_file(local) != state.get("sha256"))
    if state is not None and state.get("stamp") == stamp and local.is_file():
        return ("ahead" if dirty else "current"), stamp
    kept = _set_aside(warehouse, remote) if dirty else None
    for _ in range(5):  # the copy must be the object the stamp names: read the stamp again after downloading
        tmp = warehouse.root / f".catalog-{uuid.uuid4().hex[:8]}.duckdb"
        try:
            remote.call(remote.fs.get_file, remote.key(CATALOG_FILE), str(tmp))
            again = remote.stamp(remote.key(CATALOG_FILE))
            if again != stamp:
                stamp = again
                continue
            Path(str(local) + ".wal").unlink(missing_ok=True)
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)
        _save_state(warehouse, stamp)
        return (f"fetched; this machine's own writes are kept in {kept}" if kept else "fetched"), stamp
    raise RemoteError(f"the catalog on {remote.url} kept changing while it was downloaded; run again")


def pull_catalog(warehouse: Warehouse) -> str:
    """Bring the local catalog in line with the remote one (no lease: one object is read and its stamp checked);
    see `_fetch_catalog` for what is returned. Without a remote, `none`."""
    remote = remote_of(warehouse)
    if remote is None:
        return "none"
    with warehouse.catalog_lock():
        return _fetch_catalog(warehouse, remote)[0]


def sync_catalog(warehouse: Warehouse) -> None:
    """Before a run: under the lease, upload this machine's catalog writes the remote lacks (e.g. feedback recorded
    while an upload failed), or take the shared catalog; so a run never builds on findings the others lack."""
    if remote_of(warehouse) is None:
        return
    with warehouse.catalog_lock(), shared_catalog(warehouse):
        pass


@contextmanager
def shared_catalog(warehouse: Warehouse) -> Iterator[None]:
    """With a remote: hold its catalog lease, start from its catalog, and upload the result when the block succeeds
    and changed it.

    Call with the local catalog's file lock held and no connection open. Without a remote, does nothing.

    Raises:
        RemoteError: the remote catalog changed while this machine held the lease (a lease taken over as stale);
            the local copy is kept aside and nothing is uploaded.
    """
    remote = remote_of(warehouse)
    if remote is None:
        yield
        return
    with remote.lease():
        _, base = _fetch_catalog(warehouse, remote)
        yield
        sha = _local_sha(warehouse)
        if sha is None:
            return  # no catalog on either side yet
        state = _state(warehouse)
        if state is not None and state.get("stamp") == base and state.get("sha256") == sha:
            return  # nothing written: nothing to upload
        try:  # one PUT, only if the shared catalog is still the one this write started from (If-Match on S3)
            after = remote.replace_if(remote.key(CATALOG_FILE), warehouse.catalog_path.read_bytes(), base)
        except RemoteConflict:
            kept = _set_aside(warehouse, remote)
            raise RemoteError(
                f"the catalog on {remote.url} changed while this machine held its lease (the lease was taken over as "
                f"stale); this write is kept in {kept}, not uploaded"
            ) from None
        _save_state(warehouse, after, sha)


def mark_synced(warehouse: Warehouse) -> None:
    """Record the local catalog as in line with the remote one it was fetched from, after writes that are re-done
    from the versions on every pull (registering pulled versions): they are not this machine's own."""
    state = _state(warehouse)
    if state is not None and warehouse.catalog_path.is_file():
        _save_state(warehouse, state.get("stamp"))


# -------------------------------------------------------------------------------------------------- derived files

# Per-dataset files made after a version is published (splits, diffs, cards, model pages). The remote keeps an index
# of their sha256 (`datasets/<name>/derived.json`), so both directions compare contents, not clocks.
DERIVED = ("splits", "diffs", "cards", "models")
DERIVED_INDEX = "derived.json"


def _local_derived(warehouse: Warehouse, name: str) -> dict[str, Path]:
    ddir = warehouse.dataset_dir(name)
    return {
        p.relative_to(ddir).as_posix(): p
        for sub in DERIVED
        if (ddir / sub).is_dir()
        for p in (ddir / sub).rglob("*")
        if p.is_file()
    }


def push_derived(warehouse: Warehouse, name: str) -> int:
    """Upload derived files whose contents the remote lacks; how many were uploaded."""
    remote = remote_of(warehouse)
    if remote is None:
        return 0
    index_key = remote.key("datasets", name, DERIVED_INDEX)
    mine = {rel: sha256_file(p) for rel, p in _local_derived(warehouse, name).items()}
    uploaded: set[str] = set()
    for _ in range(5):  # the index is replaced only if nobody else changed it meanwhile; else merge and retry
        stamp = remote.stamp(index_key)
        index: dict[str, str] = remote.read_json(index_key) or {}
        todo = {rel: sha for rel, sha in mine.items() if index.get(rel) != sha}
        if not todo:
            return len(uploaded)
        for rel in todo:
            if rel not in uploaded:
                remote.call(remote.fs.put_file, str(warehouse.dataset_dir(name) / rel), remote.key("datasets", name, rel))
                uploaded.add(rel)
        try:
            remote.replace_if(index_key, json.dumps({**index, **todo}, indent=1, sort_keys=True).encode(), stamp)
            return len(uploaded)
        except RemoteConflict:
            continue
    raise RemoteError(f"the derived-file index of `{name}` on {remote.url} kept changing; run `moshu push {name}` again")


def pull_derived(warehouse: Warehouse, name: str) -> int:
    """Download derived files missing here or different; how many were downloaded."""
    remote = remote_of(warehouse)
    if remote is None:
        return 0
    index: dict[str, str] = remote.read_json(remote.key("datasets", name, DERIVED_INDEX)) or {}
    ddir = warehouse.dataset_dir(name)
    n = 0
    for rel, sha in index.items():
        dst = ddir / rel
        if dst.is_file() and sha256_file(dst) == sha:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}")
        try:
            remote.call(remote.fs.get_file, remote.key("datasets", name, rel), str(tmp))
            if sha256_file(tmp) != sha:
                log.warning("derived file `%s` of `%s` on %s changed while it was read; left as it was", rel, name, remote.url)
                continue
            os.replace(tmp, dst)
        except FileNotFoundError:
            log.warning("derived file `%s` of `%s` is in the index on %s but missing; skipped", rel, name, remote.url)
            continue
        finally:
            tmp.unlink(missing_ok=True)
        n += 1
    return n
