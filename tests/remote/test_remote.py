"""A warehouse whose store of record is an S3-compatible server: two machines, one set of versions, one catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.catalog.client import CatalogClient
from pipelines.ingest.fingerprint import sha256_file
from pipelines.remote import RemoteError, open_remote
from pipelines.remote_sync import pull_catalog, pull_versions, push
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.stages import ingest, publish, validate
from pipelines.warehouse import MANIFEST, Warehouse
from tests.conftest import copy_project

# Each test simulates machines sharing an object store, most with full runs: slow, run by `make test-slow` (CI).
pytestmark = pytest.mark.slow

NAME = "cnc_line"


def _machine(tmp_path: Path, label: str, remote: str) -> tuple[Path, Warehouse]:
    """A machine: its own copy of the project and its own local warehouse folder, sharing `remote`."""
    root = copy_project(tmp_path / label / "project")
    return root, Warehouse(tmp_path / label / "warehouse", remote)


def _run(root: Path, wh: Warehouse):  # type: ignore[no-untyped-def]
    proj = load_project(root)
    return run_dataset(proj.datasets[NAME], proj.root, wh)


def _edit_seed(root: Path) -> None:
    """Change one reading of the raw file, so the next run makes a new version."""
    seed = next((root / "seeds" / NAME).glob("*.csv"))
    lines = seed.read_text(encoding="utf-8").splitlines(keepends=True)
    head, row = lines[0].rstrip("\n").split(","), lines[5].rstrip("\n").split(",")
    i = head.index("coolant_temp_c")
    row[i] = str(round(float(row[i]) + 0.5, 3))
    lines[5] = ",".join(row) + "\n"
    seed.write_text("".join(lines), encoding="utf-8")


def _files(manifest: dict[str, Any]) -> dict[str, str]:
    """`path -> sha256` of a version's files, as its manifest lists them."""
    return {f["path"]: f["sha256"] for f in manifest["files"]}


def _remote_files(remote_url: str, version: int) -> dict[str, str]:
    r = open_remote(remote_url)
    return _files(json.loads(r.fs.cat_file(r.version_key(NAME, version, MANIFEST))))


def _diverged(tmp_path: Path, remote_url: str) -> tuple[Warehouse, Warehouse]:
    """Machine A publishes v1 to the remote; machine B publishes its own, different v1 without the remote.
    (A's warehouse, B's warehouse folder with the remote)."""
    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    _run(root_a, wh_a)
    root_b, _ = _machine(tmp_path, "b", remote_url)
    _edit_seed(root_b)
    alone = Warehouse(tmp_path / "b" / "warehouse")
    proj = load_project(root_b)
    run_dataset(proj.datasets[NAME], proj.root, alone)
    return wh_a, Warehouse(alone.root, remote_url)


def test_a_version_made_on_one_machine_is_pulled_checked_and_queryable_on_another(tmp_path: Path, remote_url: str) -> None:
    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    pub = _run(root_a, wh_a)
    assert pub.created and pub.version == 1
    r = open_remote(remote_url)
    assert r.versions(NAME) == [1]
    local = _files(wh_a.manifest(NAME, 1))
    assert _remote_files(remote_url, 1) == local  # every file, with its manifest's hash
    for rel, sha in local.items():
        with r.fs.open(r.version_key(NAME, 1, rel), "rb") as f:
            import hashlib

            assert hashlib.file_digest(f, "sha256").hexdigest() == sha, rel
    assert r.fs.exists(r.key("catalog.duckdb"))

    root_b, wh_b = _machine(tmp_path, "b", remote_url)
    assert pull_versions(wh_b, NAME) == [1]
    assert pull_catalog(wh_b)
    assert (wh_b.version_dir(NAME, 1) / MANIFEST).read_bytes() == (wh_a.version_dir(NAME, 1) / MANIFEST).read_bytes()
    for rel, sha in local.items():
        assert sha256_file(wh_b.version_dir(NAME, 1) / rel) == sha
    with CatalogClient(wh_b.root) as c:
        assert c.sql(f"SELECT count(*) FROM {NAME}").fetchall()[0][0] == pub.rows_published
        # The shared catalog holds machine A's publish in its audit log.
        assert c.sql("SELECT count(*) FROM audit_log WHERE action = 'publish'").fetchall()[0][0] == 1

    again = _run(root_b, wh_b)  # the same inputs on machine B: nothing new anywhere
    assert not again.created and again.version == 1
    assert r.versions(NAME) == [1]

    _edit_seed(root_b)
    v2 = _run(root_b, wh_b)
    assert v2.created and v2.version == 2 and r.versions(NAME) == [1, 2]
    assert pull_versions(wh_a, NAME) == [2]  # machine A catches up; its next run builds on v2
    with duckdb.connect() as con:
        n = con.sql(f"SELECT count(*) FROM read_parquet('{wh_a.data_glob(NAME, 2)}')").fetchall()[0][0]
    assert n == v2.rows_published
    pull_catalog(wh_a)
    with CatalogClient(wh_a.root) as c:
        rows = c.sql(f"SELECT version, run_id FROM versions WHERE name = '{NAME}' ORDER BY version").fetchall()
    assert [v for v, _ in rows] == [1, 2] and rows[1][1] == v2.run_id


