"""The one Dagster entry point: `dagster dev -m pipelines.definitions`."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.build import build_definitions
from pipelines.settings import Settings
from pipelines.spec.loader import load_project


@dg.definitions
def defs() -> dg.Definitions:
    """Load every spec of the project (MOSHU_PROJECT or this checkout) and build its definitions."""
    settings = Settings.resolve()
    return build_definitions(load_project(settings.project), settings)
