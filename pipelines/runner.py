"""Run a dataset's four stages in-process, without an orchestrator (tests, scripts, and the Dagster assets' core)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipelines.errors import MoshuError, QualityGateError, SourceError
from pipelines.ingest.redact import redact_error
from pipelines.spec.loader import LoadedDataset
from pipelines.stages import Published, ingest, publish, register, validate
from pipelines.stages.ingest import new_run_id
from pipelines.stages.register import record_failure
from pipelines.warehouse import Warehouse


def run_dataset(
    loaded: LoadedDataset, root: Path, warehouse: Warehouse, *, orchestrator: str = "direct", partitions: list[str] | None = None
) -> Published:
    """Ingest, validate, publish and register one dataset; a failure is recorded in the catalog and re-raised.

    For a partitioned dataset, `partitions` are the keys to (re)build, default every partition that has files;
    the others are taken unchanged from the latest version.
    """
    if loaded.spec.partitions is not None:
        return run_partitions(loaded, root, warehouse, partitions, orchestrator=orchestrator)
    if partitions:
        raise ValueError(f"dataset `{loaded.name}` has no `partitions` in its spec")
    ing = ingest(loaded, root, warehouse)
    with _recorded(warehouse, loaded, root, ing.run_id, ing.started_at, orchestrator):
        val = validate(loaded, ing)
        pub = publish(loaded, val, warehouse)
        register(loaded, pub, warehouse, started_at=ing.started_at, orchestrator=orchestrator)
        raise_if_blocked(pub)
    return pub


def run_partitions(
    loaded: LoadedDataset,
    root: Path,
    warehouse: Warehouse,
    keys: list[str] | None,
    *,
    orchestrator: str = "direct",
    run_id: str | None = None,
) -> Published:
    """Build the partitions `keys` (default: all with files) of a partitioned dataset into one new version."""
    from pipelines.stages.publish_partitions import publish_partitions

    run_id = run_id or new_run_id()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    todo = partitions_to_build(loaded, root, keys)
    with _recorded(warehouse, loaded, root, run_id, started, orchestrator):
        ings = [ingest(loaded, root, warehouse, run_id=run_id, partition=k) for k in todo]
        vals = [validate(loaded, i) for i in ings]
        pub = publish_partitions(loaded, vals, warehouse)
        register(loaded, pub, warehouse, started_at=started, orchestrator=orchestrator)
        raise_if_blocked(pub)
    return pub


def raise_if_blocked(pub: Published) -> None:
    """Fail the run of a version that failed dataset-level error rules (it was written and registered as a rejected
    candidate, so its report says why).

    Raises:
        QualityGateError: with the rules as written, what they measured and their thresholds.
    """
    if pub.blocked:
        raise QualityGateError(pub.blocked)


@contextmanager
def _recorded(
    warehouse: Warehouse, loaded: LoadedDataset, root: Path, run_id: str, started: str, orchestrator: str
) -> Iterator[None]:
    """A failure inside is recorded in the catalog and re-raised, without personal values; the run's staging folder
    is removed either way."""
    try:
        yield
    except MoshuError as e:
        redact_error(e, loaded.spec, root)
        record_failure(warehouse, loaded.name, run_id, started, str(e), orchestrator)
        raise
    finally:
        cleanup_staging(warehouse, loaded.name, run_id)


def partitions_to_build(loaded: LoadedDataset, root: Path, keys: list[str] | None, *, skip_empty: bool = False) -> list[str]:
    """The partition keys a run builds: `keys` (checked), or every partition that has files.

    With `skip_empty` (a backfill over a range), keys without files are left out instead of failing.

    Raises:
        SourceError: a key is not a partition of the dataset, or no key has files.
    """
    from pipelines.ingest.readers import resolve_files
    from pipelines.partitions import files_by_partition, is_over, out_of_range, parse_key

    spec = loaded.spec
    assert spec.partitions is not None
    have = list(files_by_partition(spec, root, resolve_files(spec, root)))
    outside = [why for k in have if (why := out_of_range(spec, k))]
    if outside:
        raise SourceError(f"dataset `{spec.name}`: raw files name partitions it does not have: {'; '.join(outside[:3])}")
    if keys is None:  # every partition with files whose day (or hour) is over
        return [k for k in have if is_over(spec, k)]
    for k in keys:
        try:
            parse_key(k, spec.partitions.granularity)
        except ValueError as e:
            raise SourceError(f"dataset `{spec.name}`: {e}") from None
        if not is_over(spec, k):
            raise SourceError(f"dataset `{spec.name}`: partition `{k}` is not over yet; build it once it has ended")
    missing = [k for k in keys if k not in have]
    if missing and (not skip_empty or len(missing) == len(keys)):
        raise SourceError(
            f"dataset `{spec.name}`: no raw file belongs to partition {', '.join(f'`{k}`' for k in missing[:5])} "
            f"(files matching `{spec.source.path}` cover {len(have)} partitions, {have[0]} .. {have[-1]}); "
            "deliver the files or pick partitions that have them"
        )
    return [k for k in keys if k in have]


def cleanup_staging(warehouse: Warehouse, name: str, run_id: str) -> None:
    """Remove a run's staging folder, and the dataset's staging folder once it is empty."""
    run_dir = warehouse.staging_dir(name, run_id)
    shutil.rmtree(run_dir, ignore_errors=True)
    for parent in (run_dir.parent, run_dir.parent.parent):
        try:
            parent.rmdir()
        except OSError:
            break


def stop_runs(signum: int) -> None:
    """Remove the staging folders of the runs in progress (`pipelines.cancel`) and record them `cancelled`."""
    import signal

    from pipelines.cancel import take_runs
    from pipelines.stages.register import record_cancelled

    for r in take_runs():
        cleanup_staging(r.warehouse, r.dataset, r.run_id)
        record_cancelled(r.warehouse, r.dataset, r.run_id, r.started_at, signal.Signals(signum).name, r.orchestrator)
