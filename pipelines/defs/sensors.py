"""A sensor per dataset with `source.landing`: new, complete, readable files request one run of its job
(one run per partition the new files belong to, for a partitioned dataset)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from pipelines.landing import check_landing, ledger_path
from pipelines.spec.loader import LoadedDataset, Project

SENSOR_INTERVAL_SECONDS = 30


def sensor_name(dataset: str) -> str:
    """Name of a dataset's landing sensor."""
    return f"{dataset}_landing_sensor"


def landing_sensor(loaded: LoadedDataset, project_root: Path, warehouse_root: Path, job: str) -> dg.SensorDefinition:
    """The sensor watching one dataset's landing folder; the cursor keeps the previous tick's sizes and mtimes."""
    spec = loaded.spec
    landing = spec.source.landing
    assert landing is not None

    @dg.sensor(
        name=sensor_name(spec.name),
        job_name=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Watch `{landing.path}` and run `{job}` once per new set of file contents.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        previous = json.loads(context.cursor) if context.cursor else {}
        tick = check_landing(spec, project_root, ledger_path(warehouse_root, spec.name), previous)
        for rel, why in tick.rejected.items():
            context.log.warning(f"{rel}: quarantined: {why}")
        cursor = json.dumps(tick.observed, sort_keys=True)
        if tick.run_key is None:
            return dg.SensorResult(skip_message=f"no new files ({tick.summary()})", cursor=cursor)
        if spec.partitions is None:
            request = dg.RunRequest(
                run_key=tick.run_key, tags={"moshu/landing_files": ",".join(sorted(tick.new.values()))[:1000]}
            )
            return dg.SensorResult(run_requests=[request], cursor=cursor)
        from pipelines.partitions import partition_of

        by_key: dict[str, list[str]] = {}
        for rel in tick.new.values():  # each file names its partition (checked by `check_landing`)
            by_key.setdefault(partition_of(spec, rel), []).append(rel)
        requests = [
            dg.RunRequest(
                run_key=f"{tick.run_key}:{key}", partition_key=key, tags={"moshu/landing_files": ",".join(sorted(rels))[:1000]}
            )
            for key, rels in sorted(by_key.items())
        ]
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _sensor


def landing_sensors(project: Project, warehouse_root: Path, job_for: dict[str, str]) -> list[dg.SensorDefinition]:
    """One sensor per dataset that declares `source.landing`."""
    return [
        landing_sensor(loaded, project.root, warehouse_root, job_for[name])
        for name, loaded in sorted(project.datasets.items())
        if loaded.spec.source.landing is not None
    ]
