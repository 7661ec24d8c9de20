"""Stage 3: split rows into published and quarantined, score the candidate, write it as an immutable version.

The version is written to a hidden temporary folder and renamed into `v<N>` in one step. A candidate
whose certification level is below the spec's `min_level` is kept (with its report) as a rejected
candidate: it gets a version folder with `status: rejected` and never becomes `latest`; so is a candidate
whose files do not read back as they were written (the X-1 gate, `quality.integrity`), whatever its `min_level`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random

from pipelines import __version__
from pipelines.errors import IntegrityError
from pipelines.governance import pseudonym
from pipelines.ingest.bad_files import file_counts
from pipelines.ingest.cast import conversion_text
from pipelines.ingest.enrich import column_origin
from pipelines.ingest.fingerprint import sha256_file
from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW
from pipelines.models.changelog import changelog, mark_new_corrections
from pipelines.quality.anomaly_findings import RULE_ID as ANOMALY_RULE
from pipelines.quality.anomaly_findings import measure as anomaly_measure
from pipelines.quality.explain import blocking_failures, gate_message
from pipelines.quality.integrity import file_measures, unreadable
from pipelines.quality.profile_measures import baseline
from pipelines.quality.results import Measure, make_measure
from pipelines.quality.scoring import Scorecard, meets, score
from pipelines.spec.expand import resolution_record
from pipelines.spec.loader import LoadedDataset
from pipelines.stages.history import version_findings
from pipelines.stages.ingest import Ingested
from pipelines.stages.publish_rows import FAILED_RULES, QC_FLAG, REASONS, WARN_RULES, write_rows
from pipelines.stages.validate import Validated
from pipelines.storage.commit import commit_quarantine, commit_record, landed
from pipelines.storage.delta import (
    PARTITION,
    PUBLISHED,
    QUARANTINE,
    TABLES,
    CommitConflict,
    current_version,
    history,
    in_table,
    of_table,
    table_rel,
)
from pipelines.warehouse import MANIFEST, QUALITY_DIR, Warehouse

MANIFEST_FORMAT = 3  # 3: the data and quarantine files are in the dataset's Delta tables (`../published/...`)
REPORT = f"{QUALITY_DIR}/report.html"


@dataclass
class Published:
    """The result of publishing: which version, whether it is new, its counts and its verdict."""

    dataset: str
    run_id: str
    version: int
    created: bool
    rows_in: int
    rows_published: int
    rows_quarantined: int
    rows_warned: int
    rules_passed: int
    rules_failed: int
    path: Path
    status: str = "published"  # or "rejected"
    level: str = "uncertified"
    score: float | None = None
    failed_gates: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # why the version has its level: the verdict, then each failed gate or measure
    blocked: str | None = None  # why failed dataset-level error rules rejected the version (see quality.explain)


def identifiability(files: list[Path], columns: list[str]) -> Measure:
    """I-1 (Idn-ML-1): values of declared personal columns, published or quarantined, that are pseudonyms."""
    found, total = 0, 0
    for f in files:
        i, n = pseudonym.identifiable(pl.scan_parquet(f), columns)
        found, total = found + i, total + n
    return make_measure("I-1", total - found, total, None, None)


def _write_version(loaded: LoadedDataset, v: Validated, tmp: Path, warehouse: Warehouse) -> tuple[dict[str, Any], Scorecard]:
    spec = loaded.spec
    data, held = table_file(tmp, PUBLISHED, "part-00000"), table_file(tmp, QUARANTINE, "quarantine")
    data_file = tmp / data
    rows = write_rows(loaded, v, tmp, data, held)
    quality = tmp / QUALITY_DIR
    quality.mkdir()
    assert v.ge_suite is not None and v.ge_result is not None and v.data_docs is not None
    for made in (v.ge_suite, v.ge_result, v.data_docs):  # written by validation (`stages.ge_share`)
        shutil.copyfile(made, quality / made.name)
    files = _file_list(tmp, rows.files)
    extra, details = file_measures(tmp, files, data, rows.rows_published)
    if spec.personal_columns and "moshu.accessibility" not in details:  # I-1 reads the files: only when they read back
        extra.append(("moshu.identifiability", identifiability([data_file, tmp / held], spec.personal_columns)))
    prof, demands, findings = None, [], None
    if "moshu.accessibility" not in details:  # the measures below read the published file: only when it reads back
        findings = version_findings(loaded, warehouse, data_file)  # None unless the spec has `anomalies`
        if findings is not None:
            extra.append((ANOMALY_RULE, anomaly_measure(findings)))
        prof, measured, found = baseline(spec, data_file, v.outcomes)
        extra, details = extra + measured, {**details, **found}
        demands = measure_demands(loaded, data_file)
    card = score(v.outcomes, extra, details)
    body = {
        "demands": demands,
        "counts": rows.counts,
        "quarantine_summary": rows.quarantine_summary,
        "files": files,
        "profile": prof,
        **({"anomalies": findings} if findings is not None else {}),
    }
    return body, card


def measure_demands(loaded: LoadedDataset, data: Path | str | list[str]) -> list[dict[str, Any]]:
    """Every demand of the dataset measured on a version's published data (a file, a glob or a list of files)."""
    from pipelines.models.stage import measured

    return [measured(pl.scan_parquet(data), d) for d in loaded.demands]


