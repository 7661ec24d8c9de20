"""An S3 API (moto's server) in its own process on loopback, the AWS environment pointing at it, and a fresh bucket per test.

The server runs in a child process, not in a thread of the test process: some delta-rs calls (for
example `DeltaTable.history()`) hold the GIL while they wait for the store, so a server thread in the
same process could not answer them and the call would hang until the client's timeout.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection

import pytest

START_TIMEOUT_S = 60.0


def _serve(conn: Connection, ignore_if_none_match: bool = False) -> None:
    """Run moto's S3 server on 127.0.0.1 (a free port), send (host, port), and stop when told to.

    With `ignore_if_none_match`, PUT drops its `If-None-Match` header first: a store without conditional writes.
    """
    from moto.server import ThreadedMotoServer

    if ignore_if_none_match:
        from moto.s3.responses import S3Response
        from werkzeug.datastructures import Headers

        put_object = S3Response.put_object

        def unconditional(self: S3Response) -> object:
            self.headers = Headers([(k, v) for k, v in self.headers.items() if k.lower() != "if-none-match"])
            return put_object(self)

        S3Response.put_object = unconditional  # type: ignore[method-assign,assignment]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    conn.send(server.get_host_and_port())
    conn.recv()
    server.stop()


@contextmanager
def _moto(ignore_if_none_match: bool = False) -> Iterator[str]:
    """`http://127.0.0.1:<port>` of a moto S3 server running in a child process while the block runs."""
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(theirs, ignore_if_none_match), name="moto-s3", daemon=True)
    process.start()
    if not ours.poll(START_TIMEOUT_S):
        process.kill()
        pytest.fail(f"moto's S3 server did not start within {START_TIMEOUT_S:.0f} s")
    host, port = ours.recv()
    try:
        yield f"http://{host}:{port}"
    finally:
        ours.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server for the whole session."""
    with _moto() as url:
        yield url


@pytest.fixture(scope="module")
def unconditional_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server that ignores `If-None-Match` on PUT (as a store without conditional writes)."""
    with _moto(ignore_if_none_match=True) as url:
        yield url


def point_aws_at(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Set the AWS environment of this test (and of the processes it starts) to `endpoint` with test credentials.

    A user's AWS profile, config and credential files are never read.
    """
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_S3_ALLOW_UNSAFE_RENAME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)


def new_bucket(endpoint: str) -> str:
    """`s3://<new bucket>/warehouse` on the server at `endpoint`."""
    import s3fs

    bucket = f"moshu-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True).mkdir(bucket)
    return f"s3://{bucket}/warehouse"


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The AWS environment of this test pointing at the session's moto server; its URL."""
    point_aws_at(monkeypatch, moto_endpoint)
    return moto_endpoint


@pytest.fixture
def bucket_url(s3_env: str) -> str:
    """`s3://<new bucket>/warehouse` on the session's moto server."""
    return new_bucket(s3_env)


@pytest.fixture
def unconditional_bucket_url(unconditional_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`s3://<new bucket>/warehouse` on a server that ignores `If-None-Match`, the environment pointing at it."""
    point_aws_at(monkeypatch, unconditional_endpoint)
    return new_bucket(unconditional_endpoint)
