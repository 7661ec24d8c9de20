"""Build the Definitions: assets and checks per spec, a job per dataset and for all, a schedule per cron."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.assets import GROUP_PREFIX, MoshuResource, dataset_assets
from pipelines.defs.model_assets import model_assets
from pipelines.defs.sensors import landing_sensors
from pipelines.settings import Settings
from pipelines.spec.loader import Project

ALL_JOB = "moshu_all"


def job_name(dataset: str) -> str:
    """Name of the job that builds one dataset."""
    return f"{dataset}_job"


def build_definitions(project: Project, settings: Settings) -> dg.Definitions:
    """Everything Dagster needs for a loaded project."""
    assets: list[dg.AssetsDefinition] = []
    jobs = []
    schedules = []
    for name, loaded in sorted(project.datasets.items()):
        assets.extend(dataset_assets(loaded))
        assets.extend(model_assets(loaded))
        job = dg.define_asset_job(
            job_name(name),
            selection=dg.AssetSelection.groups(GROUP_PREFIX + name),
            description=f"Build `{name}`: ingest, validate, publish, register.",
        )
        jobs.append(job)
        if loaded.spec.schedule:
            schedules.append(
                dg.ScheduleDefinition(
                    name=f"{name}_schedule", job=job, cron_schedule=loaded.spec.schedule, execution_timezone="UTC"
                )
            )
    jobs.append(dg.define_asset_job(ALL_JOB, selection=dg.AssetSelection.all(), description="Build every dataset."))
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=landing_sensors(project, settings.warehouse.root, {n: job_name(n) for n in project.datasets}),
        resources={"moshu": MoshuResource(project=str(settings.project), warehouse=str(settings.warehouse.root))},
    )
