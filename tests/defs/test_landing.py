"""Landing-folder sensor: new, complete, readable contents request exactly one run; the rest wait or are set aside."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.build import build_definitions, job_name
from pipelines.defs.sensors import sensor_name
from pipelines.landing import ledger_path, load_ledger
from pipelines.settings import Settings
from pipelines.spec.loader import load_project

SPEC = """\
name: press
title: Press readings
description: Readings delivered to a landing folder.
owner: test
classification: {grade: general, domain: production, cdo: c, retention: P1Y, default_sensitivity: public}
source:
  format: csv
  path: landing/press/*.csv
  landing: {path: landing/press, stable_seconds: 5}
columns:
  - {name: id, dtype: int64, nullable: false, description: Reading id.}
  - {name: force_kn, dtype: float64, description: Press force.}
primary_key: [id]
"""


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "project"
        (self.root / "dataset_specs").mkdir(parents=True)
        (self.root / "dataset_specs" / "press.yaml").write_text(SPEC)
        self.landing = self.root / "landing" / "press"
        self.landing.mkdir(parents=True)
        self.settings = Settings.resolve(self.root, tmp_path / "wh")
        self.defs = build_definitions(load_project(self.root), self.settings)
        self.sensor = next(s for s in self.defs.sensors or [] if s.name == sensor_name("press"))  # type: ignore[union-attr]
        self.cursor: str | None = None

    def write(self, name: str, text: str, age: float = 60) -> Path:
        p = self.landing / name
        p.write_text(text)
        old = time.time() - age
        os.utime(p, (old, old))
        return p

    def tick(self) -> list[dg.RunRequest]:
        with dg.instance_for_test() as instance:
            ctx = dg.build_sensor_context(instance=instance, cursor=self.cursor, sensor_name=self.sensor.name)
            result = self.sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        return list(result.run_requests or [])


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def test_sensor_is_defined_for_the_job(env: Env) -> None:
    assert env.sensor.job_name == job_name("press")


def test_new_same_copy_and_modified_files(env: Env) -> None:
    assert env.tick() == []  # empty folder
    env.write("a.csv", "id,force_kn\n1,10.5\n2,11.0\n")
    first = env.tick()
    assert len(first) == 1
    assert env.tick() == []  # same tick again
    env.write("a_copy.csv", "id,force_kn\n1,10.5\n2,11.0\n")
    assert env.tick() == []  # same bytes, other name
    assert not (env.landing / "a_copy.csv").exists()
    assert (env.landing / "_duplicates" / "a_copy.csv").exists()
    env.write("a.csv", "id,force_kn\n1,10.5\n2,11.0\n3,12.5\n")
    assert env.tick() == []  # changed since the previous tick: waits one tick to be sure it is complete
    second = env.tick()
    assert len(second) == 1 and second[0].run_key != first[0].run_key
    ledger = load_ledger(ledger_path(env.settings.warehouse.root, "press"))
    statuses = sorted(e["status"] for e in ledger["files"].values())
    assert statuses == ["ingested", "ingested"]
    assert all(e["path"] == "landing/press/a.csv" for e in ledger["files"].values())


def test_an_ingested_file_left_in_place_is_not_read_again(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.write("a.csv", "id,force_kn\n1,10.5\n")
    assert len(env.tick()) == 1
    ledger = ledger_path(env.settings.warehouse.root, "press")
    written = ledger.stat().st_mtime_ns

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} hashed again")

    monkeypatch.setattr("pipelines.landing.sha256_file", no_hashing)
    assert env.tick() == [] and env.tick() == []  # size and mtime as recorded: the stat is enough
    assert ledger.stat().st_mtime_ns == written  # nothing changed: the ledger is not rewritten


def test_files_being_written_wait_until_stable(env: Env) -> None:
    env.write("b.csv.part", "id,force_kn\n1,1.0\n")
    env.write("c.csv", "id,force_kn\n1,1.0\n", age=0)  # just written
    assert env.tick() == []
    ledger = load_ledger(ledger_path(env.settings.warehouse.root, "press"))
    assert set(ledger["waiting"]) == {"landing/press/c.csv"}  # `.part` is not matched by `*.csv` at all

    # c.csv grows between ticks (mtime kept old, as on a coarse-mtime share): still waits one more tick
    env.write("c.csv", "id,force_kn\n1,1.0\n2,2.0\n")
    assert env.tick() == []
    assert json.loads(env.cursor or "{}")["landing/press/c.csv"][0] == (env.landing / "c.csv").stat().st_size
    requests = env.tick()  # unchanged since the previous tick: picked up
    assert len(requests) == 1
    assert requests[0].tags["moshu/landing_files"] == "landing/press/c.csv"

    (env.landing / "b.csv.part").rename(env.landing / "b.csv")  # the writer finished
    os.utime(env.landing / "b.csv", (time.time() - 60, time.time() - 60))
    assert len(env.tick()) == 1


def test_unreadable_file_is_quarantined_and_others_still_run(env: Env) -> None:
    env.write("bad.csv", "identifier;other\nx;y\n")
    env.write("good.csv", "id,force_kn\n1,10.5\n")
    requests = env.tick()
    assert len(requests) == 1
    assert requests[0].tags["moshu/landing_files"] == "landing/press/good.csv"
    assert not (env.landing / "bad.csv").exists()
    assert (env.landing / "_quarantine" / "bad.csv").exists()
    reason = (env.landing / "_quarantine" / "bad.csv.reason.txt").read_text()
    assert "id" in reason
    ledger = load_ledger(ledger_path(env.settings.warehouse.root, "press"))
    rejected = [e for e in ledger["files"].values() if e["status"] == "rejected"]
    assert [e["path"] for e in rejected] == ["landing/press/bad.csv"]
    assert env.tick() == []


def test_requested_run_publishes_a_version(env: Env) -> None:
    env.write("a.csv", "id,force_kn\n1,10.5\n2,11.0\n")
    (request,) = env.tick()
    job = env.defs.resolve_job_def(job_name("press"))
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, tags=request.tags)
    assert result.success
    assert (env.settings.warehouse.root / "datasets" / "press").is_dir()


def test_landing_options_are_not_part_of_the_data_hash() -> None:
    import yaml

    from pipelines.spec.loader import spec_hashes
    from pipelines.spec.models import DatasetSpec
    from tests.conftest import REPO

    raw = yaml.safe_load((REPO / "dataset_specs" / "ai4i2020.yaml").read_text(encoding="utf-8"))
    raw["source"]["path"] = "landing/ai4i/*.csv"
    slow = {**raw, "source": {**raw["source"], "landing": {"path": "landing/ai4i", "stable_seconds": 60}}}
    fast = {**raw, "source": {**raw["source"], "landing": {"path": "landing/ai4i", "stable_seconds": 1}}}
    data = {spec_hashes(DatasetSpec.model_validate(d))[0] for d in (raw, slow, fast)}
    assert len(data) == 1
