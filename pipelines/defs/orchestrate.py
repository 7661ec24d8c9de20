"""Materialize datasets through Dagster against the warehouse's persistent instance (used by `moshu run`)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import dagster as dg

from pipelines.defs.build import ALL_JOB, build_definitions
from pipelines.defs.run_ids import staging_run_id
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


def materialize(project: Project, settings: Settings, names: list[str]) -> tuple[str, list[DatasetOutcome]]:
    """Run the named datasets' assets in one Dagster run; return the run id and an outcome per dataset."""
    for name in ("dagster", "great_expectations"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    defs = build_definitions(project, settings)
    job = defs.resolve_job_def(ALL_JOB)
    from pipelines.defs.model_assets import model_stages

    keys = [
        dg.AssetKey([n, stage])
        for n in names
        for stage in ("raw", "validated", "published", "catalog", *model_stages(project.datasets[n]))
    ]
    result = job.execute_in_process(
        instance=instance_for(settings),
        raise_on_error=False,
        asset_selection=keys,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        tags={"moshu/trigger": "cli"},
    )
    from pipelines.runner import cleanup_staging
    from pipelines.stages.register import record_failure

    failures: dict[str, str] = {}
    for ev in result.get_step_failure_events():
        ds = (ev.step_key or "").rsplit("__", 1)[0]  # step keys are <dataset>__<stage>
        data = ev.step_failure_data
        failures.setdefault(ds, _deepest_message(data.error) if data and data.error else "step failed")
    outcomes = []
    for n in names:
        cleanup_staging(settings.warehouse, n, staging_run_id(result.run_id, n))
        if n in failures:
            outcomes.append(DatasetOutcome(n, False, error=failures[n]))
            record_failure(settings.warehouse, n, staging_run_id(result.run_id, n), None, failures[n], f"dagster:{result.run_id}")
            continue
        try:
            pub = result.output_for_node(f"{n}__published")
        except Exception as e:  # the step was skipped because an upstream step failed
            outcomes.append(DatasetOutcome(n, False, error=f"not built: {e}"))
            continue
        outcomes.append(DatasetOutcome(n, True, published=pub))
    return result.run_id, outcomes