@pytest.mark.slow  # two full runs per machine
def test_two_machines_publishing_the_same_number_the_second_is_refused_and_nothing_is_lost(
    tmp_path: Path, remote_url: str
) -> None:
    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    _run(root_a, wh_a)
    root_b, wh_b = _machine(tmp_path, "b", remote_url)
    _edit_seed(root_b)
    proj_b = load_project(root_b)
    ing_b = ingest(proj_b.datasets[NAME], proj_b.root, wh_b)  # machine B reads v1 ...
    val_b = validate(proj_b.datasets[NAME], ing_b)
    _edit_seed(root_a)
    _edit_seed(root_a)
    pub_a = _run(root_a, wh_a)  # ... while machine A publishes v2
    assert pub_a.version == 2
    with pytest.raises(RemoteError, match=r"already has v2 .*run again"):
        publish(proj_b.datasets[NAME], val_b, wh_b)
    assert wh_b.versions(NAME) == [1]  # nothing committed on B, nothing left claimed on the remote
    r = open_remote(remote_url)
    assert r.versions(NAME) == [1, 2]
    assert _remote_files(remote_url, 2) == _files(wh_a.manifest(NAME, 2))
    r.fs.rm_file(r.version_key(NAME, 2, ".claim"))  # a committed version whose claim is gone (released late)
    with pytest.raises(RemoteError, match=r"already has v2"):
        publish(proj_b.datasets[NAME], validate(proj_b.datasets[NAME], ing_b), wh_b)
    assert _remote_files(remote_url, 2) == _files(wh_a.manifest(NAME, 2))
    pub_b = _run(root_b, wh_b)  # run again: it pulls v2 and builds v3 on it
    assert pub_b.version == 3 and wh_b.manifest(NAME, 3)["parent_version"] == 2
    assert r.versions(NAME) == [1, 2, 3]


@pytest.mark.slow
def test_a_number_claimed_by_a_run_in_progress_blocks_others_until_released(tmp_path: Path, remote_url: str) -> None:
    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    _run(root_a, wh_a)
    r = open_remote(remote_url)
    r.claim(NAME, 2, "run-on-another-machine")
    _edit_seed(root_a)
    with pytest.raises(
        RemoteError, match=r"v2 is being published .* by run run-on-another-machine.*moshu remote release cnc_line 2"
    ):
        _run(root_a, wh_a)
    assert wh_a.versions(NAME) == [1] and r.versions(NAME) == [1]
    with pytest.raises(RemoteError, match=r"renewed \d+ s ago, so that run may still be uploading; pass --force"):
        r.release(NAME, 2)  # a live claim is not freed by mistake
    assert r.release(NAME, 2, force=True)  # a tombstone: its holder might still write, so v2 is never reused
    assert _run(root_a, wh_a).version == 3
    assert r.versions(NAME) == [1, 3] and r.claim(NAME, 2, "late") is None
    with pytest.raises(RemoteError, match="committed"):
        r.release(NAME, 3, force=True)


