"""Stage 1: fingerprint the raw files and, if anything changed, stage them as one typed Parquet file."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.errors import CatalogError, MoshuError, SourceError
from pipelines.ingest.bad_files import BAD_FILE, nothing_left, outside_entry
from pipelines.ingest.cast import typed
from pipelines.ingest.derive import derive, mapped_counts, reading_spec, with_file_row
from pipelines.ingest.drift import scan_files
from pipelines.ingest.enrich import LookupFile, join_keyed, lookup_files, lookups_record, pair_by_position
from pipelines.ingest.fingerprint import SourceFile, sha256_file
from pipelines.ingest.readers import SOURCE_FILE, resolve_files, temp_files
from pipelines.ingest.redact import parser_message, redact_error
from pipelines.paths import relative
from pipelines.publish.fingerprint import data_hash
from pipelines.spec.containment import inside
from pipelines.spec.loader import LoadedDataset
from pipelines.warehouse import Warehouse

ROW_ID = "_row_id"
STAGED_FILE = "staged.parquet"
# Rows per row group of the staged file. The streaming passes that read it (the rules, writing the rows) hold a few
# row groups per thread at a time, so their peak memory follows this size (polars' default is about twice as many).
STAGED_ROW_GROUP = 50_000


@dataclass
class Ingested:
    """What ingest produced: the fingerprinted files and, unless nothing changed, the staged rows."""

    dataset: str
    run_id: str
    started_at: str
    files: list[SourceFile]
    data_hash: str
    rows_in: int = 0
    staged: Path | None = None
    unchanged_version: int | None = None
    corrections: list[dict[str, Any]] = field(default_factory=list)  # accepted feedback as applied
    pseudonym_key_id: str | None = None  # id (not the key) of the pseudonymisation key, when there are personal columns
    timings: dict[str, float] = field(default_factory=dict)
    # Files set aside by `source.on_bad_file` or `source.drift: quarantine_file`: [{path, sha256, rows, reason}]; their
    # rows are not in `rows_in`.
    quarantined_files: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)  # per file: new / missing / renamed / retyped columns
    partition: str | None = None  # the partition key, for a partitioned dataset (one Ingested per partition)
    # The inputs' hash of this partition in the latest version when the run read its files (None: not held).
    partition_seen: str | None = None
    lookup_files: list[dict[str, Any]] = field(default_factory=list)  # the `enrich` files read: path, sha256, rows
    mapped_values: dict[str, dict[str, int]] = field(default_factory=dict)  # per `map` column: values respelled per entry

    @property
    def unchanged(self) -> bool:
        """True when the latest version (or rejected candidate) already holds exactly these inputs, spec and rules."""
        return self.unchanged_version is not None


def _check_feedback_kept(
    name: str, latest: int | None, manifest: dict[str, Any] | None, known_ids: set[int], warehouse: Warehouse
) -> None:
    """Refuse to run when the catalog has lost findings the latest version applied (e.g. a deleted catalog)."""
    applied = {int(c["feedback_id"]) for c in (manifest or {}).get("corrections", [])}
    lost = sorted(applied - known_ids)
    if lost:
        raise CatalogError(
            f"dataset `{name}`: v{latest} applies accepted feedback {', '.join(map(str, lost[:10]))}"
            f"{' ...' if len(lost) > 10 else ''}, which the catalog `{warehouse.catalog_path}` does not have. "
            "Findings and reviews live only in the catalog: restore it from a backup before running, "
            "or the next version would silently drop those corrections"
            + (
                f" (with the remote {warehouse.remote}: findings live in the catalog of the machine they were sent to; "
                "run this dataset there)"
                if warehouse.remote
                else ""
            )
        )


def new_run_id() -> str:
    """A moshu run id: UTC start time and a random suffix (names the staging folder and the catalog's run row)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def ingest(
    loaded: LoadedDataset, root: Path, warehouse: Warehouse, *, run_id: str | None = None, partition: str | None = None
) -> Ingested:
    """Fingerprint raw files; stage them as typed Parquet unless the latest version already has them.

    For a partitioned dataset, `partition` (a key) is required and only that partition's files are
    read; it is unchanged when the latest version holds a build of it from the same inputs. A matched
    file that resolves outside the project (a symbolic link) is set aside unread. No error leaves with a
    raw value of a personal column in its message (`pipelines.ingest.redact`).

    Raises:
        SourceError: no file matches, a file lacks a declared column, or a file cannot be decoded.
    """
    from pipelines.governance.pseudonym import PseudonymKeyError

    try:
        return _ingest(loaded, root, warehouse, run_id, partition)
    except PseudonymKeyError:
        raise  # raised before any file is opened: nothing to redact, and no file is read to look
    except MoshuError as e:
        raise redact_error(e, loaded.spec, root) from None


