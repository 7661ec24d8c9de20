"""The object-store layer's pure parts: locations, delta-rs options from the environment, and which errors are tried again."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from pipelines.storage import objects
from pipelines.storage.objects import delta_options, is_remote, join, put_file

AI4I = Path(__file__).resolve().parents[2] / "seeds" / "ai4i2020" / "ai4i2020.csv"


@pytest.mark.parametrize(
    ("uri", "remote"),
    [
        ("s3://bucket/warehouse", True),
        ("S3A://bucket/warehouse", True),
        ("gs://bucket", True),
        ("memory://warehouse", True),
        ("/data/warehouse", False),
        ("warehouse", False),
        ("file:///data/warehouse", False),
        ("C:\\data\\warehouse", False),
    ],
)
def test_is_remote(uri: str, remote: bool) -> None:
    assert is_remote(uri) is remote


def test_join_paths_and_urls() -> None:
    assert join("s3://b/wh/", "datasets", "ai4i/published") == "s3://b/wh/datasets/ai4i/published"
    assert join("/data/wh", "datasets/", "/ai4i") == "/data/wh/datasets/ai4i"
    assert join("file:///data/wh", "datasets") == "file:///data/wh/datasets"
    assert join("/", "datasets") == "/datasets"
    assert join("s3://b/wh/") == "s3://b/wh"
    with pytest.raises(ValueError, match=r"`\.\./x`"):
        join("s3://b/wh", "../x")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An AWS environment with none of the variables `delta_options` reads."""
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_S3_ALLOW_UNSAFE_RENAME",
    ):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_delta_options_local_and_other_stores(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_REGION", "eu-west-1")
    assert delta_options("/data/wh/datasets/ai4i/published") is None
    assert delta_options("file:///data/wh/datasets/ai4i/published") is None
    assert delta_options("gs://bucket/wh") == {}


def test_delta_options_for_s3_read_at_call_time(aws_env: pytest.MonkeyPatch) -> None:
    assert delta_options("s3://b/wh") == {"conditional_put": "etag"}  # AWS's own endpoint and credential chain

    aws_env.setenv("AWS_ACCESS_KEY_ID", "key")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    aws_env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert delta_options("s3://b/wh") == {
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ALLOW_HTTP": "true",
        "conditional_put": "etag",
    }

    aws_env.setenv("AWS_REGION", "us-east-2")  # wins over AWS_DEFAULT_REGION
    aws_env.setenv("AWS_ENDPOINT_URL_S3", "https://s3.example.test")  # wins over AWS_ENDPOINT_URL
    options = delta_options("s3a://b/wh")
    assert options is not None
    assert options["AWS_REGION"] == "us-east-2"
    assert options["AWS_ENDPOINT_URL"] == "https://s3.example.test"
    assert "AWS_ALLOW_HTTP" not in options  # https
    assert "AWS_S3_ALLOW_UNSAFE_RENAME" not in options


class _FlakyFs:
    """An fsspec stand-in whose `put_file` fails with the given errors, then succeeds."""

    protocol = ("s3",)

    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors
        self.calls = 0

    def put_file(self, local: str, path: str) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def _with_fs(monkeypatch: pytest.MonkeyPatch, fs: Any) -> None:
    monkeypatch.setattr(objects, "_fs", lambda uri: (fs, uri.split("://", 1)[-1]))
    monkeypatch.setattr(objects, "ATTEMPTS", 3)


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError("read timed out"),
        ConnectionResetError("connection reset by peer"),
        OSError(errno.EBUSY, "SlowDown"),
        OSError(getattr(errno, "EREMOTEIO", errno.EIO), "InternalError"),
    ],
    ids=["timeout", "reset", "slow-down", "internal-error"],
)
def test_transient_errors_are_tried_again(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    fs = _FlakyFs([error])
    _with_fs(monkeypatch, fs)
    put_file(AI4I, "s3://b/wh/ai4i2020.csv")
    assert fs.calls == 2


@pytest.mark.parametrize(
    "error",
    [
        PermissionError("Access Denied"),
        FileNotFoundError("The specified bucket does not exist"),
        ConnectionRefusedError("connection refused"),
        OSError(errno.EINVAL, "InvalidArgument"),
    ],
    ids=["denied", "no-bucket", "refused", "invalid"],
)
def test_other_errors_are_raised_at_once(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    fs = _FlakyFs([error])
    _with_fs(monkeypatch, fs)
    with pytest.raises(type(error)):
        put_file(AI4I, "s3://b/wh/ai4i2020.csv")
    assert fs.calls == 1


def test_transient_errors_give_up_after_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    fs = _FlakyFs([TimeoutError(f"timeout {i}") for i in range(5)])
    _with_fs(monkeypatch, fs)
    with pytest.raises(TimeoutError, match="timeout 2"):
        put_file(AI4I, "s3://b/wh/ai4i2020.csv")
    assert fs.calls == 3


def test_put_file_refuses_a_missing_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing to upload"):
        put_file(tmp_path / "absent.parquet", str(tmp_path / "wh" / "absent.parquet"))
    assert not (tmp_path / "wh").exists()