@pytest.mark.slow  # two runs
def test_the_stale_claim_of_a_dead_run_is_skipped_not_deleted(tmp_path: Path, remote_url: str) -> None:
    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    _run(root_a, wh_a)
    r = open_remote(remote_url)
    dead = {"run_id": "died", "host": "plant-7", "pid": 1, "token": "t", "since": "2026-01-01T00:00:00+00:00"}
    r.put(r.version_key(NAME, 2, ".claim"), json.dumps(dead).encode())
    _edit_seed(root_a)
    assert _run(root_a, wh_a).version == 3  # v2 belongs to a run that stopped renewing its claim: never reused
    assert r.versions(NAME) == [1, 3] and r.claimed(NAME) == [1, 2, 3]
    wh_c = Warehouse(tmp_path / "c" / "warehouse", remote_url)
    assert pull_versions(wh_c, NAME) == [1, 3]
    assert wh_c.manifest(NAME, 3)["parent_version"] == 1


def test_an_upload_whose_claim_was_taken_over_commits_nothing(tmp_path: Path, remote_url: str) -> None:
    from pipelines.remote_sync import push_version

    root, _ = _machine(tmp_path, "a", remote_url)
    alone = Warehouse(tmp_path / "a" / "warehouse")
    proj = load_project(root)
    run_dataset(proj.datasets[NAME], proj.root, alone)
    r = open_remote(remote_url)
    mine = r.claim(NAME, 1, alone.manifest(NAME, 1)["run_id"])
    assert mine is not None
    r.release(NAME, 1, force=True)  # an operator releases the number while this run uploads ...
    assert r.claim(NAME, 1, "another-run") is None  # ... no other run may take it (this one might still write) ...
    with pytest.raises(RemoteError, match=r"claim on v1 .* was released by an operator while this run uploaded it"):
        push_version(alone, r, NAME, 1, set(), mine)  # ... and this run commits nothing
    assert r.versions(NAME) == []


