"""Materialize datasets through Dagster against the warehouse's persistent instance (used by `moshu run`)."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import dagster as dg

from pipelines.defs.build import build_definitions
from pipelines.defs.run_ids import PARTITIONS_TAG, staging_run_id
from pipelines.ingest.redact import redact_text
from pipelines.settings import Settings
from pipelines.spec.loader import Project

_INSTANCE_YAML = """\
# Dagster instance of this warehouse: `moshu run` records runs here; `make dagster` shows them.
telemetry:
  enabled: false
"""


@dataclass
class DatasetOutcome:
    """How one dataset fared in a run."""

    dataset: str
    ok: bool
    published: Any | None = None  # pipelines.stages.Published
    error: str | None = None


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The persistent Dagster instance inside the warehouse (created on first use)."""
    home = settings.warehouse.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(_INSTANCE_YAML, encoding="utf-8")
    return dg.DagsterInstance.from_config(str(home))


def _deepest_message(error: Any) -> str:
    while getattr(error, "cause", None) is not None:
        error = error.cause
    msg = getattr(error, "message", str(error)).strip()
    # Dagster prefixes the exception class (`pipelines.errors.SourceError: ...`): keep moshu's own message.
    return re.sub(r"^pipelines(\.\w+)+\.(\w+Error): ", "", msg)