def manifest_for(
    loaded: LoadedDataset, ing: Ingested, v: Validated, card: Scorecard, body: dict[str, Any], *, version: int, status: str,
    parent: int | None,
) -> dict[str, Any]:  # fmt: skip
    """The manifest of a new version (without its changelog and file list, added once the folder is complete)."""
    spec = loaded.spec
    return {
        "manifest_format": MANIFEST_FORMAT,
        "dataset": spec.name,
        "version": version,
        "status": status,
        "parent_version": parent,
        "data_hash": ing.data_hash,
        "spec_data_hash": loaded.spec_data_hash,
        "spec_metadata_hash": loaded.spec_metadata_hash,
        "rules_hash": loaded.rules_hash,
        "code_version": f"moshu {__version__}",
        "run_id": ing.run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "synthetic": spec.synthetic.model_dump() if spec.synthetic else None,
        "schema": [
            {
                "name": c.name,
                "dtype": c.dtype,
                "unit": c.unit,
                "nullable": c.nullable,
                "role": c.role,
                "description": c.description,
                "source": c.source_name,
                "sensitivity": spec.sensitivity(c.name),
                "pseudonymised": spec.sensitivity(c.name) == "personal",
                "source_unit": c.source_unit,
                "unit_conversion": conversion_text(c),
                "timezone": c.timezone,
                **column_origin(spec, c),  # `expr`, `map`, `enriched_from`: how a column not read as is was made
            }
            for c in spec.published_columns
        ],
        "classification": spec.classification.model_dump(mode="json"),
        "pseudonymisation": (
            {"columns": spec.personal_columns, "method": pseudonym.METHOD, "key_id": ing.pseudonym_key_id}
            if spec.personal_columns
            else None
        ),
        "primary_key": list(spec.primary_key),
        "source_files": [f.__dict__ for f in ing.files],
        "rules": [o.as_dict() for o in v.outcomes],
        "quality": {**card.as_dict(), "min_level": spec.min_level},
        "ge": {
            "success": v.ge_success,
            "suite": f"{QUALITY_DIR}/ge_suite.json",
            "validation": f"{QUALITY_DIR}/ge_validation.json",
            "data_docs": f"{QUALITY_DIR}/data_docs.html",
        },
        "report": REPORT,
        "corrections": ing.corrections,
        # Files set aside whole by `source.on_bad_file` or `source.drift: quarantine_file` (their rows are not in
        # rows_in; files in = files read + files set aside), and every file's difference from the spec's columns.
        "quarantined_files": ing.quarantined_files,
        "file_counts": file_counts([f.path for f in ing.files], ing.quarantined_files),
        "drift": ing.drift,
        # The `enrich` files read, and how many values each `map` entry respelled (only when the spec has them).
        **({"lookup_files": ing.lookup_files} if ing.lookup_files else {}),
        **({"mapped_values": ing.mapped_values} if ing.mapped_values else {}),
        **resolution_record(loaded.groups, loaded.selections),
        **body,
    }


