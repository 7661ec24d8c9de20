"""Partitions through Dagster: a single-run backfill makes one version, one partition re-runs alone,
the schedule and the landing sensor speak partition keys, and `moshu run --partition` picks keys."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.build import ALL_JOB, build_definitions, job_name
from pipelines.defs.orchestrate import instance_for, materialize
from pipelines.defs.sensors import sensor_name
from pipelines.ingest.fingerprint import sha256_file
from pipelines.settings import Settings
from pipelines.spec.loader import load_project
from tests.partitions.daily import NAME, daily_project, day_file

DAYS = ["2026-03-02", "2026-03-03", "2026-03-04"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.resolve(daily_project(tmp_path / "project"), tmp_path / "wh")


def _defs(settings: Settings) -> dg.Definitions:
    return build_definitions(load_project(settings.project), settings)


def _files(settings: Settings, version: int, key: str) -> dict[str, tuple[int, str]]:
    wh = settings.warehouse
    part = next(p for p in wh.manifest(NAME, version)["partitions"] if p["key"] == key)
    return {f["path"]: ((wh.version_dir(NAME, version) / f["path"]).stat().st_ino, sha256_file(wh.version_dir(NAME, version) / f["path"])) for f in part["files"]}  # fmt: skip


def test_definitions_partition_the_dataset_and_schedule_it_per_day(settings: Settings) -> None:
    defs = _defs(settings)
    job = defs.resolve_job_def(job_name(NAME))
    assert isinstance(job.partitions_def, dg.DailyPartitionsDefinition)
    assert job.partitions_def.get_partition_keys()[:3] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    schedule = defs.resolve_schedule_def(f"{NAME}_schedule")
    assert schedule.cron_schedule == "0 0 * * *"  # each day's partition runs once the day is over
    every = defs.resolve_job_def(ALL_JOB)  # the other datasets still build together
    assert all(k.path[0] != NAME for k in every.asset_layer.selected_asset_keys)


@pytest.mark.slow
def test_backfill_is_one_run_and_one_version_and_one_day_reruns_alone(settings: Settings) -> None:
    defs = _defs(settings)
    job = defs.resolve_job_def(job_name(NAME))
    keys = [dg.AssetKey([NAME, s]) for s in ("raw", "validated", "published", "catalog")]
    instance = instance_for(settings)
    # what Dagster launches for a single-run backfill of a range
    result = job.execute_in_process(
        instance=instance,
        asset_selection=keys,
        tags={"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]},
    )
    assert result.success
    wh = settings.warehouse
    assert wh.versions(NAME) == [1]
    assert [p["key"] for p in wh.manifest(NAME, 1)["partitions"]] == DAYS
    assert instance.get_materialized_partitions(dg.AssetKey([NAME, "published"])) == set(DAYS)
    checks = [e for e in result.get_asset_check_evaluations() if e.check_name == "partition__window"]
    assert checks and checks[0].passed

    before = {d: _files(settings, 1, d) for d in DAYS}
    f = day_file(settings.project, DAYS[1])
    f.write_text(f.read_text(encoding="utf-8").replace(",RUN\n", ",RUNN\n", 1), encoding="utf-8")
    result = job.execute_in_process(instance=instance, asset_selection=keys, partition_key=DAYS[1])
    assert result.success
    assert wh.versions(NAME) == [1, 2]
    m2 = wh.manifest(NAME, 2)
    assert [(p["key"], p["built_in_version"]) for p in m2["partitions"]] == [(DAYS[0], 1), (DAYS[1], 2), (DAYS[2], 1)]
    assert _files(settings, 2, DAYS[0]) == before[DAYS[0]] and _files(settings, 2, DAYS[2]) == before[DAYS[2]]
    assert _files(settings, 2, DAYS[1]) != before[DAYS[1]]
    assert not (wh.root / "_staging" / NAME).exists()  # the run's hand-off files are gone


@pytest.mark.slow  # several Dagster runs
def test_moshu_run_builds_the_asked_partitions_only(settings: Settings) -> None:
    proj = load_project(settings.project)
    _, [out] = materialize(proj, settings, [NAME], [DAYS[0], DAYS[2]])
    assert out.ok and out.published is not None and out.published.version == 1
    assert [p["key"] for p in settings.warehouse.manifest(NAME, 1)["partitions"]] == [DAYS[0], DAYS[2]]
    _, [again] = materialize(proj, settings, [NAME], [DAYS[0]])
    assert again.ok and again.published is not None and not again.published.created
    _, [bad] = materialize(proj, settings, [NAME], ["2026-04-01"])
    assert not bad.ok and "no raw file belongs to partition `2026-04-01`" in (bad.error or "")


def test_landing_sensor_requests_one_run_per_new_day(tmp_path: Path) -> None:
    root = daily_project(tmp_path / "project")
    spec = root / "dataset_specs" / f"{NAME}.yaml"
    text = spec.read_text(encoding="utf-8").replace(
        f"path: seeds/{NAME}/*.csv", f"path: landing/{NAME}/*.csv\n  landing: {{path: landing/{NAME}}}"
    )
    spec.write_text(text, encoding="utf-8")
    landing = root / "landing" / NAME
    landing.mkdir(parents=True)
    old = time.time() - 60
    for d in DAYS[:2]:
        dest = landing / day_file(root, d).name
        dest.write_bytes(day_file(root, d).read_bytes())
        os.utime(dest, (old, old))
    lines = day_file(root, DAYS[2]).read_text(encoding="utf-8").splitlines(keepends=True)
    for n, other in enumerate(
        ("cnc_march.csv", "cnc_2026-02-27.csv", "cnc_2099-01-01.csv")
    ):  # no partition, before start, not over
        (landing / other).write_text("".join(lines[: 100 + n]), encoding="utf-8")  # other bytes each
        os.utime(landing / other, (old, old))
    settings = Settings.resolve(root, tmp_path / "wh")
    sensor = next(s for s in _defs(settings).sensors or [] if s.name == sensor_name(NAME))  # type: ignore[union-attr]
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance, sensor_name=sensor.name))
    assert isinstance(result, dg.SensorResult)
    assert sorted(r.partition_key for r in result.run_requests or []) == DAYS[:2]  # type: ignore[type-var]
    reason = (landing / "_quarantine" / "cnc_march.csv.reason.txt").read_text(encoding="utf-8")
    assert "does not match `partitions.path_pattern`" in reason
    reason = (landing / "_quarantine" / "cnc_2026-02-27.csv.reason.txt").read_text(encoding="utf-8")
    assert "partition `2026-02-27` is before `partitions.start` (2026-03-01)" in reason
    assert (landing / "cnc_2099-01-01.csv").is_file()  # waits in landing until its day is over


@pytest.mark.slow  # two Dagster runs
def test_an_unchanged_partition_run_measures_freshness_again(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timedelta

    from pipelines.quality import dataset_kinds

    rules = settings.project / "quality_rules" / f"{NAME}.yaml"
    rules.write_text(
        rules.read_text() + "  - {id: cnc.fresh, kind: freshness, timestamp: ts, max_age_s: 86400, severity: warn}\n"
    )
    job = _defs(settings).resolve_job_def(job_name(NAME))
    keys = [dg.AssetKey([NAME, s]) for s in ("raw", "validated", "published", "catalog")]
    instance = instance_for(settings)
    day_after = datetime(2026, 3, 5, 12, 0)  # the last day's data is a few hours old
    monkeypatch.setattr(dataset_kinds, "utc_now", lambda: day_after)
    first = job.execute_in_process(instance=instance, asset_selection=keys, partition_key=DAYS[-1])
    assert [e.passed for e in first.get_asset_check_evaluations() if e.check_name == "cnc__fresh"] == [True]
    monkeypatch.setattr(dataset_kinds, "utc_now", lambda: day_after + timedelta(days=3))  # no data since
    again = job.execute_in_process(instance=instance, asset_selection=keys, partition_key=DAYS[-1])
    assert settings.warehouse.versions(NAME) == [1]  # nothing changed: no new version ...
    (check,) = [e for e in again.get_asset_check_evaluations() if e.check_name == "cnc__fresh"]
    assert not check.passed  # ... but the check says the data is stale now


@pytest.mark.slow
def test_a_partitioned_spec_with_anomalies_gets_its_check_per_run(settings: Settings) -> None:
    spec = settings.project / "dataset_specs" / f"{NAME}.yaml"
    spec.write_text(spec.read_text() + "anomalies: {sensitivity: medium}\n")
    proj = load_project(settings.project)
    _, [out] = materialize(proj, settings, [NAME], DAYS)
    assert out.ok, out.error
    instance = instance_for(settings)
    key = dg.AssetCheckKey(dg.AssetKey([NAME, "published"]), "anomalies")
    done = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])  # type: ignore[attr-defined]
    assert key in done
    found = settings.warehouse.manifest(NAME, 1)["anomalies"]
    assert {f["partition"] for f in found} == set(DAYS[1:]), "each day after the first is compared with the days before"
