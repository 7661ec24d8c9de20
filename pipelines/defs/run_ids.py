"""How a dataset's moshu run id is derived from the Dagster run that builds it, and the run tags moshu reads."""

from __future__ import annotations

# Run tag naming the partitions a run builds, when they are not the whole range of the run.
PARTITIONS_TAG = "moshu/partitions"


def staging_run_id(dagster_run_id: str, dataset: str) -> str:
    """The moshu run id of one dataset inside a Dagster run (names its staging folder and catalog run row)."""
    return f"{dagster_run_id[:8]}-{dataset}"