@pytest.mark.slow
def test_a_failed_upload_is_finished_by_the_next_run(tmp_path: Path, remote_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    _run(root_a, wh_a)
    fs = open_remote(remote_url).fs
    put = fs.put_file

    def broken(lpath: str, rpath: str, **kw: object) -> object:
        if "/v2/data/" in rpath:
            raise ConnectionError("connection reset by peer")
        return put(lpath, rpath, **kw)

    monkeypatch.setattr(fs, "put_file", broken)
    _edit_seed(root_a)
    with pytest.raises(RemoteError, match=r"v2 is committed in .*the next run of `cnc_line` there, or `moshu push cnc_line`"):
        _run(root_a, wh_a)
    monkeypatch.undo()
    r = open_remote(remote_url)
    assert wh_a.versions(NAME) == [1, 2] and r.versions(NAME) == [1]  # committed here, invisible there
    again = _run(root_a, wh_a)  # unchanged inputs: no new version, but the pending upload is finished first
    assert not again.created and r.versions(NAME) == [1, 2]
    assert _remote_files(remote_url, 2) == _files(wh_a.manifest(NAME, 2))


@pytest.mark.slow  # two runs
def test_push_refuses_a_version_both_sides_hold_differently(tmp_path: Path, remote_url: str) -> None:
    wh_a, wh_b = _diverged(tmp_path, remote_url)
    with pytest.raises(RemoteError, match=r"local v1 differs from v1 on .* move .* aside"):
        push(wh_b, NAME)
    assert _remote_files(remote_url, 1) == _files(wh_a.manifest(NAME, 1))


def test_a_file_missing_on_the_remote_is_named_by_pull(tmp_path: Path, remote_url: str) -> None:
    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    _run(root_a, wh_a)
    r = open_remote(remote_url)
    r.fs.rm_file(r.version_key(NAME, 1, "quarantine.parquet"))
    with pytest.raises(RemoteError, match=r"v1: `quarantine.parquet`, listed in its manifest, is missing on"):
        pull_versions(Warehouse(tmp_path / "c" / "warehouse", remote_url), NAME)


def test_catalog_writes_made_without_the_remote_are_uploaded_or_kept_never_dropped(tmp_path: Path, remote_url: str) -> None:
    from pipelines.catalog.db import writer
    from pipelines.governance.audit import record

    def audited(wh: Warehouse) -> int:
        with CatalogClient(wh.root) as c:
            return int(c.sql("SELECT count(*) FROM audit_log").fetchall()[0][0])

    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    _run(root_a, wh_a)
    base = audited(wh_a)
    with writer(Warehouse(wh_a.root)) as con:  # a command run on machine A without the remote
        record(con, actor="ana", action="verify", object="*", decision="ok", detail={})
    with writer(wh_a):  # the next write with the remote: the remote did not change, so A's write goes up
        pass
    wh_b = Warehouse(tmp_path / "b" / "warehouse", remote_url)
    assert pull_catalog(wh_b) == "fetched" and audited(wh_b) == base + 1

    with writer(Warehouse(wh_a.root)) as con:  # A again without the remote ...
        record(con, actor="ana", action="verify", object="*", decision="ok", detail={})
    with writer(wh_b) as con:  # ... while B writes the shared catalog
        record(con, actor="bo", action="verify", object="*", decision="ok", detail={})
    status = pull_catalog(wh_a)
    kept = list(wh_a.root.glob("catalog.duckdb.diverged-*"))
    assert len(kept) == 1 and str(kept[0]) in status  # A's own write is kept aside, and said so
    assert audited(wh_a) == base + 2  # A now has the shared catalog, with B's entry
    with duckdb.connect(str(kept[0]), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM audit_log WHERE actor = 'ana'").fetchall()[0][0] == 2


def test_listings_see_what_another_machine_wrote_since(tmp_path: Path, remote_url: str, s3_endpoint: str) -> None:
    import s3fs

    r = open_remote(remote_url)
    assert r.versions(NAME) == []
    other = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    other.pipe(r.version_key(NAME, 1, "manifest.json"), b"{}")
    assert r.versions(NAME) == [1]


def test_a_store_that_ignores_exclusive_creates_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from fsspec.implementations.memory import MemoryFileSystem

    opened = MemoryFileSystem._open
    monkeypatch.setattr(
        MemoryFileSystem, "_open", lambda self, path, mode="rb", **kw: opened(self, path, mode.replace("x", "w"), **kw)
    )
    r = open_remote("memory://no-conditional-writes/warehouse")  # reading needs no probe ...
    with pytest.raises(RemoteError, match=r"does not refuse a second exclusive create .*conditional writes"):
        r.claim("plant", 1, "run-1")  # ... the first exclusive create does


def test_a_half_uploaded_version_is_invisible_and_push_finishes_it(tmp_path: Path, remote_url: str) -> None:
    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    local_only = Warehouse(wh_a.root)  # publishes without the remote, as if the upload had broken off
    proj = load_project(root_a)
    run_dataset(proj.datasets[NAME], proj.root, local_only)
    r = open_remote(remote_url)
    m = wh_a.manifest(NAME, 1)
    assert r.claim(NAME, 1, m["run_id"]) is not None
    first = m["files"][0]["path"]
    r.fs.put_file(str(wh_a.version_dir(NAME, 1) / first), r.version_key(NAME, 1, first))
    assert r.versions(NAME) == []  # no manifest: not a version
    wh_c = Warehouse(tmp_path / "c" / "warehouse", remote_url)
    assert pull_versions(wh_c, NAME) == [] and wh_c.versions(NAME) == []
    assert push(wh_a, NAME) == [1]  # the same run's claim: the upload resumes
    assert r.versions(NAME) == [1] and pull_versions(wh_c, NAME) == [1]


def test_a_damaged_remote_file_is_refused_by_pull_with_its_name(tmp_path: Path, remote_url: str) -> None:
    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    _run(root_a, wh_a)
    r = open_remote(remote_url)
    r.fs.pipe(r.version_key(NAME, 1, "quarantine.parquet"), b"not the quarantine")
    wh_c = Warehouse(tmp_path / "c" / "warehouse", remote_url)
    with pytest.raises(
        RemoteError,
        match=r"v1: `quarantine.parquet` on .* has sha256 \w+\.\.\., its manifest records \w+\.\.\.; the remote copy is damaged",
    ):
        pull_versions(wh_c, NAME)
    assert wh_c.versions(NAME) == [] and not list(wh_c.dataset_dir(NAME).glob(".pull-*"))


@pytest.mark.slow  # two full runs per machine
def test_a_local_version_made_without_the_remote_is_named_when_it_differs(tmp_path: Path, remote_url: str) -> None:
    _, wh_b = _diverged(tmp_path, remote_url)
    with pytest.raises(RemoteError, match=r"local v1 differs from v1 on .* move .* aside"):
        pull_versions(wh_b, NAME)


def test_the_catalog_lease_held_elsewhere_makes_a_writer_wait_then_name_the_holder(
    tmp_path: Path, remote_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from pipelines.catalog.db import writer
    from pipelines.remote import LEASE

    r = open_remote(remote_url)
    now = datetime.now(UTC)
    live = {"host": "plant-7", "pid": 42, "token": "t", "since": now.isoformat(timespec="seconds")}
    r.put(r.key(LEASE), json.dumps(live).encode())
    monkeypatch.setattr("pipelines.remote.LEASE_WAIT_S", 0.3)
    wh = Warehouse(tmp_path / "wh", remote_url)
    with pytest.raises(RemoteError, match=r"held by plant-7 \(pid 42\) since 20.*moshu remote unlock"), writer(wh):
        pass
    r.release_lease()
    with writer(wh) as con:
        con.execute("SELECT 1")
    assert r.fs.exists(r.key("catalog.duckdb")) and not r.fs.exists(r.key(LEASE))
    dead = {**live, "since": (now - timedelta(hours=1)).isoformat(timespec="seconds")}
    r.put(r.key(LEASE), json.dumps(dead).encode())  # its holder died mid-write an hour ago: broken, not waited for
    with writer(wh) as con:
        con.execute("SELECT 1")
    assert not r.fs.exists(r.key(LEASE))


def test_a_missing_bucket_is_a_clear_error(s3_endpoint: str) -> None:
    with pytest.raises(RemoteError, match=r"bucket `no-such-bucket` does not exist .*create it first"):
        open_remote("s3://no-such-bucket/warehouse")


def test_a_catalog_write_whose_shared_catalog_changed_underneath_is_kept_aside_not_uploaded(
    tmp_path: Path, remote_url: str
) -> None:
    from pipelines.catalog.db import writer
    from pipelines.governance.audit import record

    root_a, wh_a = _machine(tmp_path, "a", remote_url)
    _run(root_a, wh_a)
    r = open_remote(remote_url)
    other = b"another machine's catalog"
    with (
        pytest.raises(RemoteError, match=r"changed while this machine held its lease .* kept in .*diverged"),
        writer(wh_a) as con,
    ):
        record(con, actor="ana", action="verify", object="*", decision="ok", detail={})
        r.put(r.key("catalog.duckdb"), other)  # a writer that took the lease over as stale uploads meanwhile
    assert r.fs.cat_file(r.key("catalog.duckdb")) == other  # its upload stands: nothing was overwritten
    assert len(list(wh_a.root.glob("catalog.duckdb.diverged-*"))) == 1  # and this write is kept, not lost


@pytest.mark.slow  # uploads 101 MB
def test_the_conditional_replace_stays_one_put_above_the_multipart_size(remote_url: str) -> None:
    from pipelines.remote import RemoteConflict

    r = open_remote(remote_url)
    key = r.key("big.bin")
    r.put(key, b"first")
    stale = r.stamp(key)
    r.put(key, b"second")
    with pytest.raises(RemoteConflict):
        r.replace_if(key, b"x" * (101 * 2**20), stale)  # s3fs would go multipart above 100 MB and drop If-Match
    assert r.fs.cat_file(key) == b"second"
