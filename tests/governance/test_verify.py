"""Tamper evidence on a real warehouse: a clean build verifies, and each kind of tampering is caught."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.catalog.db import writer
from pipelines.errors import NotFoundError
from pipelines.governance.audit import record
from pipelines.governance.verify import AUDIT_LOG, CATALOG, Report, verify
from pipelines.ingest.fingerprint import sha256_file
from pipelines.warehouse import Warehouse
from tests.conftest import built_copy

NAME = "ai4i2020"
V1 = f"datasets/{NAME}/v1"
MANIFEST = f"{V1}/manifest.json"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """ai4i2020 built once through the four stages; never modified."""
    yield built_copy(tmp_path_factory, "governance", [NAME])


@pytest.fixture
def wh(pristine: Warehouse, tmp_path: Path) -> Warehouse:
    """A private copy of the built warehouse, free to tamper with."""
    return Warehouse(Path(shutil.copytree(pristine.root, tmp_path / "warehouse")))


def _problems(report: Report) -> list[tuple[str, str]]:
    return [(p.path, p.problem) for p in report.problems]


def _rel(wh: Warehouse, path: str) -> str:
    """A table file's path as `verify` reports it: relative to the warehouse root."""
    return Path(path).relative_to(wh.root).as_posix()


def _entry(wh: Warehouse, path: str) -> dict[str, object]:
    """The manifest entry of v1 that lists the table file at `path` (entries are relative to the version folder)."""
    vdir = wh.version_dir(NAME, 1)
    [entry] = [f for f in wh.manifest(NAME, 1)["files"] if Path(os.path.normpath(vdir / f["path"])) == Path(path)]
    return entry


