"""The object-store layer and Delta commits against a real S3 API (moto's server on loopback)."""

from __future__ import annotations

import json
import multiprocessing as mp
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, Schema
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import CommitProperties, create_table_with_add_actions
from polars.testing import assert_frame_equal

from pipelines.storage.objects import delta_options, exists, get_file, join, list_prefixes, put_file
from tests.storage.delta_files import AI4I, ai4i_rows, commit_rounds, upload

pytestmark = pytest.mark.slow  # starts moto in a process, and two spawned writers (about 20 s in all)

ROUNDS = 5


@pytest.fixture(params=["path", "file-url", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A warehouse root: a local path, a `file://` URL, and a prefix in a new bucket on the S3 server."""
    if request.param == "path":
        return str(tmp_path / "warehouse")
    if request.param == "file-url":
        return (tmp_path / "warehouse").as_uri()
    url: str = request.getfixturevalue("bucket_url")
    return url


def _create(uri: str, rows: pa.Table, metadata: dict[str, object], partition_by: list[str] | None = None) -> None:
    """Create the table at `uri` from files uploaded here: one file per partition value (or one file)."""
    if partition_by:
        (col,) = partition_by
        adds = [upload(uri, rows.filter(pc.equal(rows[col], v)).drop_columns([col]), {col: v}) for v in _values(rows, col)]
    else:
        adds = [upload(uri, rows)]
    create_table_with_add_actions(
        uri,
        Schema.from_arrow(rows.schema),
        adds,
        partition_by=partition_by,
        storage_options=delta_options(uri),
        commit_properties=CommitProperties(custom_metadata={"moshu": json.dumps(metadata)}, max_commit_retries=0),
    )


def _values(rows: pa.Table, col: str) -> list[str]:
    return sorted(pc.unique(rows[col]).to_pylist())


def _moshu(commit: dict[str, object]) -> object:
    text = commit.get("moshu")
    assert isinstance(text, str), f"commit {commit.get('version')} carries no moshu metadata: {commit}"
    return json.loads(text)


def test_put_get_exists_list_round_trip(root: str, tmp_path: Path) -> None:
    datasets = join(root, "datasets")
    put_file(AI4I, join(datasets, "ai4i", "published", "ai4i2020.csv"))
    put_file(AI4I, join(datasets, "ai4i", "quarantine", "ai4i2020.csv"))
    put_file(AI4I, join(datasets, "cnc", "published", "nested", "ai4i2020.csv"))
    put_file(AI4I, join(datasets, "README.csv"))  # a file: not a child folder

    assert list_prefixes(datasets) == ["ai4i", "cnc"]
    assert list_prefixes(join(datasets, "ai4i")) == ["published", "quarantine"]
    assert list_prefixes(join(root, "nothing-here")) == []
    assert exists(join(datasets, "ai4i", "published", "ai4i2020.csv"))
    assert exists(join(datasets, "cnc"))
    assert not exists(join(datasets, "ai4i", "published", "other.csv"))

    back = tmp_path / "back" / "ai4i2020.csv"
    get_file(join(datasets, "ai4i", "published", "ai4i2020.csv"), back)
    assert back.read_bytes() == AI4I.read_bytes()
    assert [p.name for p in back.parent.iterdir()] == ["ai4i2020.csv"]  # no temporary file left beside it
    with pytest.raises(FileNotFoundError):
        get_file(join(datasets, "ai4i", "published", "other.csv"), tmp_path / "missing.csv")


def test_put_replaces_and_leaves_no_temporary_file_locally(tmp_path: Path) -> None:
    target = tmp_path / "warehouse" / "datasets" / "ai4i" / "rows.csv"
    small = tmp_path / "small.csv"
    small.write_bytes(AI4I.read_bytes()[:200])
    put_file(AI4I, str(target))
    put_file(small, str(target))
    assert target.read_bytes() == small.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["rows.csv"]


def test_delta_table_from_uploaded_files_reads_back(bucket_url: str) -> None:
    uri = join(bucket_url, "datasets", "ai4i", "published")
    rows = ai4i_rows()
    _create(uri, rows, {"version": 1, "rows": rows.num_rows})

    table = DeltaTable(uri, storage_options=delta_options(uri))
    assert table.version() == 0
    (commit,) = table.history()
    assert _moshu(commit) == {"version": 1, "rows": 10_000}
    read = pl.scan_delta(uri, storage_options=delta_options(uri)).collect()
    assert_frame_equal(read.sort("udi"), pl.DataFrame(rows).sort("udi"))


Outcome = tuple[str, int, str, float, float, str]  # writer, read version, ok/conflict/error, started, ended, file


def _race(uri: str, rounds: int, check: Callable[[int, list[Outcome]], None]) -> None:
    """Create the table at `uri`, then `rounds` times have two spawned processes commit an append from the same read
    version at the same moment with no retry; `check(read_version, outcomes)` after each round."""
    rows = ai4i_rows()
    _create(uri, rows.slice(0, 100), {"version": 0})
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    done = ctx.Queue()
    go = {name: ctx.Queue() for name in ("A", "B")}
    workers = [
        ctx.Process(target=commit_rounds, args=(uri, name, rows.slice(100 * (i + 1), 100), barrier, go[name], done))
        for i, name in enumerate(go)
    ]
    for w in workers:
        w.start()
    try:
        read_version = 0
        for _ in range(rounds):
            for q in go.values():
                q.put(read_version)
            outcomes: list[Outcome] = sorted(done.get(timeout=120) for _ in go)
            check(read_version, outcomes)
            read_version = DeltaTable(uri, storage_options=delta_options(uri)).version()
    finally:
        for q in go.values():
            q.put(None)
        for w in workers:
            w.join(30)
            if w.is_alive():
                w.kill()


def test_two_processes_committing_the_same_version_one_wins(bucket_url: str) -> None:
    """Two writers commit from the same read version at the same moment, with no retry, ROUNDS times:
    each time exactly one commit lands, the other gets CommitFailedError, and the winner's metadata is intact."""
    uri = join(bucket_url, "datasets", "ai4i", "published")

    def one_winner(read_version: int, outcomes: list[Outcome]) -> None:
        assert sorted(o[2] for o in outcomes) == ["conflict", "ok"], f"round from version {read_version}: {outcomes}"
        (winner,) = [o for o in outcomes if o[2] == "ok"]
        (loser,) = [o for o in outcomes if o[2] == "conflict"]
        table = DeltaTable(uri, storage_options=delta_options(uri))
        assert table.version() == read_version + 1
        assert _moshu(table.history(1)[0]) == {"writer": winner[0], "read_version": read_version, "file": winner[5]}
        assert any(u.endswith(winner[5]) for u in table.file_uris())
        assert not any(u.endswith(loser[5]) for u in table.file_uris())

    _race(uri, ROUNDS, one_winner)
    history = DeltaTable(uri, storage_options=delta_options(uri)).history()
    assert [c["version"] for c in history] == list(range(ROUNDS, -1, -1))
    assert all(_moshu(c) for c in history)
    assert pl.scan_delta(uri, storage_options=delta_options(uri)).select(pl.len()).collect().item() == 100 * (ROUNDS + 1)


def test_a_store_ignoring_if_none_match_loses_a_commit(unconditional_bucket_url: str) -> None:
    """The same race on a server that ignores `If-None-Match`: both writers are told they committed, and one of the
    two commits is silently lost. The race above can fail; it is the conditional write that makes it pass."""
    uri = join(unconditional_bucket_url, "datasets", "ai4i", "published")
    both_won: list[int] = []

    def record(read_version: int, outcomes: list[Outcome]) -> None:
        assert all(o[2] in {"ok", "conflict"} for o in outcomes), outcomes
        if [o[2] for o in outcomes] == ["ok", "ok"]:
            both_won.append(read_version)

    _race(uri, 2, record)
    assert both_won, "no round lost a commit: the server honoured If-None-Match after all"
    assert DeltaTable(uri, storage_options=delta_options(uri)).version() == 2  # two rounds, four "successful" commits


def _partition_writer(uri: str, rows: pa.Table, value: str, mode: str, retries: int | None) -> Callable[[DeltaTable], None]:
    """Upload ten new rows of partition `type=value`; return a commit of that file (`mode`) on a given table."""
    add = upload(uri, rows.filter(pc.equal(rows["type"], value)).slice(0, 10).drop_columns(["type"]), {"type": value})

    def commit(table: DeltaTable) -> None:
        table.create_write_transaction(
            [add],
            mode,
            rows.schema,
            partition_by=["type"],
            partition_filters=[("type", "=", value)] if mode == "overwrite" else None,
            commit_properties=CommitProperties(
                custom_metadata={"moshu": json.dumps({"partition": value, "mode": mode})}, max_commit_retries=retries
            ),
        )

    return commit


def _counts(uri: str) -> dict[str, int]:
    read = pl.scan_delta(uri, storage_options=delta_options(uri)).collect()
    return dict(read.group_by("type").len().iter_rows())


def _two_writers(bucket_url: str, mode: str, retries: int | None) -> tuple[str, Any, dict[str, int], dict[str, DeltaTable], Any]:
    """A table partitioned by `type` at version 0, two readers of that version, and writers of partitions H and L."""
    uri = join(bucket_url, "datasets", "ai4i", "published")
    rows = ai4i_rows()
    _create(uri, rows, {"version": 0}, partition_by=["type"])
    options = delta_options(uri)
    sizes = {v: rows.filter(pc.equal(rows["type"], v)).num_rows for v in _values(rows, "type")}
    writers = {v: DeltaTable(uri, version=0, storage_options=options) for v in ("H", "L")}
    both = (_partition_writer(uri, rows, "H", mode, retries), _partition_writer(uri, rows, "L", mode, retries))
    return uri, options, sizes, writers, both


@pytest.mark.parametrize("retries", [None, 0])
def test_partition_overwrite_after_a_concurrent_overwrite_of_another_partition(bucket_url: str, retries: int | None) -> None:
    """Two writers replace different partitions from the same read version. `create_write_transaction` commits a
    write with no read predicate, so delta-rs counts the whole table as read: the second writer conflicts with the
    first one's removes even with its default retries ("a concurrent transaction deleted data this operation
    read"). Committing the same files again from the new version (moshu's own retry) lands both partitions."""
    uri, options, sizes, writers, (overwrite_h, overwrite_l) = _two_writers(bucket_url, "overwrite", retries)

    overwrite_h(writers["H"])
    with pytest.raises(CommitFailedError) as failed:
        overwrite_l(writers["L"])
    if retries is None:  # it tried to rebase, and found the conflict
        assert "a concurrent transaction deleted data this operation read" in str(failed.value)
    assert DeltaTable(uri, storage_options=options).version() == 1
    assert _counts(uri) == {**sizes, "H": 10}

    overwrite_l(DeltaTable(uri, storage_options=options))  # rebuilt on the latest version, as moshu retries
    table = DeltaTable(uri, storage_options=options)
    assert [_moshu(c) for c in table.history()[:2]] == [
        {"partition": "L", "mode": "overwrite"},
        {"partition": "H", "mode": "overwrite"},
    ]
    assert _counts(uri) == {**sizes, "H": 10, "L": 10}


@pytest.mark.parametrize("retries", [None, 0])
def test_appends_from_the_same_read_version(bucket_url: str, retries: int | None) -> None:
    """Two writers append to different partitions from the same read version: delta-rs rebases the second on the
    first when it may retry (both land, in versions 1 and 2); with no retry the second gets CommitFailedError."""
    uri, options, sizes, writers, (append_h, append_l) = _two_writers(bucket_url, "append", retries)

    append_h(writers["H"])
    if retries == 0:
        with pytest.raises(CommitFailedError):
            append_l(writers["L"])
        assert DeltaTable(uri, storage_options=options).version() == 1
        assert _counts(uri) == {**sizes, "H": sizes["H"] + 10}
    else:
        append_l(writers["L"])
        table = DeltaTable(uri, storage_options=options)
        assert [c["version"] for c in table.history()] == [2, 1, 0]
        assert _counts(uri) == {**sizes, "H": sizes["H"] + 10, "L": sizes["L"] + 10}
