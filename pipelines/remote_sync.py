"""Move versions and the catalog between the local warehouse and its remote store of record.

`push` uploads what only this machine has (files first, manifest last); `pull` downloads what only the
remote has, checking every file against the sha256 its manifest records; `shared_catalog` holds the
remote catalog's lease while the local catalog is written, so every machine writes the same catalog.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

from pipelines.ingest.fingerprint import sha256_file
from pipelines.remote import Remote, RemoteError, open_remote
from pipelines.warehouse import MANIFEST, Warehouse

CATALOG = "catalog.duckdb"
log = logging.getLogger(__name__)


def remote_of(warehouse: Warehouse) -> Remote | None:
    """The warehouse's remote, or None when it has none."""
    return open_remote(warehouse.remote) if warehouse.remote else None


def _same_previous(warehouse: Warehouse, name: str, version: int, have: set[int]) -> dict[str, str]:
    """`path -> sha256` of the files of the version before `version`, when both sides hold it."""
    prev = version - 1
    if prev not in have or prev not in warehouse.versions(name):
        return {}
    return {f["path"]: f["sha256"] for f in warehouse.manifest(name, prev).get("files", [])}


def push_version(warehouse: Warehouse, remote: Remote, name: str, version: int, have: set[int] | None = None) -> None:
    """Upload one local version: claim its number, every file, then the manifest as the commit.

    A file identical to the previous version's (a kept partition) is copied on the server, not uploaded.

    Raises:
        RemoteError: another run holds or committed this number, or the upload failed (re-run `moshu push`).
    """
    have = set(remote.versions(name)) if have is None else have
    vdir = warehouse.version_dir(name, version)
    body = (vdir / MANIFEST).read_bytes()
    m = json.loads(body)
    remote.claim(name, version, str(m.get("run_id")))
    prev = _same_previous(warehouse, name, version, have)
    for f in m.get("files", []):
        dst = remote.version_key(name, version, f["path"])
        if prev.get(f["path"]) == f["sha256"]:
            remote._call(remote.fs.copy, remote.version_key(name, version - 1, f["path"]), dst)
        else:
            remote._call(remote.fs.put_file, str(vdir / f["path"]), dst)
    if not remote.create(remote.version_key(name, version, MANIFEST), body):
        theirs = remote._call(remote.fs.cat_file, remote.version_key(name, version, MANIFEST))
        if theirs != body:
            raise RemoteError(f"dataset `{name}`: {remote.url} committed a different v{version} while this one was uploaded")


def push(warehouse: Warehouse, name: str) -> list[int]:
    """Upload every local version of `name` the remote lacks, oldest first; the versions pushed."""
    remote = remote_of(warehouse)
    if remote is None:
        raise RemoteError("this warehouse has no remote: pass --remote or set MOSHU_REMOTE (e.g. s3://bucket/warehouse)")
    have = set(remote.versions(name))
    done = []
    for v in warehouse.versions(name):
        if v not in have:
            push_version(warehouse, remote, name, v, have)
            have.add(v)
            done.append(v)
    return done


def _download_version(warehouse: Warehouse, remote: Remote, name: str, version: int, body: bytes) -> None:
    """Fetch one committed version into a hidden folder, check every file, rename it into place."""
    m = json.loads(body)
    ddir = warehouse.dataset_dir(name)
    ddir.mkdir(parents=True, exist_ok=True)
    prev = warehouse.version_dir(name, version - 1)
    prev_files = (
        {f["path"]: f["sha256"] for f in warehouse.manifest(name, version - 1).get("files", [])}
        if (prev / MANIFEST).is_file()
        else {}
    )
    tmp = ddir / f".pull-v{version}-{uuid.uuid4().hex[:8]}"
    try:
        for f in m.get("files", []):
            dst = tmp / f["path"]
            dst.parent.mkdir(parents=True, exist_ok=True)
            if prev_files.get(f["path"]) == f["sha256"]:
                os.link(prev / f["path"], dst)  # the same bytes as the version before: share them, as publish does
                continue
            remote._call(remote.fs.get_file, remote.version_key(name, version, f["path"]), str(dst))
            if sha256_file(dst) != f["sha256"]:
                raise RemoteError(
                    f"dataset `{name}` v{version}: `{f['path']}` on {remote.url} does not match the sha256 its manifest "
                    "records; the remote copy is damaged, nothing was pulled"
                )
        (tmp / MANIFEST).write_bytes(body)
        os.rename(tmp, warehouse.version_dir(name, version))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pull_versions(warehouse: Warehouse, name: str) -> list[int]:
    """Download every committed remote version of `name` this machine lacks; the versions pulled.

    Raises:
        RemoteError: a local version differs from the remote one of the same number, or a file is damaged.
    """
    remote = remote_of(warehouse)
    if remote is None:
        return []
    lock = warehouse.lock_path(name)
    lock.parent.mkdir(parents=True, exist_ok=True)
    got = []
    with FileLock(str(lock)):
        local = set(warehouse.versions(name))
        for v in remote.versions(name):
            body = remote._call(remote.fs.cat_file, remote.version_key(name, v, MANIFEST))
            if v in local:
                mine = (warehouse.version_dir(name, v) / MANIFEST).read_bytes()
                if hashlib.sha256(mine).digest() != hashlib.sha256(body).digest():
                    raise RemoteError(
                        f"dataset `{name}`: local v{v} differs from v{v} on {remote.url} (this folder published without "
                        f"the remote); move `{warehouse.version_dir(name, v)}` aside, or work in an empty local folder"
                    )
                continue
            _download_version(warehouse, remote, name, v, body)
            got.append(v)
    return got