def _flip_byte(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    original = bytes(data)
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return original


def test_a_clean_warehouse_verifies(pristine: Warehouse) -> None:
    report = verify(pristine)
    assert report.ok, [p.render() for p in report.problems]
    listed = len(pristine.manifest(NAME, 1)["files"])
    # the files, the manifest, and the version's commit in the Delta log
    assert report.checked_versions == 1 and report.checked_files == listed + 2 > 2
    assert verify(pristine, NAME).ok and verify(pristine, NAME, 1).ok


def test_unknown_dataset_or_version_is_not_found(pristine: Warehouse) -> None:
    with pytest.raises(NotFoundError, match=NAME):  # the known datasets are listed
        verify(pristine, "no_such_dataset")
    with pytest.raises(NotFoundError, match="versions are 1"):
        verify(pristine, NAME, 7)


def test_a_flipped_byte_is_caught_and_restoring_it_clears_it(wh: Warehouse) -> None:
    [file] = wh.data_files(NAME, 1)
    data = Path(file)
    entry = _entry(wh, file)
    assert str(entry["path"]).startswith("../published/v1/part-00000-")  # in the published Delta table
    recorded = entry["sha256"]
    original = _flip_byte(data)
    report = verify(wh)
    assert not report.ok
    [p] = report.problems
    assert (p.dataset, p.version, p.path) == (NAME, 1, _rel(wh, file))
    assert "sha256" in p.problem and p.expected == recorded and p.actual == sha256_file(data) != recorded
    data.write_bytes(original)
    assert verify(wh).ok


def test_an_edited_manifest_is_caught_through_the_catalog(wh: Warehouse) -> None:
    """The attacker changes the data, then re-hashes it into the manifest and edits a count to match."""
    vdir = wh.root / V1
    _flip_byte(Path(wh.data_files(NAME, 1)[0]))
    path = vdir / "manifest.json"
    registered = sha256_file(path)
    m = json.loads(path.read_text())
    m["counts"]["rows_published"] -= 1
    for f in m["files"]:
        f["sha256"], f["bytes"] = sha256_file(vdir / f["path"]), (vdir / f["path"]).stat().st_size
    path.write_text(json.dumps(m, indent=2))
    report = verify(wh)
    assert all(p.path == MANIFEST for p in report.problems), report.problems  # the data file now matches its manifest
    [sha] = [p for p in report.problems if "registered" in p.problem]
    assert sha.expected == registered and sha.actual == sha256_file(path)
    assert any("rows_published" in p.problem for p in report.problems)
    assert any("differs from the one committed" in p.problem for p in report.problems)  # the Delta log's copy


def test_a_forged_commit_adding_a_file_is_caught_in_the_delta_log(wh: Warehouse) -> None:
    """A later commit of v1, carrying v1's manifest, that adds a second data file: the table state is not the manifest's."""
    from pipelines.storage.delta import PUBLISHED, TableFile, commit, commit_metadata, current_version

    root = wh.table_dir(NAME, PUBLISHED)
    [file] = wh.data_files(NAME, 1)
    inner = Path(file).relative_to(root).as_posix()
    extra = root / "v1" / "part-00001-forged.parquet"
    shutil.copyfile(file, extra)
    size, rows = extra.stat().st_size, int(str(_entry(wh, file)["rows"]))
    files = [TableFile(inner, size, rows), TableFile("v1/part-00001-forged.parquet", size, rows)]
    commit(root, files, read_version=current_version(root), metadata=commit_metadata(1, wh.manifest(NAME, 1)))
    problems = [(p.path, p.problem, p.actual) for p in verify(wh).problems]
    [(path, _, actual)] = [p for p in problems if "does not hold the version's files" in p[1]]
    assert path == f"datasets/{NAME}/published" and "1 missing (none)" not in str(actual)
    assert "0 missing" in str(actual) and "1 not in the manifest (v1/part-00001-forged.parquet)" in str(actual)
    assert any("versions.delta_version" in p[1] for p in problems)  # the catalog indexes the first commit


def test_an_unlisted_file_is_caught(wh: Warehouse) -> None:
    extra = wh.root / V1 / "data" / "part-00001.parquet"  # data put back where versions kept it before the tables
    extra.parent.mkdir()
    shutil.copyfile(wh.data_files(NAME, 1)[0], extra)
    assert _problems(verify(wh)) == [
        (f"{V1}/data/part-00001.parquet", "unlisted file: in the version folder but not in the manifest")
    ]


def test_a_deleted_quality_file_is_caught(wh: Warehouse) -> None:
    (wh.root / V1 / "quality" / "report.html").unlink()
    [p] = verify(wh).problems
    assert p.path == f"{V1}/quality/report.html" and "missing" in p.problem and p.actual == "missing"


def test_a_truncated_file_is_caught_by_size(wh: Warehouse) -> None:
    [file] = wh.quarantine_files(NAME, 1)
    q = Path(file)
    q.write_bytes(q.read_bytes()[:-1])
    [p] = verify(wh).problems  # one finding: re-registering the manifest makes no view of a file that does not read back
    assert p.path == _rel(wh, file) and p.path.startswith(f"datasets/{NAME}/quarantine/v1/") and "size" in p.problem


def test_catalog_rows_edited_are_caught(wh: Warehouse) -> None:
    with writer(wh) as con:
        con.execute("UPDATE source_files SET sha256 = 'forged' WHERE name = ?", [NAME])
        con.execute("UPDATE versions SET level = 'bronze', data_hash = 'forged' WHERE name = ?", [NAME])  # it is silver
    problems = _problems(verify(wh))
    assert len(problems) == 3, problems
    assert {path for path, _ in problems} == {MANIFEST}
    assert any("source_files" in text and "seeds/ai4i2020/ai4i2020.csv" in text for _, text in problems)
    assert any("data_hash" in text for _, text in problems) and any("versions.level" in text for _, text in problems)


def test_folders_and_catalog_rows_must_match(wh: Warehouse) -> None:
    shutil.copytree(wh.root / V1, wh.root / f"datasets/{NAME}/v2")  # a folder the catalog never registered
    report = verify(wh)
    assert (f"datasets/{NAME}/v2", "version folder with no catalog row") in _problems(report)
    assert any(p.version == 2 and "another version" in p.problem for p in report.problems)  # its manifest says v1
    shutil.rmtree(wh.root / V1)  # a registered version whose folder is gone
    report = verify(wh, NAME, 1)
    assert [(p.version, p.path, p.actual) for p in report.problems] == [(1, V1, "missing")]


def test_no_catalog_is_a_problem_not_a_crash(wh: Warehouse) -> None:
    wh.catalog_path.unlink()
    report = verify(wh)
    assert [(p.dataset, p.path) for p in report.problems] == [(CATALOG, "catalog.duckdb")]
    assert report.checked_versions == 1 and report.checked_files > 1  # the files were still checked against the manifest


def test_a_broken_audit_chain_is_reported_once(wh: Warehouse) -> None:
    with writer(wh) as con:
        for action in ("publish", "query", "verify"):
            record(con, actor="moshu", action=action, object=f"{NAME}@1")
    assert verify(wh).ok
    with writer(wh) as con:
        con.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2")
    [p] = verify(wh).problems
    assert (p.dataset, p.version, p.path) == (AUDIT_LOG, None, "catalog.duckdb") and "seq 2" in p.problem


def test_a_manifest_that_is_not_json_is_reported_not_raised(wh: Warehouse) -> None:
    from pipelines.report.card import write_cards

    write_cards(wh, NAME)  # a card to re-derive: it must not be derived from the broken manifest
    (wh.version_dir(NAME, 1) / "manifest.json").write_text("{not json", encoding="utf-8")
    report = verify(wh, NAME)
    assert any(p.problem.startswith("manifest is not valid JSON") for p in report.problems)
