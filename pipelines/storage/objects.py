"""Files on local disk or object storage (S3 and compatible) through one set of functions, and delta-rs's options.

A location is a local path, a `file://` URL or an object-store URL (`s3://bucket/prefix`, any fsspec
protocol). Files go through fsspec (s3fs for S3); a call that fails on a transient error (timeout,
dropped connection, S3 `SlowDown` / `ServiceUnavailable` / `InternalError`) is tried again, up to
`ATTEMPTS` times with exponential back-off; any other error (not found, access denied, bad request)
is raised at once. An upload never shows a partial file under its final name: an S3 PUT (and a
multipart upload, on completion) is atomic, and a local file is written under a temporary name in
the same folder and then renamed.

Delta commits on S3 are made safe by conditional writes. delta-rs writes each commit file
`_delta_log/<version>.json` with `If-None-Match: *` (object_store's `PutMode::Create`), so of two
writers that commit the same version from the same read version exactly one succeeds and the other
gets `CommitFailedError` (or, with retries allowed, rebases on the winner). `delta_options` asks for
this explicitly with `conditional_put = "etag"` (already delta-rs's default on S3 since 0.23; stated
so that it stays on if a default changes). It never sets `AWS_S3_ALLOW_UNSAFE_RENAME`, which lets two
writers both "win" the same version (the second silently overwrites the first), and delta-rs 1.x no
longer has the DynamoDB locking provider. Conditional writes are honoured by AWS S3 (since August
2024), MinIO, Cloudflare R2 and moto's server; a store that ignores `If-None-Match` is not safe for
concurrent writers.

Credentials, region and endpoint come from the standard AWS environment, read when each function
is called (never at import): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
`AWS_REGION` (else `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_S3` (else `AWS_ENDPOINT_URL`) for an
S3-compatible server.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

__all__ = ["ATTEMPTS", "delta_options", "exists", "find", "get_file", "is_remote", "join", "list_prefixes", "put_file"]

T = TypeVar("T")
ATTEMPTS = 5  # tries of one storage call on transient errors (waits 0.2, 0.4, 0.8, 1.6 s between them)
_TRANSIENT_ERRNO = {errno.EBUSY, errno.EAGAIN, errno.ETIMEDOUT, getattr(errno, "EREMOTEIO", errno.EIO)}
_S3_SCHEMES = {"s3", "s3a"}
_ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def is_remote(uri: str) -> bool:
    """Whether `uri` is a URL of a remote store (a scheme other than `file`), not a local path.

    Args:
        uri: a local path (`/data/wh`, `C:\\wh`), a `file://` URL, or a URL such as `s3://bucket/prefix`.

    Returns:
        True for `s3://...`, `gs://...`, `memory://...`; False for local paths and `file://` URLs.
    """
    scheme = urlsplit(uri).scheme
    return len(scheme) > 1 and scheme.lower() != "file"  # one letter is a Windows drive (`C:`)


def delta_options(uri: str) -> dict[str, str] | None:
    """The `storage_options` delta-rs (and `polars.scan_delta`) needs for a table at `uri`.

    Read from the environment at each call. For S3: the keys, region and endpoint that are set,
    `AWS_ALLOW_HTTP` for an `http://` endpoint, and `conditional_put = "etag"` so that a commit can
    never overwrite another writer's (see the module docstring).

    Args:
        uri: the table's location.

    Returns:
        None for a local table; an empty dict for a remote store other than S3 (its library reads the
        environment itself); the options for S3.
    """
    if not is_remote(uri):
        return None
    if urlsplit(uri).scheme.lower() not in _S3_SCHEMES:
        return {}
    env = os.environ
    options = {key: env[key] for key in _ENV_KEYS if env.get(key)}
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["AWS_REGION"] = region
    endpoint = _endpoint()
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.lower().startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    options["conditional_put"] = "etag"
    return options


def join(uri: str, *parts: str) -> str:
    """`uri` with `parts` appended, separated by single slashes (the same for paths and URLs).

    Args:
        uri: a local path or a URL; a trailing slash is ignored.
        parts: path segments, or several segments joined by `/`; empty ones are skipped.

    Returns:
        For example `join("s3://b/wh/", "datasets", "cnc")` is `s3://b/wh/datasets/cnc`.

    Raises:
        ValueError: a part is `.` or `..` (it would leave the location on object storage unchanged
            where a local path would go up).
    """
    segments: list[str] = []
    for part in parts:
        for segment in part.split("/"):
            if segment in {".", ".."}:
                raise ValueError(f"`{part}` in a storage path: `.` and `..` are not allowed; name the folder itself")
            if segment:
                segments.append(segment)
    base = uri.rstrip("/")
    if not segments:
        return base or uri
    return f"{base}/{'/'.join(segments)}"


def put_file(local: Path, uri: str) -> None:
    """Copy the local file `local` to `uri`, all or nothing: no partial file ever appears under `uri`.

    An existing file at `uri` is replaced. Missing parent folders are created on local disk.

    Args:
        local: the file to upload.
        uri: where it goes (local path, `file://` or object-store URL).

    Raises:
        FileNotFoundError: `local` does not exist, or the bucket does not.
        OSError: the store refused the write, or a transient error outlasted `ATTEMPTS` tries.
    """
    if not local.is_file():
        raise FileNotFoundError(f"`{local}` is not a file; nothing to upload to `{uri}`")
    fs, path = _fs(uri)
    if _is_local(fs):
        _retrying(lambda: _copy_atomic(local, Path(path)))
        return
    _retrying(lambda: fs.put_file(str(local), path))


def get_file(uri: str, local: Path) -> None:
    """Copy the file at `uri` to the local path `local`, all or nothing (written under a temporary name, then renamed).

    Args:
        uri: the file to download.
        local: where it goes; missing parent folders are created.

    Raises:
        FileNotFoundError: nothing at `uri`.
        OSError: the store refused the read, or a transient error outlasted `ATTEMPTS` tries.
    """
    fs, path = _fs(uri)
    if _is_local(fs):
        _retrying(lambda: _copy_atomic(Path(path), local))
        return

    def download() -> None:
        with _temporary_beside(local) as tmp:
            fs.get_file(path, str(tmp))
            os.replace(tmp, local)

    _retrying(download)


def exists(uri: str) -> bool:
    """Whether a file, or a folder (on S3: any key under that prefix), is at `uri`.

    Raises:
        OSError: the store cannot be asked (access denied, a transient error outlasted `ATTEMPTS` tries).
    """
    fs, path = _fs(uri)
    return bool(_retrying(lambda: fs.exists(path)))


def list_prefixes(uri: str) -> list[str]:
    """Names of the child folders directly under `uri` (on S3: the common prefixes), sorted; files are left out.

    Args:
        uri: a folder or prefix; one that does not exist has no children.

    Returns:
        The names alone (`["cnc", "press"]` for `s3://b/wh/datasets`), not their full URLs.

    Raises:
        OSError: the store cannot be listed (access denied, a transient error outlasted `ATTEMPTS` tries).
    """
    fs, path = _fs(uri)
    try:
        entries: list[dict[str, Any]] = _retrying(lambda: fs.ls(path, detail=True))
    except FileNotFoundError:
        return []
    return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "directory")


# ------------------------------------------------------------------------------------------------ helpers


def find(uri: str) -> dict[str, int]:
    """Every file under `uri`, recursively: its path relative to `uri` -> its size in bytes; empty when there is none.

    Args:
        uri: a local folder or an object-store prefix.

    Returns:
        For example `{"_delta_log/00000000000000000000.json": 1234}` for a table's location.
    """
    fs, root = _fs(uri)
    root = root.rstrip("/")
    try:
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        return {}
    return {str(p)[len(root) + 1 :]: int(info.get("size") or 0) for p, info in found.items() if str(p) != root}


def _endpoint() -> str | None:
    """The S3 endpoint the environment names now (None: AWS itself)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def _fs(uri: str) -> tuple[Any, str]:
    """The fsspec filesystem of `uri` and the path inside it (listings never cached: other writers change them).

    For S3 the endpoint is passed explicitly, so that fsspec's cache of filesystem instances (keyed by
    the arguments) never hands back one made for an endpoint the environment named earlier.
    """
    from fsspec.core import url_to_fs

    options: dict[str, Any] = {"use_listings_cache": False}
    if urlsplit(uri).scheme.lower() in _S3_SCHEMES and (endpoint := _endpoint()):
        options["endpoint_url"] = endpoint
    fs, path = url_to_fs(uri, **options)
    return fs, path


