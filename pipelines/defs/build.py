"""Build the Definitions: assets and checks per spec, a job per dataset and for all, a schedule per cron."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.assets import GROUP_PREFIX, MoshuResource, dataset_assets
from pipelines.defs.model_assets import model_assets
from pipelines.defs.ownership import with_ownership
from pipelines.defs.partitioned_assets import IO_MANAGER, RunStagingIOManager, partitioned_dataset_assets
from pipelines.defs.sensors import landing_sensors
from pipelines.settings import Settings
from pipelines.spec.loader import Project

ALL_JOB = "moshu_all"
# Run tag naming the dataset a job builds: a deployment's run coordinator limits it to one run per dataset
# (`tagConcurrencyLimits` with `applyLimitPerUniqueValue`), see docs/scale.md.
DATASET_TAG = "moshu/dataset"
# A retried run starts again from ingest, so it pulls what another machine published meanwhile (docs/scale.md).
RETRY_FROM_START = {"dagster/retry_strategy": "ALL_STEPS"}


def job_name(dataset: str) -> str:
    """Name of the job that builds one dataset."""
    return f"{dataset}_job"


def build_definitions(project: Project, settings: Settings) -> dg.Definitions:
    """Everything Dagster needs for a loaded project."""
    assets: list[dg.AssetsDefinition] = []
    checks: list[dg.AssetChecksDefinition] = []
    jobs = []
    schedules = []
    partitioned = sorted(n for n, d in project.datasets.items() if d.spec.partitions is not None)
    for name, loaded in sorted(project.datasets.items()):
        for d in partitioned_dataset_assets(loaded) if name in partitioned else dataset_assets(loaded):
            if isinstance(d, dg.AssetChecksDefinition):
                checks.append(d)
            else:
                assets.append(with_ownership(d, loaded))
        assets.extend(with_ownership(d, loaded) for d in model_assets(loaded))
        job = dg.define_asset_job(
            job_name(name),
            selection=dg.AssetSelection.groups(GROUP_PREFIX + name),
            tags={DATASET_TAG: name, **RETRY_FROM_START},
            description=f"Build `{name}`: ingest, validate, publish, register"
            + (" (one partition, or a range of them as one run)." if name in partitioned else "."),
        )
        jobs.append(job)
        if name in partitioned:  # each partition runs once its day (or hour) is over
            schedules.append(dg.build_schedule_from_partitioned_job(job, name=f"{name}_schedule"))
        elif loaded.spec.schedule:
            schedules.append(
                dg.ScheduleDefinition(
                    name=f"{name}_schedule", job=job, cron_schedule=loaded.spec.schedule, execution_timezone="UTC"
                )
            )
    every = dg.AssetSelection.all() - dg.AssetSelection.groups(*(GROUP_PREFIX + n for n in partitioned))
    jobs.append(
        dg.define_asset_job(
            ALL_JOB,
            selection=every,
            description="Build every dataset that is not partitioned (a partitioned one runs per partition, from its own job).",
            tags=RETRY_FROM_START,
        )
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=schedules,
        sensors=landing_sensors(project, settings.warehouse.root, {n: job_name(n) for n in project.datasets}),
        resources={
            "moshu": MoshuResource(
                project=str(settings.project), warehouse=str(settings.warehouse.root), remote=settings.warehouse.remote or ""
            ),
            IO_MANAGER: RunStagingIOManager(warehouse=str(settings.warehouse.root)),
        },
    )
