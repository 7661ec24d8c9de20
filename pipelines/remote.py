"""The warehouse's store of record on object storage (S3 and compatible, or any fsspec URL).

A machine works in its local warehouse folder, which acts as a cache of the remote one; the remote
holds the same layout (`datasets/<name>/v<N>/...`, `catalog.duckdb`). Object storage has no rename,
no hard link and no file lock, so three small protocols replace them, each built on one conditional
write (`If-None-Match: *`, fsspec mode `xb`) that only one writer can win:

* **claim**: before a version number is used, `v<N>/.claim` is created; a second writer fails to
  create it and learns who holds the number. A released claim (the run failed) is deleted.
* **manifest last**: every file of a version is uploaded first, its manifest last; a reader only
  sees versions whose manifest exists, so a half-uploaded version is invisible.
* **lease**: `catalog.lease` is held while one machine updates the shared catalog (download,
  write, upload); others wait for it.

Credentials and the endpoint come from the usual environment (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL` for an S3-compatible server such as MinIO or moto).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.errors import MoshuError

CLAIM = ".claim"
LEASE = "catalog.lease"
LEASE_WAIT_S = 60.0


class RemoteError(MoshuError):
    """The remote warehouse cannot be reached, or refused a write another writer already made."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def holder(run_id: str | None = None) -> dict[str, Any]:
    """Who writes: run, host, process and time (kept in claims and leases so a blocked writer can say who blocks it)."""
    return {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(), "since": _now()}


@dataclass(frozen=True)
class Remote:
    """A warehouse root on an fsspec filesystem: `fs` and the root path inside it."""

    url: str
    fs: Any
    root: str

    def key(self, *parts: str) -> str:
        """Path of a file below the root."""
        return "/".join([self.root.rstrip("/"), *parts])

    def version_key(self, name: str, version: int, rel: str = "") -> str:
        """Path of a version folder, or of a file `rel` inside it."""
        return self.key("datasets", name, f"v{version}", *([rel] if rel else []))

    def versions(self, name: str) -> list[int]:
        """Committed versions (their manifest exists), ascending."""
        found = self._call(self.fs.glob, self.key("datasets", name, "v*", "manifest.json"))
        out = []
        for p in found:
            folder = p.rstrip("/").split("/")[-2]
            if folder[1:].isdigit():
                out.append(int(folder[1:]))
        return sorted(out)

    def read_json(self, path: str) -> dict[str, Any] | None:
        """A small JSON file, or None when it does not exist."""
        try:
            data: dict[str, Any] = json.loads(self._call(self.fs.cat_file, path))
        except FileNotFoundError:
            return None
        return data

    def create(self, path: str, body: bytes) -> bool:
        """Write `path` only if it does not exist (one writer wins); False when it already existed."""
        try:
            with self._call(self.fs.open, path, "xb") as f:
                f.write(body)
        except FileExistsError:
            return False
        return True

    def claim(self, name: str, version: int, run_id: str) -> None:
        """Take version `version` of `name` for this run, or fail saying who has it.

        Raises:
            RemoteError: the version is committed, or claimed by another run.
        """
        path = self.version_key(name, version, CLAIM)
        if self.create(path, json.dumps(holder(run_id)).encode()):
            return
        other = self.read_json(path) or {}
        if other.get("run_id") == run_id:
            return  # our own claim, from an interrupted push
        if self.read_json(self.version_key(name, version, "manifest.json")) is not None:
            raise RemoteError(
                f"dataset `{name}`: the remote warehouse {self.url} already has v{version} (run {other.get('run_id')} on "
                f"{other.get('host')}): another machine published since this run read it; run again to build on it"
            )
        raise RemoteError(
            f"dataset `{name}`: v{version} is being published to {self.url} by run {other.get('run_id')} on "
            f"{other.get('host')} (pid {other.get('pid')}) since {other.get('since')}; run again when it has finished. "
            f"If that run is gone, `moshu remote release {name} {version}` frees the number"
        )

    def release(self, name: str, version: int, run_id: str | None = None) -> bool:
        """Delete an uncommitted claim (only this run's, when `run_id` is given); False when nothing was released.

        Raises:
            RemoteError: the version is committed (its manifest exists); a committed version is never released.
        """
        if self.read_json(self.version_key(name, version, "manifest.json")) is not None:
            raise RemoteError(f"dataset `{name}`: v{version} is committed on {self.url}; a published version cannot be released")
        path = self.version_key(name, version, CLAIM)
        other = self.read_json(path)
        if other is None or (run_id is not None and other.get("run_id") != run_id):
            return False
        self._call(self.fs.rm, self.version_key(name, version), recursive=True)
        return True

    def acquire_lease(self, wait_s: float | None = None) -> dict[str, Any]:
        """Hold the catalog lease, waiting up to `wait_s` (default `LEASE_WAIT_S`) for another holder.

        Raises:
            RemoteError: still held after `wait_s`; the message names the holder and how to break a stale lease.
        """
        wait_s = LEASE_WAIT_S if wait_s is None else wait_s
        me = holder()
        body = json.dumps(me).encode()
        delay, waited = 0.1, 0.0
        while not self.create(self.key(LEASE), body):
            if waited >= wait_s:
                other = self.read_json(self.key(LEASE)) or {}
                raise RemoteError(
                    f"the catalog of {self.url} has been held by {other.get('host')} (pid {other.get('pid')}) since "
                    f"{other.get('since')}; waited {wait_s:.0f} s. If that process is gone, `moshu remote unlock` frees it"
                )
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)
        return me

    def release_lease(self, me: dict[str, Any] | None = None) -> None:
        """Give the catalog lease back (only `me`'s, when given)."""
        current = self.read_json(self.key(LEASE))
        if current is not None and (me is None or current == me):
            self._call(self.fs.rm_file, self.key(LEASE))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the filesystem; connection and permission failures become a RemoteError naming the remote."""
        try:
            return fn(*args, **kwargs)
        except (FileNotFoundError, FileExistsError):
            raise
        except (OSError, PermissionError) as e:
            raise RemoteError(f"remote warehouse {self.url}: {type(e).__name__}: {e}") from e
        except Exception as e:  # botocore / aiohttp errors are not OSErrors
            if type(e).__module__.split(".")[0] in {"botocore", "aiobotocore", "aiohttp", "s3fs"}:
                raise RemoteError(f"remote warehouse {self.url}: {type(e).__name__}: {e}") from e
            raise


def open_remote(url: str) -> Remote:
    """The remote warehouse at `url` (`s3://bucket/prefix`, `file:///...`, any fsspec URL), checked to exist.

    Raises:
        RemoteError: the URL's filesystem is unknown, the bucket does not exist, or the endpoint cannot be reached.
    """
    from fsspec.core import url_to_fs

    try:
        fs, root = url_to_fs(url)
    except (ValueError, ImportError) as e:
        raise RemoteError(f"remote warehouse `{url}`: {e}") from e
    remote = Remote(url, fs, root.rstrip("/"))
    bucket = root.split("/")[0] if getattr(fs, "protocol", None) and "s3" in fs.protocol else None
    if bucket is not None:
        try:
            ok = remote._call(fs.exists, bucket)
        except RemoteError as e:
            raise RemoteError(f"{e}; check AWS_ENDPOINT_URL and the credentials in the environment") from e
        if not ok:
            raise RemoteError(f"remote warehouse `{url}`: bucket `{bucket}` does not exist; create it first")
    else:
        fs.makedirs(root, exist_ok=True)
    return remote
