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
from multiprocessing.connection import Connection

import pytest

START_TIMEOUT_S = 60.0


def _serve(conn: Connection) -> None:
    """Run moto's S3 server on 127.0.0.1 (a free port), send (host, port), and stop when told to."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    conn.send(server.get_host_and_port())
    conn.recv()
    server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """`http://127.0.0.1:<port>` of a moto S3 server running in a child process for the whole session."""
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(theirs,), name="moto-s3", daemon=True)
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


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The AWS environment of this test (and of the processes it starts) pointing at the moto server; its URL.

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
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def bucket_url(s3_env: str) -> str:
    """`s3://<new bucket>/warehouse` on the moto server."""
    import s3fs

    bucket = f"moshu-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=s3_env, skip_instance_cache=True).mkdir(bucket)
    return f"s3://{bucket}/warehouse"