def materialize(
    project: Project, settings: Settings, names: list[str], partitions: list[str] | None = None
) -> tuple[str, list[DatasetOutcome]]:
    """Run the named datasets' assets; return the first run id and an outcome per dataset.

    Each dataset runs as a run of its own job (`<name>_job`, tagged `moshu/dataset`), one after the other,
    so its runs show on the job's page, the timeline and the asset history as scheduled runs do. A
    partitioned dataset's run covers `partitions` (default: every partition that has raw files) and makes one version.
    """
    for name in ("dagster", "great_expectations"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from pipelines.quality import ge_worker

    ge_worker.end_after_validation(False)  # set per dataset by `_run_flat`: only its last one ends the worker
    defs = build_definitions(project, settings)
    flat = [n for n in names if project.datasets[n].spec.partitions is None]
    parted = [n for n in names if n not in flat]
    if partitions and flat:
        raise ValueError(f"`--partition` applies to partitioned datasets; {', '.join(flat)} have no partitions")
    run_ids: list[str] = []
    outcomes: dict[str, DatasetOutcome] = {}
    if flat:
        run_id, done = _run_flat(defs, project, settings, flat, last=not parted)
        run_ids.append(run_id)
        outcomes.update(done)
    for n in parted:  # a partitioned run validates partition after partition: its worker lasts to the end
        run_id, outcomes[n] = _run_partitioned(defs, project, settings, n, partitions)
        run_ids.append(run_id)
    return (run_ids[0] if run_ids else ""), [outcomes[n] for n in names]


def _execute(job: dg.JobDefinition, settings: Settings, names: list[str], keys: list[dg.AssetKey], tags: dict[str, str]) -> Any:
    """Run the job; its datasets' runs are noted as in progress meanwhile (`pipelines.cancel`: a stop removes their
    staging folders and records them `cancelled`)."""
    from pipelines import cancel

    cancel.check()  # asked to stop between two runs
    run_id = str(uuid.uuid4())  # known before the run starts, so a stop can find its staging folders
    for n in names:
        cancel.started(settings.warehouse, n, staging_run_id(run_id, n), f"dagster:{run_id}")
    result = job.execute_in_process(
        instance=instance_for(settings),
        raise_on_error=False,
        asset_selection=keys,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        tags={"moshu/trigger": "cli", **tags},
        run_id=run_id,
    )
    if cancel.requested() is None:  # else the stop handler removes and records them
        for n in names:
            cancel.finished(staging_run_id(run_id, n))
    return result


def _asset_keys(project: Project, name: str) -> list[dg.AssetKey]:
    from pipelines.defs.model_assets import model_stages

    stages = ("raw", "validated", "published", "catalog", *model_stages(project.datasets[name]))
    return [dg.AssetKey([name, stage]) for stage in stages]


def _failures(result: Any) -> dict[str, str]:
    failures: dict[str, str] = {}
    for ev in result.get_step_failure_events():
        ds = (ev.step_key or "").rsplit("__", 1)[0]  # step keys are <dataset>__<stage>
        data = ev.step_failure_data
        failures.setdefault(ds, _deepest_message(data.error) if data and data.error else "step failed")
    return failures


def _run_flat(
    defs: dg.Definitions, project: Project, settings: Settings, names: list[str], *, last: bool = True
) -> tuple[str, dict[str, DatasetOutcome]]:
    """One run per dataset, of the dataset's own job, tagged with its name: each shows on its job's page in Dagster."""
    from pipelines.defs.build import DATASET_TAG, job_name
    from pipelines.quality import ge_worker
    from pipelines.runner import cleanup_staging
    from pipelines.stages.register import record_failure

    first = ""
    outcomes = {}
    for i, n in enumerate(names):
        ge_worker.end_after_validation(i == len(names) - 1 and last)  # the worker's memory is back before publishing
        result = _execute(defs.resolve_job_def(job_name(n)), settings, [n], _asset_keys(project, n), {DATASET_TAG: n})
        first = first or result.run_id
        cleanup_staging(settings.warehouse, n, staging_run_id(result.run_id, n))
        if (failure := _failures(result).get(n)) is not None:  # redacted once, the message that is stored and shown
            error = redact_text(failure, project.datasets[n].spec, settings.project)
            outcomes[n] = DatasetOutcome(n, False, error=error)
            record_failure(settings.warehouse, n, staging_run_id(result.run_id, n), None, error, f"dagster:{result.run_id}")
            continue
        try:
            pub = result.output_for_node(f"{n}__published")
        except Exception as e:  # the step was skipped because an upstream step failed
            outcomes[n] = DatasetOutcome(n, False, error=f"not built: {e}")
            continue
        outcomes[n] = DatasetOutcome(n, True, published=pub)
    return first, outcomes


def _run_partitioned(
    defs: dg.Definitions, project: Project, settings: Settings, name: str, partitions: list[str] | None
) -> tuple[str, DatasetOutcome]:
    """One run of a partitioned dataset's job over the asked partitions (as a range, filtered by a run tag)."""
    from pipelines.defs.build import job_name
    from pipelines.errors import MoshuError
    from pipelines.runner import cleanup_staging, partitions_to_build
    from pipelines.stages.publish import published_of
    from pipelines.stages.register import record_failure

    try:
        keys = partitions_to_build(project.datasets[name], settings.project, partitions)
    except MoshuError as e:
        return "", DatasetOutcome(name, False, error=redact_text(str(e), project.datasets[name].spec, settings.project))
    tags = {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
        PARTITIONS_TAG: ",".join(keys),
    }
    result = _execute(defs.resolve_job_def(job_name(name)), settings, [name], _asset_keys(project, name), tags)
    cleanup_staging(settings.warehouse, name, staging_run_id(result.run_id, name))
    failures = _failures(result)  # the run builds this one dataset: any failed step is its failure
    if failures:
        error = redact_text(next(iter(failures.values())), project.datasets[name].spec, settings.project)
        record_failure(settings.warehouse, name, staging_run_id(result.run_id, name), None, error, f"dagster:{result.run_id}")
        return result.run_id, DatasetOutcome(name, False, error=error)
    events = result.asset_materializations_for_node(f"{name}__published")
    if not events:
        return result.run_id, DatasetOutcome(name, False, error="not built: the publish step did not run")
    meta = events[0].metadata
    pub = published_of(
        settings.warehouse,
        name,
        int(meta["version"].value),
        staging_run_id(result.run_id, name),
        created=bool(meta["new_version"].value),
    )
    return result.run_id, DatasetOutcome(name, True, published=pub)
