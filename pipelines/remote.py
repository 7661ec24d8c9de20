"""The warehouse's store of record on object storage (S3 and compatible, or any fsspec URL).

A machine works in its local warehouse folder, which acts as a cache of the remote one; the remote
holds the same layout (`datasets/<name>/v<N>/...`, `catalog.duckdb`). Object storage has no rename,
no hard link and no file lock, so small protocols replace them, each built on one conditional write
(`If-None-Match: *`, fsspec mode `xb`) that only one writer can win. The first such write of a process
probes that the store honours it and refuses a store that does not.

* **claim**: before a version number is used, `v<N>/.claim` is created; a second writer fails to
  create it and learns who holds the number. The holder rewrites its claim every `CLAIM_BEAT_S`
  while it builds and uploads; a claim not rewritten for `CLAIM_STALE_S` belongs to a run that
  died, and the next writer skips that number, as it skips a number an operator released (a claim
  is never deleted under a possibly live writer).
* **manifest last**: every file of a version is uploaded first, its manifest last, after the writer
  checked that its claim is still its own; a reader only sees versions whose manifest exists.
* **lease**: `catalog.lease` is held (and renewed) while one machine updates the shared catalog
  (download, write, upload); others wait for it. A lease not renewed for `LEASE_STALE_S` is taken over,
  on S3 by a conditional replace of that very object.

Credentials and the endpoint come from the usual environment (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL` for an S3-compatible server such as MinIO or moto).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.errors import MoshuError
from pipelines.warehouse import MANIFEST, version_number

CLAIM = ".claim"
LEASE = "catalog.lease"
LEASE_WAIT_S = 900.0  # a writer may hold the catalog while it measures a version for its models
LEASE_STALE_S = 600.0  # renewed every CLAIM_BEAT_S while held: a lease not renewed this long belongs to a dead process
CLAIM_BEAT_S = 30.0
CLAIM_STALE_S = 900.0  # thirty missed heartbeats
_PROBED: set[str] = set()
_ONE_PUT = 5 * 2**30 // 2  # s3fs sends one PUT below twice its chunk size; S3 takes up to 5 GB in one PUT


class RemoteError(MoshuError):
    """The remote warehouse cannot be reached, or refused a write another writer already made."""


class RemoteConflict(RemoteError):
    """Another writer got there first: the number, the manifest or the catalog changed under this one."""


def _now() -> datetime:
    return datetime.now(UTC)


def holder(run_id: str | None = None) -> dict[str, Any]:
    """Who writes: run, host, process, a unique token and times (kept in claims and leases, to say who blocks whom)."""
    now = _now().isoformat(timespec="seconds")
    return {
        "run_id": run_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "token": uuid.uuid4().hex,
        "since": now,
        "beat": now,
    }


def _age_s(record: dict[str, Any]) -> float:
    """Seconds since a claim or lease was last rewritten (infinite when it cannot be read)."""
    try:
        return (_now() - datetime.fromisoformat(record.get("beat") or record["since"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return float("inf")


def _cause(e: BaseException) -> str:
    """The text of the storage library's own error behind a RemoteError (never the URL moshu added)."""
    return str(e.__cause__ if e.__cause__ is not None else e)


def _precondition_failed(e: BaseException) -> bool:
    text = _cause(e)
    return "PreconditionFailed" in text or "pre-condition" in text


def _conflicting(e: BaseException) -> bool:
    return "ConditionalRequestConflict" in _cause(e)


def _who(record: dict[str, Any]) -> str:
    if not record:
        return "a writer whose record cannot be read"
    run = f"run {record['run_id']} on " if record.get("run_id") else ""
    return f"{run}{record.get('host') or '?'} (pid {record.get('pid') or '?'}) since {record.get('since') or '?'}"