def _is_local(fs: Any) -> bool:
    return "file" in getattr(fs, "protocol", ())


def _copy_atomic(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` on local disk under a temporary name in `dst`'s folder, then rename it into place."""
    with _temporary_beside(dst) as tmp:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


@contextmanager
def _temporary_beside(target: Path) -> Iterator[Path]:
    """A temporary file name in the folder of `target` (created if missing), removed on exit unless renamed away."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _transient(e: BaseException) -> bool:
    """Whether a storage error may pass if the call is made again (a timeout, a dropped connection, a busy server)."""
    if isinstance(e, (ConnectionRefusedError, FileNotFoundError, FileExistsError, PermissionError)):
        return False  # a wrong endpoint or path, or a refusal: the same call fails the same way
    if isinstance(e, (TimeoutError, ConnectionError)):
        return True
    if isinstance(e, OSError) and e.errno in _TRANSIENT_ERRNO:
        return True  # s3fs's translation of S3 SlowDown / ServiceUnavailable (EBUSY) and InternalError (EREMOTEIO)
    try:
        from s3fs.core import S3_RETRYABLE_ERRORS
    except ImportError:  # pragma: no cover - s3fs is a dependency
        return False
    return isinstance(e, S3_RETRYABLE_ERRORS)


def _retrying(call: Callable[[], T]) -> T:
    """`call()`, made again on a transient error up to `ATTEMPTS` times; the last error is raised as it is."""
    retrying = Retrying(
        retry=retry_if_exception(_transient),
        wait=wait_exponential(multiplier=0.2, min=0.2, max=5.0),
        stop=stop_after_attempt(ATTEMPTS),
        reraise=True,
    )
    return retrying(call)