def _ingest(loaded: LoadedDataset, root: Path, warehouse: Warehouse, run_id: str | None, partition: str | None) -> Ingested:
    spec = loaded.spec
    if (partition is None) != (spec.partitions is None):
        raise ValueError(f"dataset `{spec.name}`: a partition key is " + ("required" if partition is None else "not allowed"))
    run_id = run_id or new_run_id()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    from pipelines.governance.pseudonym import load_key

    personal = spec.personal_columns
    key = load_key(spec.name, personal) if personal else None  # before anything is read or written
    paths = _partition_files(spec, root, partition) if partition else resolve_files(spec, root)
    outside = [p for p in paths if not inside(p, root)]  # links out of the project: set aside, never read
    paths = [p for p in paths if p not in outside]
    files = [SourceFile(relative(p, root), sha256_file(p), p.stat().st_size) for p in paths]
    if outside and spec.source.on_bad_file == "fail":
        raise SourceError(
            f"dataset `{spec.name}`: `{outside_entry(outside[0], root)['path']}`: {outside_entry(outside[0], root)['reason'][len(BAD_FILE) :]}"
        )
    if outside and not paths:
        raise nothing_left(spec, [outside_entry(p, root) for p in outside])
    aside = [SourceFile(outside_entry(p, root)["path"], "", 0) for p in outside]  # in the hash: a new link reruns
    lookups = lookup_files(spec, root, [f.path for f in files])
    from pipelines.models.feedback import accepted_corrections, corrections_hash

    if warehouse.remote:  # start from what every machine has published: its latest version may hold these inputs
        from pipelines.storage.mirror import pull_dataset

        pull_dataset(warehouse, spec.name)
    corrections, known_ids = accepted_corrections(warehouse, spec.name)
    latest = warehouse.latest_candidate(spec.name)  # a rejected candidate of the same inputs is not redone
    m = warehouse.manifest(spec.name, latest) if latest is not None else None
    _check_feedback_kept(spec.name, latest, m, known_ids, warehouse)
    dh = data_hash(
        loaded, [*files, *aside], corrections_hash(corrections), key.key_id if key else None, partition,
        lookups=[(f.path, f.sha256) for f in lookups],
    )  # fmt: skip
    held = _held(m, partition)
    if held is not None and latest is not None and held.get("data_hash") == dh:
        prev = {f["sha256"]: f["rows"] for f in held.get("source_files", [])}
        files = [SourceFile(f.path, f.sha256, f.size, prev.get(f.sha256, 0)) for f in files]
        return Ingested(
            spec.name, run_id, started, files, dh, rows_in=held["counts"]["rows_in"], unchanged_version=latest,
            quarantined_files=list(held.get("quarantined_files", [])), drift=list(held.get("drift", [])), partition=partition,
            lookup_files=list(held.get("lookup_files", [])), mapped_values=dict(held.get("mapped_values", {})),
        )  # fmt: skip
    staging = warehouse.staging_dir(spec.name, run_id)
    if partition:
        from pipelines.partitions import file_tag

        staging = staging / f"p-{file_tag(partition)}"
    staging.mkdir(parents=True, exist_ok=True)
    staged, files, applied, quarantined, drift = _stage(
        loaded, paths, files, corrections, key, staging / STAGED_FILE, root, lookups
    )
    files += aside
    quarantined = [*quarantined, *(outside_entry(p, root) for p in outside)]
    return Ingested(
        spec.name, run_id, started, files, dh, rows_in=sum(f.rows for f in files), staged=staged, corrections=applied,
        pseudonym_key_id=key.key_id if key else None, quarantined_files=quarantined, drift=drift, partition=partition,
        partition_seen=held.get("data_hash") if held is not None and partition else None,
        lookup_files=lookups_record(lookups), mapped_values=mapped_counts(staged, spec),
    )  # fmt: skip