@contextmanager
def _renewing(renew: Any, what: str) -> Iterator[None]:
    """Call `renew` every `CLAIM_BEAT_S` in a thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(CLAIM_BEAT_S):
            try:
                renew()
            except Exception as e:  # a missed renewal is retried; real failures surface in the block itself
                logging.getLogger(__name__).warning("could not renew %s: %s", what, e)

    t = threading.Thread(target=loop, name=f"moshu-renew-{what}", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


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

    def datasets(self) -> list[str]:
        """Names of the datasets the remote holds anything of."""
        return sorted(p.rstrip("/").split("/")[-1] for p in self.call(self.fs.glob, self.key("datasets", "*")))

    def versions(self, name: str) -> list[int]:
        """Committed versions (their manifest exists), ascending."""
        return self._numbered(name, "manifest.json")

    def claimed(self, name: str) -> list[int]:
        """Version numbers with a claim (committed or not), ascending."""
        return self._numbered(name, CLAIM)

    def _numbered(self, name: str, leaf: str) -> list[int]:
        """N of every `datasets/<name>/v<N>/<leaf>`, ascending."""
        found = (
            version_number(p.rstrip("/").split("/")[-2]) for p in self.call(self.fs.glob, self.key("datasets", name, "v*", leaf))
        )
        return sorted(n for n in found if n is not None)

    def read_json(self, path: str) -> dict[str, Any] | None:
        """A small JSON file, or None when it does not exist."""
        try:
            data: dict[str, Any] = json.loads(self.call(self.fs.cat_file, path))
        except FileNotFoundError:
            return None
        except ValueError:
            return {}
        return data

    def manifest_bytes(self, name: str, version: int) -> bytes | None:
        """The committed manifest of a version, or None."""
        try:
            data: bytes = self.call(self.fs.cat_file, self.version_key(name, version, MANIFEST))
        except FileNotFoundError:
            return None
        return data

    def create(self, path: str, body: bytes) -> bool:
        """Write `path` only if it does not exist (one writer wins); False when it already existed.

        The first exclusive create of a process probes that the store refuses a second one (a read-only
        user never gets here). A conditional write racing another (S3 409) is retried.
        """
        if self.url not in _PROBED:
            _probe(self)
            _PROBED.add(self.url)
        return self._create(path, body)

    def _create(self, path: str, body: bytes) -> bool:
        def write() -> None:
            with self.fs.open(path, "xb") as f:
                f.write(body)

        delay = 0.1
        for _ in range(6):
            try:
                self.call(write)
            except FileExistsError:
                return False
            except RemoteError as e:
                if _precondition_failed(e):
                    return False  # an existing object, reported without the If-None-Match condition
                if _conflicting(e):  # S3 409: another conditional write raced this one; try again
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise
            return True
        raise RemoteError(f"remote warehouse {self.url}: `{path}` kept conflicting with concurrent conditional writes")

    def put(self, path: str, body: bytes) -> None:
        """Write (or replace) a small file in one request."""
        self.call(self.fs.pipe_file, path, body)

    def replace_if(self, path: str, body: bytes, expected: str | None) -> str | None:
        """Write `body` to `path` only if `path` still has the stamp `expected` (None: does not exist); the new
        stamp. On S3 the condition is checked by the server (`If-Match`, in one PUT); elsewhere just before the write.

        Raises:
            RemoteConflict: `path` changed since `expected` was read.
            RemoteError: `body` is over 5 GB (one PUT's limit), or the write failed.
        """
        changed = RemoteConflict(f"`{path}` on {self.url} changed since it was read")
        if expected is None:
            if not self.create(path, body):
                raise changed
            return self.stamp(path)
        if "s3" in getattr(self.fs, "protocol", ()):
            if len(body) >= _ONE_PUT:
                raise RemoteError(f"`{path}` would be {len(body):,} bytes; one conditional PUT takes at most 5 GB")
            try:  # a chunk size above the body keeps s3fs from a multipart upload, which would drop If-Match
                out = self.call(self.fs.pipe_file, path, body, chunksize=_ONE_PUT, IfMatch=expected)
            except RemoteError as e:
                if _precondition_failed(e):
                    raise changed from e
                raise
            etag = out.get("ETag") if isinstance(out, dict) else None
            return str(etag) if etag else self.stamp(path)
        if self.stamp(path) != expected:
            raise changed
        self.put(path, body)
        return self.stamp(path)

    def stamp(self, path: str) -> str | None:
        """What identifies the current content of `path` (its ETag, else size and time), or None when it does not exist."""
        try:
            info = self.call(self.fs.info, path)
        except FileNotFoundError:
            return None
        return str(info.get("ETag") or f"{info.get('size')}-{info.get('mtime') or info.get('LastModified')}")

    # ------------------------------------------------------------------------------------------------ claims

    def claim(self, name: str, version: int, run_id: str) -> dict[str, Any] | None:
        """Take version `version` of `name` for this run; the claim, or None when a dead run's stale claim holds it.

        Raises:
            RemoteError: the version is committed, or claimed by a live run.
        """
        me = holder(run_id)
        path = self.version_key(name, version, CLAIM)
        created = self.create(path, json.dumps(me).encode())
        committed = self.manifest_bytes(name, version) is not None
        if created and not committed:
            return me
        if created:
            self.call(self.fs.rm_file, path)  # committed already (its claim was released): never write into it
        other = self.read_json(path) or {}
        if committed:
            raise RemoteConflict(
                f"dataset `{name}`: the remote warehouse {self.url} already has v{version} ({_who(other)}): another machine "
                "published since this run read it; run again to build on it"
            )
        if other.get("released"):
            return None  # released by an operator: its old holder may still write into it, so it is never reused
        if other.get("run_id") == run_id:
            return other  # our own claim, from an interrupted upload of this version
        if _age_s(other) > CLAIM_STALE_S:
            return None
        raise RemoteConflict(
            f"dataset `{name}`: v{version} is being published to {self.url} by {_who(other)}, last seen "
            f"{_age_s(other):.0f} s ago; run again when it has finished (a claim not renewed for {CLAIM_STALE_S:.0f} s "
            f"is skipped; `moshu remote release {name} {version} --force` makes runs skip it now if that run is gone)"
        )

    def claim_from(self, name: str, first: int, run_id: str) -> tuple[int, dict[str, Any]]:
        """Claim `first`, or the next number after stale claims of dead runs; (version, claim)."""
        version = first
        while (mine := self.claim(name, version, run_id)) is None:
            version += 1
        return version, mine

    def _renew(self, path: str, mine: dict[str, Any]) -> None:
        """Rewrite a claim or the lease with a new `beat` time, only while it is still `mine` (and not released)."""
        current = self.read_json(path) or {}
        if current.get("token") == mine["token"] and not current.get("released"):
            self.put(path, json.dumps({**mine, "beat": _now().isoformat(timespec="seconds")}).encode())

    def check_held(self, name: str, version: int, mine: dict[str, Any]) -> None:
        """Raise unless `mine` still holds the claim on `version` (checked right before the manifest is written)."""
        other = self.read_json(self.version_key(name, version, CLAIM)) or {}
        if other.get("token") == mine["token"] and not other.get("released"):
            return
        if other.get("released") and other.get("token") == mine["token"]:
            why = "was released by an operator while this run uploaded it (the number is skipped from now on)"
        else:
            why = "was released while this run uploaded it" + (f" and is now held by {_who(other)}" if other else "")
        raise RemoteConflict(f"dataset `{name}`: the claim on v{version} at {self.url} {why}; nothing was committed there")

    @contextmanager
    def heartbeat(self, name: str, version: int, mine: dict[str, Any]) -> Iterator[None]:
        """Renew the claim every `CLAIM_BEAT_S` while the block runs (building and uploading can take long)."""
        with _renewing(lambda: self._renew(self.version_key(name, version, CLAIM), mine), f"the claim on `{name}` v{version}"):
            yield

    def release(self, name: str, version: int, *, run_id: str | None = None, force: bool = False) -> bool:
        """Give up an uncommitted claim; False when there was none (or it was another run's, with `run_id`).

        A run releasing its own claim (`run_id`, after it failed before committing) deletes it: the number is
        free again. An operator's release (no `run_id`) replaces the claim by a tombstone: its holder might still
        be writing into that number, so later runs skip it instead of reusing it. Uploaded files are never
        deleted: they are unreachable without a manifest.

        Raises:
            RemoteError: the version is committed, or the claim was renewed recently and `force` is not given.
        """
        if self.manifest_bytes(name, version) is not None:
            raise RemoteError(f"dataset `{name}`: v{version} is committed on {self.url}; a published version cannot be released")
        path = self.version_key(name, version, CLAIM)
        other = self.read_json(path)
        if other is None or other.get("released") or (run_id is not None and other.get("run_id") != run_id):
            return False
        if run_id is None and not force and _age_s(other) < CLAIM_STALE_S:
            raise RemoteError(
                f"dataset `{name}`: v{version} is claimed by {_who(other)}, renewed {_age_s(other):.0f} s ago, so that run "
                "may still be uploading; pass --force only if you know it is gone"
            )
        if run_id is not None:
            self.call(self.fs.rm_file, path)
        else:
            self.put(path, json.dumps({**other, "released": True, "released_at": _now().isoformat(timespec="seconds")}).encode())
        if self.manifest_bytes(name, version) is not None:  # its holder committed meanwhile: the claim stays
            self.put(path, json.dumps(other).encode())
            raise RemoteError(f"dataset `{name}`: v{version} was committed on {self.url} while it was being released; kept")
        return True

    # ------------------------------------------------------------------------------------------------ lease

    def acquire_lease(self, wait_s: float | None = None) -> dict[str, Any]:
        """Hold the catalog lease, waiting up to `wait_s` (default `LEASE_WAIT_S`) for another holder.

        Raises:
            RemoteError: still held after `wait_s`; the message names the holder and how to break a stale lease.
        """
        wait_s = LEASE_WAIT_S if wait_s is None else wait_s
        me = holder()
        path = self.key(LEASE)
        delay, waited = 0.1, 0.0
        while True:
            other: dict[str, Any] | None = None
            if self.create(path, json.dumps(me).encode()):
                if (self.read_json(path) or {}).get("token") == me["token"]:  # a breaker may have replaced it
                    return me
            else:
                stamp = self.stamp(path)  # before the content: a takeover is conditional on this very object
                other = self.read_json(path)
                if other is not None and _age_s(other) > LEASE_STALE_S and self._take_over(path, stamp, me):
                    return me
            if waited >= wait_s:
                raise RemoteError(
                    f"the catalog of {self.url} is held by {_who(other or {})}; waited {wait_s:g} s. A lease not renewed "
                    f"for {LEASE_STALE_S:.0f} s is broken; if that process is gone, `moshu remote unlock` frees it now"
                )
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)

    def _take_over(self, path: str, stamp: str | None, me: dict[str, Any]) -> bool:
        """Replace a stale lease by `me`, only if it is still the object that was found stale; True when taken."""
        body = json.dumps(me).encode()
        if "s3" in getattr(self.fs, "protocol", ()) and stamp is not None:
            try:
                self.replace_if(path, body, stamp)  # If-Match: of two breakers, one wins
            except RemoteConflict:
                return False
        else:  # no conditional replace here: break, then race for the create
            with suppress(FileNotFoundError):
                self.call(self.fs.rm_file, path)
            if not self.create(path, body):
                return False
        return (self.read_json(path) or {}).get("token") == me["token"]

    @contextmanager
    def lease(self, wait_s: float | None = None) -> Iterator[dict[str, Any]]:
        """Hold the catalog lease for the block, renewed every `CLAIM_BEAT_S` (a long write does not look dead)."""
        me = self.acquire_lease(wait_s)
        try:
            with _renewing(lambda: self._renew(self.key(LEASE), me), "the catalog lease"):
                yield me
        finally:
            self.release_lease(me)

    def release_lease(self, me: dict[str, Any] | None = None) -> None:
        """Give the catalog lease back (only `me`'s, when given)."""
        current = self.read_json(self.key(LEASE))
        if current is not None and (me is None or current.get("token") == me["token"]):
            self.call(self.fs.rm_file, self.key(LEASE))

    # ------------------------------------------------------------------------------------------------ errors

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the filesystem; any failure but "not found" / "exists" becomes a RemoteError naming the remote."""
        try:
            return fn(*args, **kwargs)
        except (FileNotFoundError, FileExistsError, RemoteError):
            raise
        except Exception as e:  # s3fs turns most botocore errors into OSError; aiohttp / botocore ones may escape
            raise RemoteError(f"remote warehouse {self.url}: {type(e).__name__}: {e}") from e


def open_remote(url: str) -> Remote:
    """The remote warehouse at `url` (`s3://bucket/prefix`, `file:///...`, any fsspec URL), checked to be reachable
    with its bucket there, by a read (conditional writes are probed at the first write, see `Remote.create`).

    Raises:
        RemoteError: unknown filesystem, missing bucket, or unreachable endpoint.
    """
    from fsspec.core import url_to_fs

    try:
        # Listings must be fresh: other machines add versions and claims while this process runs.
        fs, root = url_to_fs(url, use_listings_cache=False)
    except (ValueError, ImportError, TypeError) as e:
        raise RemoteError(f"remote warehouse `{url}`: {e}") from e
    remote = Remote(url, fs, root.rstrip("/"))
    hint = "check the URL, AWS_ENDPOINT_URL and the credentials in the environment"
    if "file" in getattr(fs, "protocol", ()):
        fs.makedirs(remote.root, exist_ok=True)
        return remote
    bucket = remote.root.split("/")[0]
    try:
        remote.call(fs.ls, bucket)  # a read: a machine that only pulls needs no write access
    except FileNotFoundError as e:
        raise RemoteError(
            f"remote warehouse `{url}`: bucket `{bucket}` does not exist (or these credentials cannot see it); "
            f"create it first, or {hint}"
        ) from e
    except RemoteError as e:
        raise RemoteError(f"{e}; {hint}") from e
    return remote


def _probe(remote: Remote) -> None:
    """Refuse a store that lets a second exclusive create of one key succeed."""
    probe = remote.key(f".moshu-probe-{uuid.uuid4().hex}")
    first = remote._create(probe, b"1")
    second = remote._create(probe, b"2")
    with suppress(RemoteError, FileNotFoundError):
        remote.call(remote.fs.rm_file, probe)
    if not (first and not second):
        raise RemoteError(
            f"remote warehouse `{remote.url}` does not refuse a second exclusive create (S3 `If-None-Match: *`); moshu "
            "needs it so that two machines never take the same version number. Use a store that supports conditional writes"
        )
