"""Run a dataset's four stages in-process, without an orchestrator (tests, scripts, and the Dagster assets' core)."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.errors import MoshuError
from pipelines.spec.loader import LoadedDataset
from pipelines.stages import Published, ingest, publish, register, validate
from pipelines.stages.register import record_failure
from pipelines.warehouse import Warehouse


def run_dataset(loaded: LoadedDataset, root: Path, warehouse: Warehouse, *, orchestrator: str = "direct") -> Published:
    """Ingest, validate, publish and register one dataset; a failure is recorded in the catalog and re-raised."""
    ing = ingest(loaded, root, warehouse)
    try:
        val = validate(loaded, ing)
        pub = publish(loaded, val, warehouse)
        register(loaded, pub, warehouse, started_at=ing.started_at, orchestrator=orchestrator)
    except MoshuError as e:
        record_failure(warehouse, loaded.name, ing.run_id, ing.started_at, str(e), orchestrator)
        raise
    finally:
        cleanup_staging(warehouse, loaded.name, ing.run_id)
    return pub


def cleanup_staging(warehouse: Warehouse, name: str, run_id: str) -> None:
    """Remove a run's staging folder, and the dataset's staging folder once it is empty."""
    run_dir = warehouse.staging_dir(name, run_id)
    shutil.rmtree(run_dir, ignore_errors=True)
    for parent in (run_dir.parent, run_dir.parent.parent):
        try:
            parent.rmdir()
        except OSError:
            break