def _write_report(tmp: Path, manifest: dict[str, Any], title: str, warehouse: Warehouse) -> None:
    from pipelines.report import html

    name = manifest["dataset"]
    history = []
    for n in warehouse.versions(name):
        m = warehouse.manifest(name, n)
        history.append((n, m.get("quality", {}).get("overall"), m.get("status", "published")))
    history.append((manifest["version"], manifest["quality"]["overall"], manifest["status"]))
    try:
        held = [tmp / f["path"] for f in manifest.get("files", []) if of_table(str(f["path"]), QUARANTINE)]
        sample = pl.scan_parquet(held).select(SOURCE_FILE, SOURCE_ROW, FAILED_RULES, REASONS).head(50).collect().to_dicts()
    except Exception:  # a quarantine file that does not read back: X-1 fails the version and says why
        sample = []
    (tmp / REPORT).write_text(html.render(manifest, title, history, sample), encoding="utf-8")


def file_entry(folder: Path, rel: str) -> dict[str, Any]:
    """The manifest's record of one file of a version folder: path, sha256 and size."""
    p = folder / rel
    return {"path": rel, "sha256": sha256_file(p), "bytes": p.stat().st_size}


def _file_list(tmp: Path, known: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:  # type: ignore[assignment]
    """The version's table files among `known`, then every file of the version folder but the manifest, with sha256
    and size; `known` entries are not hashed again."""
    done = {f["path"]: f for f in known}
    out = [f for f in known if in_table(f["path"]) is not None]  # the version's files in the Delta tables beside it
    for p in sorted(tmp.rglob("*")):
        if not p.is_file() or p.name == MANIFEST:
            continue
        rel = p.relative_to(tmp).as_posix()
        out.append(done.get(rel) or file_entry(tmp, rel))
    return out


def close_crash_windows(warehouse: Warehouse, name: str, run_id: str) -> None:
    """Before publishing: register the dataset's committed folders a stopped run left without catalog rows and remove
    its orphan staging and temporary folders (`pipelines.governance.repair`); a failure is logged, never raised."""
    from pipelines.governance.repair import repair

    try:
        for line in repair(warehouse, name, keep_run=run_id, by_age=False):  # another process's live run may be quiet
            logging.getLogger(__name__).warning("dataset `%s`: %s", name, line)
    except Exception as e:  # the run itself must not fail over what a stopped run left
        logging.getLogger(__name__).warning("dataset `%s`: could not close a stopped run's leftovers: %s", name, e)


def unchanged_result(loaded: LoadedDataset, v: Validated, warehouse: Warehouse) -> Published:
    """The result of a run whose inputs the latest version already holds."""
    assert v.ingested.unchanged_version is not None
    close_crash_windows(warehouse, loaded.spec.name, v.ingested.run_id)
    return published_of(warehouse, loaded.spec.name, v.ingested.unchanged_version, v.ingested.run_id, created=False)


def published_of(warehouse: Warehouse, name: str, n: int, run_id: str, *, created: bool) -> Published:
    """A version's publish result, read back from its manifest."""
    m = warehouse.manifest(name, n)
    c, rs, qual = m["counts"], m.get("rules", []), m.get("quality", {})
    return Published(
        name, run_id, n, created, c["rows_in"], c["rows_published"], c["rows_quarantined"], c.get("rows_warned", 0),
        sum(r["passed"] for r in rs), sum(not r["passed"] for r in rs), warehouse.version_dir(name, n),
        m.get("status", "published"), qual.get("level", "uncertified"), qual.get("overall"), tuple(qual.get("failed_gates", [])),
        tuple(qual.get("reasons", [])),
        gate_message(name, rs, n) if m.get("status") == "rejected" else None,
    )  # fmt: skip


def publish(loaded: LoadedDataset, v: Validated, warehouse: Warehouse) -> Published:
    """Publish a new version (or rejected candidate), or report the unchanged latest one.

    A failed error-severity dataset-level rule cannot quarantine rows: the version is written as a rejected
    candidate, with its report, and `Published.blocked` says why (the runner then fails the run with it).

    Raises:
        CountMismatchError: rows were lost or duplicated (nothing is written).
    """
    spec = loaded.spec
    ing = v.ingested
    if ing.unchanged:
        return unchanged_result(loaded, v, warehouse)
    if ing.staged is None or not ing.staged.is_file():
        raise IntegrityError(
            f"dataset `{spec.name}`: the staged data of run `{ing.run_id}` is gone; materialize the whole dataset (raw -> catalog) in one run"
        )

    def build(tmp: Path, version: int, parent: int | None, last: int | None) -> tuple[dict[str, Any], Scorecard]:
        body, card = _write_version(loaded, v, tmp, warehouse)
        blocked = blocking_failures([o.as_dict() for o in v.outcomes])
        empty = body["counts"]["rows_published"] == 0  # an empty version never becomes latest (counted as written)
        readable = not unreadable(card.failed_gates)
        status = "published" if meets(card.level, spec.min_level) and not blocked and not empty and readable else "rejected"
        return manifest_for(loaded, ing, v, card, body, version=version, status=status, parent=parent), card

    try:
        pub = write_new_version(loaded, warehouse, ing.data_hash, ing.run_id, build)
    except SameInputs as same:
        return published_of(warehouse, spec.name, same.version, ing.run_id, created=False)
    if pub.created and pub.rows_published == 0 and pub.blocked is None:
        files = ", ".join(f"`{f.path}`" for f in ing.files) if ing.files else "its files"
        blocked = (
            f"dataset `{spec.name}`: no row of {files} can be published ({pub.rows_in:,} rows in, "
            f"{pub.rows_quarantined:,} quarantined), so v{pub.version} is kept as a rejected candidate and nothing "
            f"became latest; `moshu report {spec.name}@{pub.version}` shows the rules the rows failed"
        )
        pub = dataclasses.replace(pub, blocked=blocked)
    return pub


def table_file(tmp: Path, table: str, stem: str, partition: str | None = None) -> str:
    """Where a version being written puts one of its table files, as a path relative to its folder `tmp`:
    `../published/v<N>/<stem>-<attempt>.parquet`, or `../published/_partition=<key>/v<N>-<stem>-<attempt>.parquet`.

    The attempt's token (from `tmp`'s name) keeps two writers of the same version number from ever writing the
    same file: only the one whose commit wins is named by the table.
    """
    version, token = _attempt(tmp)
    if partition is None:
        return table_rel(table, f"v{version}/{stem}-{token}.parquet")
    return table_rel(table, f"{PARTITION}={partition}/v{version}-{stem}-{token}.parquet")


def _attempt(tmp: Path) -> tuple[int, str]:
    """(version, attempt token) of a temporary version folder `.tmp-v<N>-<token>`."""
    head, token = tmp.name.rsplit("-", 1)
    return int(head.removeprefix(".tmp-v")), token


Builder = Callable[[Path, int, "int | None", "int | None"], tuple[dict[str, Any], Scorecard]]
_ATTEMPTS = 8  # builds on top of a concurrent writer's commit before giving up


def write_new_version(
    loaded: LoadedDataset, warehouse: Warehouse, data_hash: str | None, run_id: str, build: Builder
) -> Published:
    """Number the version, let `build(tmp, version, parent, last)` write its table files and fill a hidden folder
    and return its manifest, add the changelog, report and file list, commit it to the dataset's Delta tables
    (`pipelines.storage.delta`), and rename the folder into place as `v<N>`.

    The commit is optimistic: when another writer (another process or machine) committed to the table after this
    run read it, everything this attempt wrote is removed and the version is built again on the newer state.
    `data_hash`, when given, is compared with the latest version's to catch a concurrent run of the same inputs.
    """
    spec = loaded.spec
    close_crash_windows(warehouse, spec.name, run_id)
    for attempt in Retrying(
        retry=retry_if_exception_type(CommitConflict), stop=stop_after_attempt(_ATTEMPTS), wait=wait_random(0, 0.2), reraise=True
    ):
        with attempt, warehouse.dataset_lock(spec.name):
            manifest, card, final = _attempt_version(loaded, warehouse, data_hash, build)
    c, rules = manifest["counts"], manifest["rules"]
    version = manifest["version"]
    return Published(
        spec.name, run_id, version, True, c["rows_in"], c["rows_published"], c["rows_quarantined"], c["rows_warned"],
        sum(r["passed"] for r in rules), sum(not r["passed"] for r in rules), final, manifest["status"], card.level,
        card.overall, tuple(card.failed_gates), tuple(card.reasons),
        gate_message(spec.name, rules, version) if manifest["status"] == "rejected" else None,
    )  # fmt: skip


def _attempt_version(
    loaded: LoadedDataset, warehouse: Warehouse, data_hash: str | None, build: Builder
) -> tuple[dict[str, Any], Scorecard, Path]:
    """One attempt of `write_new_version`: build on the table's state as read now, and commit on top of it."""
    spec = loaded.spec
    name = spec.name
    if warehouse.remote:  # this folder is a copy of the remote tables: bring it up to date first
        from pipelines.storage.mirror import pull_dataset

        pull_dataset(warehouse, name)
    table = warehouse.table(name, PUBLISHED)
    read_version = current_version(table)
    last = warehouse.latest_candidate(name)
    committed = max((c.version for c in history(table, manifests=False)), default=None) if read_version is not None else None
    if committed is not None and (last is None or committed > last):  # its folder is not in place (a stopped run)
        raise IntegrityError(
            f"dataset `{name}`: v{committed} is committed to its Delta table but its folder is not in place; "
            "run `moshu verify --repair`, which restores it, then run again"
        )
    if read_version is None and last is not None:
        raise IntegrityError(
            f"dataset `{name}`: {warehouse.dataset_dir(name)} holds versions written before the Delta tables; "
            "run `moshu migrate` once to move them into the tables"
        )
    if data_hash and last is not None and warehouse.manifest(name, last).get("data_hash") == data_hash:
        raise SameInputs(last)  # a concurrent run (here or on another machine) published these inputs first
    version = (last or 0) + 1
    ddir = warehouse.dataset_dir(name)
    ddir.mkdir(parents=True, exist_ok=True)
    tmp = ddir / f".tmp-v{version}-{uuid.uuid4().hex[:8]}"
    try:
        parent = warehouse.latest(name)
        manifest, card = build(tmp, version, parent, last)
        parent_manifest = warehouse.manifest(name, parent) if parent else None
        mark_new_corrections(parent_manifest, manifest["corrections"])
        manifest["changelog"] = changelog(parent_manifest, manifest)
        _write_report(tmp, manifest, spec.title, warehouse)
        manifest["files"] = _file_list(tmp, manifest["files"])  # data files hashed once, at scoring
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        try:
            commit_record(warehouse, name, manifest, read_version)
        except CommitConflict:
            raise
        except BaseException:
            if not landed(warehouse, name, manifest):
                raise
    except BaseException:
        discard_attempt(tmp)  # nothing of this attempt is committed
        raise
    # Committed: from here on nothing is removed. A failure below leaves the `.tmp-v<N>-*` folder, which
    # `moshu verify --repair` (and the next run) renames into place, committing the quarantine if it is missing.
    commit_quarantine(warehouse, name, manifest)
    final = warehouse.version_dir(name, version)
    os.rename(tmp, final)
    if warehouse.remote:  # the version's pages beside its commit, and the new commits in this folder's copy
        from pipelines.storage.mirror import pull_dataset, push_version

        push_version(warehouse, name, version)
        pull_dataset(warehouse, name)
    return manifest, card, final


class SameInputs(Exception):
    """The latest version, made by a concurrent run, holds the inputs this run was about to publish."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def discard_attempt(tmp: Path) -> None:
    """Remove what a failed (or stopped) attempt wrote: its folder, and the table files it wrote (named after its token)."""
    _, token = _attempt(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    for table in TABLES:
        for p in (tmp.parent / table).glob(f"**/*{token}.parquet"):
            p.unlink(missing_ok=True)


__all__ = ["FAILED_RULES", "QC_FLAG", "REASONS", "WARN_RULES", "Published", "publish"]
