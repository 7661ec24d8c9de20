"""Daily partitions: a backfill builds several days into one version; re-running one day rewrites no other."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.errors import IntegrityError, QualityGateError, SourceError
from pipelines.ingest.fingerprint import sha256_file
from pipelines.partitions import key_for, parse_key, window
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.partitions.daily import NAME, daily_project, day_file

DAYS = ["2026-03-02", "2026-03-03", "2026-03-04"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return daily_project(tmp_path / "project")


def _run(root: Path, wh: Warehouse, keys: list[str] | None) -> object:
    return run_dataset(load_project(root).datasets[NAME], root, wh, partitions=keys)


def _inodes(wh: Warehouse, version: int, key: str) -> dict[str, tuple[int, int, str]]:
    """(inode, mtime, sha256) of each file of one partition in one version."""
    m = wh.manifest(NAME, version)
    part = next(p for p in m["partitions"] if p["key"] == key)
    out = {}
    for f in part["files"]:
        p = wh.version_dir(NAME, version) / f["path"]
        st = p.stat()
        out[f["path"]] = (st.st_ino, st.st_mtime_ns, sha256_file(p))
    return out


def test_keys_and_windows() -> None:
    assert window("2026-03-02", "daily") == (parse_key("2026-03-02", "daily"), parse_key("2026-03-03", "daily"))
    assert key_for(parse_key("2026-03-02-06:00", "hourly"), "daily") == "2026-03-02"
    with pytest.raises(ValueError, match="write it like `2026-03-02-06:00`"):
        parse_key("2026-03-02", "hourly")


def test_backfill_then_rerun_one_day_rewrites_no_other(root: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    v1 = _run(root, wh, DAYS)
    m1 = wh.manifest(NAME, 1)
    assert [p["key"] for p in m1["partitions"]] == DAYS
    assert {p["built_in_version"] for p in m1["partitions"]} == {1}
    assert m1["counts"]["rows_in"] == sum(p["counts"]["rows_in"] for p in m1["partitions"])
    assert m1["counts"]["rows_in"] == m1["counts"]["rows_published"] + m1["counts"]["rows_quarantined"]
    assert v1.rows_in == sum(pl.scan_csv(day_file(root, d)).select(pl.len()).collect().item() for d in DAYS)  # type: ignore[attr-defined]

    # the same day again, unchanged: no new version
    assert _run(root, wh, ["2026-03-03"]).created is False  # type: ignore[attr-defined]

    # a corrected delivery of one day: only that day is rebuilt
    f = day_file(root, "2026-03-03")
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[10] = re.sub(r",RUN$|,IDLE$|,SETUP$|,ALARM$|,OFF$", ",E-STOP", lines[10])  # one more invalid status
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = {d: _inodes(wh, 1, d) for d in DAYS}
    v2 = _run(root, wh, ["2026-03-03"])
    assert v2.version == 2 and v2.created  # type: ignore[attr-defined]
    m2 = wh.manifest(NAME, 2)
    held = {p["key"]: p for p in m2["partitions"]}
    assert list(held) == DAYS
    assert {k: p["built_in_version"] for k, p in held.items()} == {"2026-03-02": 1, "2026-03-03": 2, "2026-03-04": 1}
    after = {d: _inodes(wh, 2, d) for d in DAYS}
    for d in ("2026-03-02", "2026-03-04"):  # the very same files (hard links): not rewritten, not even copied
        assert after[d] == before[d]
        assert held[d]["run_id"] == {p["key"]: p for p in m1["partitions"]}[d]["run_id"]
    assert after["2026-03-03"] != before["2026-03-03"]
    assert _inodes(wh, 1, "2026-03-03") == before["2026-03-03"]  # v1 is immutable
    q = {r["rule_id"]: r["rows"] for r in m2["quarantine_summary"] if r["severity"] == "error"}
    q1 = {r["rule_id"]: r["rows"] for r in m1["quarantine_summary"] if r["severity"] == "error"}
    assert q["cnc.status.allowed"] == q1["cnc.status.allowed"] + 1
    assert m2["counts"]["rows_quarantined"] == m1["counts"]["rows_quarantined"] + 1
    rebuilt = [e["detail"] for e in m2["changelog"] if e["change"] == "partition_rebuilt"]
    assert len(rebuilt) == 1 and rebuilt[0].startswith("2026-03-03 (built in v1 -> v2;")

    # a new day arrives: v3 holds four partitions, three of them linked
    _run(root, wh, ["2026-03-05"])
    m3 = wh.manifest(NAME, 3)
    assert [(p["key"], p["built_in_version"]) for p in m3["partitions"]] == [
        ("2026-03-02", 1), ("2026-03-03", 2), ("2026-03-04", 1), ("2026-03-05", 3),
    ]  # fmt: skip


def test_catalog_lists_each_versions_partitions(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wh = Warehouse(tmp_path / "wh")
    _run(root, wh, DAYS[:2])
    _run(root, wh, DAYS[2:])
    con = duckdb.connect(str(wh.catalog_path), read_only=True)
    monkeypatch.chdir(wh.root)
    rows = con.execute(
        "SELECT version, partition_key, built_in_version, rows_in FROM version_partitions WHERE name = ? ORDER BY 1, 2", [NAME]
    ).fetchall()
    assert [(v, k, b) for v, k, b, _ in rows] == [
        (1, DAYS[0], 1),
        (1, DAYS[1], 1),
        (2, DAYS[0], 1),
        (2, DAYS[1], 1),
        (2, DAYS[2], 2),
    ]
    total = con.execute(f"SELECT count(*) FROM {NAME}").fetchone()[0]  # type: ignore[index]
    quarantined = con.execute(f"SELECT count(*) FROM quarantine('{NAME}', 2)").fetchone()[0]  # type: ignore[index]
    assert total + quarantined == sum(r[3] for r in rows if r[0] == 2)
    con.close()


def test_rows_outside_their_files_day_are_quarantined_with_the_reason(root: Path, tmp_path: Path) -> None:
    f = day_file(root, "2026-03-03")
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace("2026-03-03", "2026-03-09", 1)
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    wh = Warehouse(tmp_path / "wh")
    _run(root, wh, ["2026-03-03"])
    (day,) = [f for f in wh.quarantine_files(NAME, 1) if "/_partition=2026-03-03/" in f]
    q = pl.read_parquet(day)
    hit = q.filter(pl.col("_failed_rules").list.contains("partition.window"))
    assert hit.height == 1
    assert hit["_source_row"][0] == 5 and "2026-03-09" in hit["_reasons"][0][0]


def test_a_day_without_a_file_and_a_badly_named_file_are_clear_errors(root: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    with pytest.raises(SourceError, match=r"no raw file belongs to partition `2026-03-20`.*2026-03-02 \.\. 2026-03-05"):
        _run(root, wh, ["2026-03-20"])
    with pytest.raises(SourceError, match="not a daily partition key"):
        _run(root, wh, ["03/02/2026"])
    (root / "seeds" / NAME / "cnc_march.csv").write_text(day_file(root, DAYS[0]).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(SourceError, match=r"`seeds/cnc_daily/cnc_march.csv` does not match `partitions.path_pattern`"):
        _run(root, wh, None)


@pytest.mark.slow  # several partitioned runs
def test_kept_partitions_from_other_rules_are_refused(root: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    _run(root, wh, DAYS)
    rules = root / "quality_rules" / f"{NAME}.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("max: 24000", "max: 20000"), encoding="utf-8")
    with pytest.raises(IntegrityError, match=r"partitions 2026-03-02, 2026-03-04 of v1 were built with another spec, rule set"):
        _run(root, wh, ["2026-03-03"])
    assert _run(root, wh, None).version == 2  # type: ignore[attr-defined]  # every partition rebuilt


@pytest.mark.slow  # several partitioned runs
def test_a_stale_partition_without_raw_files_is_named_with_what_to_do(root: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    _run(root, wh, DAYS)
    day_file(root, DAYS[0]).unlink()  # archived away
    master = root / "seeds" / "master" / "equipment.csv"
    master.write_text(master.read_text(encoding="utf-8") + "CNC-99,LINE-Z,machining,test,2026-01-01\n", encoding="utf-8")
    with pytest.raises(IntegrityError, match=r"partitions 2026-03-02 have no raw files any more, so they cannot be rebuilt"):
        _run(root, wh, None)


def test_files_of_days_outside_the_partitions_or_not_over_are_refused(root: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    early = root / "seeds" / NAME / "cnc_2026-02-27.csv"
    early.write_text(day_file(root, DAYS[0]).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(SourceError, match=r"partition `2026-02-27` is before `partitions.start` \(2026-03-01\)"):
        _run(root, wh, None)
    early.unlink()
    with pytest.raises(SourceError, match=r"partition `2099-01-01` is not over yet"):
        (root / "seeds" / NAME / "cnc_2099-01-01.csv").write_text("x\n", encoding="utf-8")
        _run(root, wh, ["2099-01-01"])


@pytest.mark.slow
def test_accepted_feedback_on_a_partitioned_dataset_is_recorded_once_with_the_rows_values(root: Path, tmp_path: Path) -> None:
    from pipelines.models.feedback import review, submit

    wh = Warehouse(tmp_path / "wh")
    _run(root, wh, DAYS)
    (day,) = [f for f in wh.data_files(NAME, 1) if "/_partition=2026-03-04/" in f]
    row = pl.read_parquet(day).filter(pl.col("machine_id") == "CNC-02").row(0, named=True)
    key = f"CNC-02|{row['ts']:%Y-%m-%d %H:%M:%S}"
    ids = submit(
        wh,
        f"{NAME}@1",
        [{"row_key": key, "kind": "wrong_unit", "column": "coolant_temp_c", "suggested_value": "21.5"}],
        by="line",
        source="t",
    )
    review(wh, ids, "accepted", by="qa", reason="checked against the PLC log")
    _run(root, wh, None)  # every partition's inputs changed (the accepted findings are part of them)
    m = wh.manifest(NAME, 2)
    [c] = m["corrections"]
    assert (c["rows_affected"], c["old_value"], c["new_value"]) == (1, str(row["coolant_temp_c"]), "21.5")
    added = [e["detail"] for e in m["changelog"] if e["change"] == "correction_added"]
    assert len(added) == 1 and str(row["coolant_temp_c"]) in added[0]


@pytest.mark.slow  # several partitioned runs
def test_concurrent_runs_of_one_partition_agree_or_the_older_read_is_refused(root: Path, tmp_path: Path) -> None:
    from pipelines.stages import ingest, validate
    from pipelines.stages.publish_partitions import publish_partitions

    wh = Warehouse(tmp_path / "wh")
    loaded = load_project(root).datasets[NAME]
    _run(root, wh, DAYS)

    def read(run_id: str) -> list:  # type: ignore[type-arg]
        return [validate(loaded, ingest(loaded, root, wh, run_id=run_id, partition=DAYS[1]))]

    f = day_file(root, DAYS[1])
    f.write_text(f.read_text(encoding="utf-8").replace(",RUN\n", ",RUNN\n", 1), encoding="utf-8")
    a, b = read("run-a"), read("run-b")  # two runs read the same new delivery
    assert publish_partitions(loaded, a, wh).version == 2
    again = publish_partitions(loaded, b, wh)  # the same inputs, published meanwhile: nothing new
    assert (again.version, again.created) == (2, False)

    f.write_text(f.read_text(encoding="utf-8").replace(",IDLE\n", ",IDLEE\n", 1), encoding="utf-8")
    old = read("run-c")  # reads one delivery ...
    f.write_text(f.read_text(encoding="utf-8").replace(",SETUP\n", ",SETUPP\n", 1), encoding="utf-8")
    assert publish_partitions(loaded, read("run-d"), wh).version == 3  # ... while a newer delivery is published
    with pytest.raises(IntegrityError, match=r"partition `2026-03-03` was rebuilt by a concurrent run \(v3\)"):
        publish_partitions(loaded, old, wh)
    assert wh.versions(NAME) == [1, 2, 3]


@pytest.mark.slow
def test_a_partition_failing_a_blocking_rule_makes_a_rejected_candidate_that_says_why(root: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    _run(root, wh, DAYS[:2])
    f = day_file(root, DAYS[1])
    good = f.read_text(encoding="utf-8")
    f.write_text("\n".join(good.splitlines()[:51]) + "\n", encoding="utf-8")  # a truncated delivery: 50 rows
    with pytest.raises(QualityGateError, match=r"blocking rule `cnc\.row_count` \(row_count\) failed") as e:
        _run(root, wh, [DAYS[1]])
    assert "v2 is kept as a rejected candidate" in str(e.value) and DAYS[1] in str(e.value)
    assert wh.versions(NAME) == [1, 2] and wh.latest(NAME) == 1  # model teams keep getting v1
    m = wh.manifest(NAME, 2)
    assert m["status"] == "rejected" and [p["key"] for p in m["partitions"]] == DAYS[:2]
    report = (wh.version_dir(NAME, 2) / "quality" / "report.html").read_text(encoding="utf-8")
    assert "Why this version was rejected" in report and "cnc.row_count" in report
    con = duckdb.connect(str(wh.catalog_path), read_only=True)
    try:
        assert con.execute(f"select version, status from versions where name = '{NAME}' order by 1").fetchall() == [
            (1, "published"),
            (2, "rejected"),
        ]
        (message,) = con.execute(f"select message from runs where name = '{NAME}' and status = 'rejected'").fetchone()  # type: ignore[misc]
        assert "`cnc.row_count`" in message and "X = A / B" in message
    finally:
        con.close()
    f.write_text(good, encoding="utf-8")  # the full delivery again: a new version, published
    v3 = _run(root, wh, [DAYS[1]])
    assert v3.version == 3 and v3.status == "published" and wh.latest(NAME) == 3  # type: ignore[attr-defined]