def _held(manifest: dict[str, Any] | None, partition: str | None) -> dict[str, Any] | None:
    """What the latest version holds of these inputs: the whole manifest, or the record of one partition."""
    if manifest is None or partition is None:
        return manifest
    return next((p for p in manifest.get("partitions", []) if p["key"] == partition), None)


def _partition_files(spec: Any, root: Path, partition: str) -> list[Path]:
    from pipelines.partitions import files_by_partition

    by_key = files_by_partition(spec, root, resolve_files(spec, root))
    if partition not in by_key:
        have = list(by_key)
        raise SourceError(
            f"dataset `{spec.name}`: no raw file belongs to partition `{partition}` (files matching `{spec.source.path}` "
            f"cover {have[0]} .. {have[-1]}, {len(have)} partitions); deliver its file or pick another partition"
        )
    return by_key[partition]


def _stage(
    loaded: LoadedDataset,
    paths: list[Path],
    files: list[SourceFile],
    corrections: Any,
    key: Any,
    staged: Path,
    root: Path,
    lookups: list[LookupFile],
) -> tuple[Path, list[SourceFile], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Read, convert, pseudonymise and correct the files into one staged Parquet; per-file row counts."""
    from pipelines.governance.pseudonym import pseudonymise
    from pipelines.models import corrections as fix

    spec = loaded.spec
    read = reading_spec(spec)  # derived columns are computed below, not read
    reshaped = bool(spec.enrich) or read is not spec  # row positions, paired files, lookups, derived columns
    with temp_files():  # transcoded copies of non-UTF-8 files live until the sink has read them
        scanned = scan_files(read, [(p, f.path, f.sha256) for p, f in zip(paths, files, strict=True)])
        frames = [typed(raw, read, schema) for raw, schema in scanned.frames]  # each file converted from its own types
        if reshaped:
            frames = [pair_by_position(with_file_row(f), spec, root, lookups) for f in frames]
        try:
            current = {f.path: f.sha256 for f in files}
            if spec.partitions is not None:  # a finding on a lineage key (`file#row`) belongs to its file's partition
                corrections = [c for c in corrections if not c.source_sha256 or c.row_key.rsplit("#", 1)[0] in current]
            rows = pl.concat(frames, how="diagonal_relaxed")  # by name: a file with short rows orders its columns differently
            if reshaped or any(c.map for c in spec.declared_columns):
                rows = derive(join_keyed(rows, spec, root, lookups), spec)
            rows = (
                pseudonymise(rows, spec.personal_columns, key) if key else rows
            )  # raw personal values never reach the warehouse
            lf, applied = fix.apply(rows, corrections, spec, current)
            lf.with_row_index(ROW_ID).sink_parquet(staged, row_group_size=STAGED_ROW_GROUP)
        except pl.exceptions.ComputeError as e:
            msg = parser_message(e)  # polars quotes the raw values it could not convert
            which = ", ".join(f"`{f.path}`" for f in files)
            hint = (
                "declare the file's `encoding` (`gb18030`, `utf8-sig`, ...), or `auto` to detect it"
                if "utf-8" in msg.lower() or "utf8" in msg.lower()
                else "check the file against the spec's `source` options"
            )
            raise SourceError(f"dataset `{spec.name}`: cannot read {which}: {msg}; {hint}") from None
    counts = dict(pl.scan_parquet(staged).group_by(SOURCE_FILE).len().collect().iter_rows())
    files = [SourceFile(f.path, f.sha256, f.size, int(counts.get(f.path, 0))) for f in files]
    return staged, files, applied, scanned.quarantined_files, scanned.drift
