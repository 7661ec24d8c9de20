"""The partitions of one run build in parallel: one step per partition under Dagster's multiprocess executor."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.build import build_definitions, job_name
from pipelines.runner import run_dataset
from pipelines.settings import Settings
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.partitions.daily import NAME, daily_project

DAYS = ["2026-03-02", "2026-03-03"]


def partitioned_job() -> dg.JobDefinition:
    """The dataset's job, rebuilt in each step process from MOSHU_PROJECT and MOSHU_WAREHOUSE (a reconstructable job)."""
    settings = Settings.resolve()
    return build_definitions(load_project(settings.project), settings).resolve_job_def(job_name(NAME))


def _intervals(instance: dg.DagsterInstance, run_id: str, marker: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None or not ev.step_key or marker not in ev.step_key:
            continue
        if ev.event_type_value in ("STEP_WORKER_STARTING", "STEP_SUCCESS"):  # from launching its process to done
            out.setdefault(ev.step_key, []).append(entry.timestamp)
    return out


@pytest.mark.slow
def test_partitions_of_a_run_build_in_parallel_steps_and_match_the_sequential_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = daily_project(tmp_path / "project", days=1)  # two partitions: 18 h and 6 h of the stream
    monkeypatch.setenv("MOSHU_PROJECT", str(root))
    monkeypatch.setenv("MOSHU_WAREHOUSE", str(tmp_path / "wh"))
    tags = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = dg.execute_job(dg.reconstructable(partitioned_job), instance=instance, tags=tags)
        assert result.success
        ingest = _intervals(instance, result.run_id, "__ingest[")
        validate = _intervals(instance, result.run_id, "__validate[")
        pids = {e.pid for e in result.all_events if e.event_type_value == "STEP_START" and "__ingest[" in (e.step_key or "")}
    assert len(ingest) == len(validate) == len(DAYS)  # one step per partition and stage
    assert len(pids) == len(DAYS)  # each in its own process
    spans = sorted((a, b) for a, b in (*ingest.values(), *validate.values()))
    assert any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))  # at least two ran at the same time

    parallel = Warehouse(tmp_path / "wh").manifest(NAME, 1)
    wh = Warehouse(tmp_path / "sequential")
    run_dataset(load_project(root).datasets[NAME], root, wh, partitions=DAYS)
    sequential = wh.manifest(NAME, 1)
    assert [p["key"] for p in parallel["partitions"]] == DAYS
    assert parallel["counts"] == sequential["counts"]
    assert parallel["quarantine_summary"] == sequential["quarantine_summary"]
    strip = [{k: r[k] for k in ("rule_id", "evaluated", "failed", "suspect", "passed")} for r in parallel["rules"]]
    assert strip == [{k: r[k] for k in ("rule_id", "evaluated", "failed", "suspect", "passed")} for r in sequential["rules"]]
    assert {f["path"]: f["sha256"] for f in parallel["files"] if f["path"].startswith("data/")} == {
        f["path"]: f["sha256"] for f in sequential["files"] if f["path"].startswith("data/")
    }  # the very same published bytes