def pull_catalog(warehouse: Warehouse) -> bool:
    """Replace the local catalog by the remote one (an atomic read of one object); False when the remote has none."""
    remote = remote_of(warehouse)
    if remote is None:
        return False
    warehouse.root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(warehouse.catalog_path) + ".lock"):
        return _fetch_catalog(warehouse, remote)


def _fetch_catalog(warehouse: Warehouse, remote: Remote) -> bool:
    tmp = warehouse.root / f".catalog-{uuid.uuid4().hex[:8]}.duckdb"
    try:
        remote._call(remote.fs.get_file, remote.key(CATALOG), str(tmp))
    except FileNotFoundError:
        return False
    os.replace(tmp, warehouse.catalog_path)
    Path(str(warehouse.catalog_path) + ".wal").unlink(missing_ok=True)
    return True


@contextmanager
def shared_catalog(warehouse: Warehouse) -> Iterator[None]:
    """With a remote: hold its catalog lease, start from its catalog, and upload the result when the block succeeds.

    Call with the local catalog's file lock held and no connection open. Without a remote, does nothing.
    """
    remote = remote_of(warehouse)
    if remote is None:
        yield
        return
    me = remote.acquire_lease()
    try:
        _fetch_catalog(warehouse, remote)
        yield
        tmp = remote.key(f".{CATALOG}-{uuid.uuid4().hex[:8]}")
        remote._call(remote.fs.put_file, str(warehouse.catalog_path), tmp)
        remote._call(remote.fs.mv, tmp, remote.key(CATALOG))
    finally:
        remote.release_lease(me)


# Per-dataset files made after a version is published (splits, diffs, cards, model pages): kept in step the way
# `aws s3 sync` does, by size and modification time, since cards are rewritten on every run.
DERIVED = ("splits", "diffs", "cards", "models")


def _mtime(info: dict[str, Any]) -> float:
    t = info.get("LastModified") or info.get("mtime") or info.get("created") or 0
    return t.timestamp() if hasattr(t, "timestamp") else float(t)


def _remote_derived(remote: Remote, name: str) -> dict[str, dict[str, Any]]:
    base = remote.key("datasets", name)
    out: dict[str, dict[str, Any]] = {}
    for sub in DERIVED:
        try:
            found = remote._call(remote.fs.find, f"{base}/{sub}", detail=True)
        except FileNotFoundError:
            continue
        out |= {p[len(base) + 1 :]: info for p, info in found.items()}
    return out


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
    """Upload derived files the remote lacks or holds in an older or other-sized copy; how many were uploaded."""
    remote = remote_of(warehouse)
    if remote is None:
        return 0
    theirs = _remote_derived(remote, name)
    n = 0
    for rel, p in _local_derived(warehouse, name).items():
        st, info = p.stat(), theirs.get(rel)
        if info is None or int(info.get("size", -1)) != st.st_size or st.st_mtime > _mtime(info) + 1:
            remote._call(remote.fs.put_file, str(p), remote.key("datasets", name, rel))
            n += 1
    return n


def pull_derived(warehouse: Warehouse, name: str) -> int:
    """Download derived files missing here, or newer or other-sized on the remote; how many were downloaded."""
    remote = remote_of(warehouse)
    if remote is None:
        return 0
    mine = _local_derived(warehouse, name)
    ddir = warehouse.dataset_dir(name)
    n = 0
    for rel, info in _remote_derived(remote, name).items():
        p = mine.get(rel)
        if p is not None and p.stat().st_size == int(info.get("size", -1)) and p.stat().st_mtime + 1 >= _mtime(info):
            continue
        dst = ddir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}")
        remote._call(remote.fs.get_file, remote.key("datasets", name, rel), str(tmp))
        os.replace(tmp, dst)
        n += 1
    return n
