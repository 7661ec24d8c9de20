"""Stage 3 for a time-partitioned dataset: a new version from the partitions a run rebuilt plus every
other partition of the latest version, untouched.

Each rebuilt partition writes its own files (`data/part-<key>.parquet`, `quarantine-<key>.parquet`,
`quality/partitions/<key>/`); the partitions the run did not rebuild are hard-linked from the latest
version (copied where the file system cannot link), so their bytes are never rewritten. The manifest
lists every partition with the version and run that built it, its inputs' hash, counts and rule
outcomes. The version's outcomes combine its partitions': row-rule counts add up exactly; a
dataset-level rule holds when it holds on every partition, and reports its worst partition.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipelines.errors import IntegrityError
from pipelines.ingest.enrich import merged_enrichment
from pipelines.ingest.fingerprint import SourceFile
from pipelines.partitions import WINDOW_RULE, file_tag
from pipelines.quality.anomaly_findings import RULE_ID as ANOMALY_RULE
from pipelines.quality.anomaly_findings import measure as anomaly_measure
from pipelines.quality.explain import blocking_failures
from pipelines.quality.field_count import field_count_rule
from pipelines.quality.integrity import file_measures, unreadable
from pipelines.quality.profile_measures import baseline
from pipelines.quality.registry import executor_for
from pipelines.quality.results import Measure, RuleOutcome, make_measure
from pipelines.quality.scoring import Scorecard, meets, score
from pipelines.spec.loader import LoadedDataset
from pipelines.stages.history import partition_findings
from pipelines.stages.ingest import Ingested
from pipelines.stages.publish import (
    Published,
    file_entry,
    identifiability,
    manifest_for,
    measure_demands,
    published_of,
    table_file,
    unchanged_result,
    write_new_version,
)
from pipelines.stages.publish_rows import write_rows
from pipelines.stages.validate import Validated, all_rules, context
from pipelines.storage.delta import PUBLISHED, QUARANTINE, in_table
from pipelines.warehouse import QUALITY_DIR, Warehouse

PARTITIONS_DIR = f"{QUALITY_DIR}/partitions"


def publish_partitions(loaded: LoadedDataset, vals: list[Validated], warehouse: Warehouse) -> Published:
    """Publish the partitions of one run as a new version, or report the latest one when none changed.

    A version whose partitions fail an error-severity dataset-level rule is written as a rejected candidate
    (`Published.blocked` says why; the caller fails the run after registering it), as for a dataset without
    partitions.

    Raises:
        IntegrityError: a kept partition was built another way (spec, rules, master data, key: rebuild them
            all), or a concurrent run rebuilt one of this run's partitions after this run read its files.
        CountMismatchError: a partition's rows were lost or duplicated.
    """
    spec = loaded.spec
    changed = [v for v in vals if not v.ingested.unchanged]
    if not changed:
        return unchanged_result(loaded, vals[0], warehouse)
    for v in changed:
        if v.ingested.staged is None or not v.ingested.staged.is_file():
            raise IntegrityError(
                f"dataset `{spec.name}`: the staged data of partition `{v.ingested.partition}` is gone; run it again"
            )

    def build(tmp: Path, version: int, parent: int | None, last: int | None) -> tuple[dict[str, Any], Scorecard]:
        base = warehouse.manifest(spec.name, last) if last is not None else {}
        records = {r["key"]: r for r in base.get("partitions", [])}
        todo = []
        for v in changed:
            held = records.get(v.ingested.partition, {}).get("data_hash")
            if held == v.ingested.data_hash:
                continue  # a concurrent run published the same inputs already: nothing to redo
            if held != v.ingested.partition_seen:
                raise IntegrityError(
                    f"dataset `{spec.name}`: partition `{v.ingested.partition}` was rebuilt by a concurrent run (v{last}) "
                    "after this run read its files; run it again so the newer files win"
                )
            todo.append(v)
        if not todo:
            raise _NothingNew(last)
        keys = {v.ingested.partition for v in todo}
        kept = {k: r for k, r in records.items() if k not in keys}
        now = basis(loaded, changed[0].ingested.pseudonym_key_id)  # one key per run: the same for every partition
        _check_consistent(loaded, kept, last, now)
        for r in kept.values():  # the kept partitions' rows stay in the tables untouched; their pages are linked
            pages = [f for f in r["files"] if in_table(f["path"]) is None]
            gone = [f for f in pages if not (warehouse.version_dir(spec.name, last) / f["path"]).is_file()]  # type: ignore[arg-type]
            if gone and warehouse.remote:  # pages another machine has not uploaded (yet): the rows are what counts
                r["files"] = [f for f in r["files"] if f not in gone]
            for f in pages:
                if f not in gone or not warehouse.remote:
                    _link(warehouse.version_dir(spec.name, last) / f["path"], tmp / f["path"], r["key"])  # type: ignore[arg-type]
        built = {v.ingested.partition: _write_partition(loaded, v, tmp, version, now) for v in todo}
        parts = [r for _, r in sorted({**kept, **built}.items())]
        return _version_manifest(loaded, todo, parts, tmp, version=version, parent=parent)

    try:
        return write_new_version(loaded, warehouse, None, changed[0].ingested.run_id, build)
    except _NothingNew as done:
        return published_of(warehouse, spec.name, done.version, changed[0].ingested.run_id, created=False)


class _NothingNew(Exception):
    """Every partition a run rebuilt was published with the same inputs by a concurrent run."""

    def __init__(self, version: int | None) -> None:
        super().__init__(version)
        assert version is not None
        self.version = version


def basis(loaded: LoadedDataset, pseudonym_key_id: str | None) -> str:
    """What a partition's rows were checked and written with: spec, rules, master data and pseudonymisation key."""
    from pipelines.publish.fingerprint import master_hashes

    payload = [loaded.spec_data_hash, loaded.rules_hash, master_hashes(loaded), pseudonym_key_id]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def _check_consistent(loaded: LoadedDataset, kept: dict[str, dict[str, Any]], last: int | None, now: str) -> None:
    """A version holds partitions checked and written one way: one spec, rule set, master data and key."""
    stale = sorted(k for k, r in kept.items() if r.get("basis") != now)
    if not stale:
        return
    shown = ", ".join(stale[:5]) + (" ..." if len(stale) > 5 else "")
    from pipelines.ingest.readers import resolve_files
    from pipelines.partitions import files_by_partition

    try:
        have = set(
            files_by_partition(
                loaded.spec, loaded.spec_path.parent.parent, resolve_files(loaded.spec, loaded.spec_path.parent.parent)
            )
        )
    except Exception:  # no raw files at all, or a misnamed one: then none can be rebuilt
        have = set()
    gone = [k for k in stale if k not in have]
    fix = (
        f"rebuild them all (`moshu run {loaded.name}`, or a backfill over every partition)"
        if not gone
        else f"partitions {', '.join(gone[:5])} have no raw files any more, so they cannot be rebuilt: restore their files "
        "(e.g. from the landing archive) and run them, or keep the spec, rules, master data and key they were built with"
    )
    raise IntegrityError(
        f"dataset `{loaded.name}`: partitions {shown} of v{last} were built with another spec, rule set, master data or "
        f"pseudonymisation key, and a version must not mix them with this run's; {fix}"
    )


def _link(src: Path, dst: Path, key: str) -> None:
    """The same bytes at `dst`: a hard link, or a copy where the file system cannot link."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not src.is_file():
        raise IntegrityError(
            f"file `{src}` of partition `{key}` is missing from the version that holds it; run `moshu verify` and restore it"
        )
    try:
        os.link(src, dst)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(src, dst)


def _write_partition(loaded: LoadedDataset, v: Validated, tmp: Path, version: int, how: str) -> dict[str, Any]:
    """Write one rebuilt partition's files; its record for the manifest (`how`: its `basis`)."""

    ing = v.ingested
    assert ing.partition is not None and v.ge_result is not None and v.data_docs is not None
    tag = file_tag(ing.partition)
    data, quarantine = table_file(tmp, PUBLISHED, "part", tag), table_file(tmp, QUARANTINE, "quarantine", tag)
    qdir = f"{PARTITIONS_DIR}/{tag}"
    rows = write_rows(loaded, v, tmp, data, quarantine)
    (tmp / qdir).mkdir(parents=True)
    shutil.copyfile(v.ge_result, tmp / qdir / "ge_validation.json")
    shutil.copyfile(v.data_docs, tmp / qdir / "data_docs.html")  # rendered by validation for quality/partitions/<tag>/
    files = [*rows.files, *(file_entry(tmp, rel) for rel in (f"{qdir}/ge_validation.json", f"{qdir}/data_docs.html"))]
    measures, details = file_measures(tmp, files, data, rows.rows_published)
    personal = loaded.spec.personal_columns
    if personal and "moshu.accessibility" not in details:  # I-1 reads the files: only when they read back
        measures.append(("moshu.identifiability", identifiability([tmp / data, tmp / quarantine], personal)))
    return {
        "key": ing.partition,
        "data_hash": ing.data_hash,
        "spec_data_hash": loaded.spec_data_hash,
        "rules_hash": loaded.rules_hash,
        "basis": how,
        "pseudonym_key_id": ing.pseudonym_key_id,
        "built_in_version": version,
        "run_id": ing.run_id,
        "source_files": [f.__dict__ for f in ing.files],
        "counts": rows.counts,
        "quarantine_summary": rows.quarantine_summary,
        "rules": [o.as_dict() for o in v.outcomes],
        "ge_success": v.ge_success,
        "measures": {rid: [m.clause, m.a, m.b] for rid, m in measures},
        **({"measure_details": details} if details else {}),  # what a failing X-1 or U-1 found
        "corrections": ing.corrections,
        "quarantined_files": ing.quarantined_files,
        "drift": ing.drift,
        "files": files,
        **({"lookup_files": ing.lookup_files} if ing.lookup_files else {}),
        **({"mapped_values": ing.mapped_values} if ing.mapped_values else {}),
    }


def _combined_hash(parts: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(sorted((p["key"], p["data_hash"]) for p in parts)).encode()).hexdigest()


def combine_outcomes(loaded: LoadedDataset, parts: list[dict[str, Any]]) -> list[RuleOutcome]:
    """One outcome per rule over all partitions: row-rule counts summed (measures recomputed from them);
    a dataset-level rule's outcome is its worst partition's (failed, else lowest X), a time-dependent
    one's (freshness) its newest partition's."""
    ctx = context(loaded)
    rules = {r.id: r for r in [*all_rules(loaded), field_count_rule()]}  # `schema.fields`: partitions with short rows
    by_rule: dict[str, list[tuple[str, RuleOutcome]]] = {}
    for p in parts:
        for d in p["rules"]:
            by_rule.setdefault(d["rule_id"], []).append((p["key"], RuleOutcome.from_dict(d)))
    out = []
    for rid, items in by_rule.items():
        first = items[0][1]
        evaluated = sum(o.evaluated for _, o in items)
        if first.engine == "pandera" and rid in rules:
            rule = rules[rid]
            failed, suspect = sum(o.failed for _, o in items), sum(o.suspect for _, o in items)
            samples = [(s, w) for _, o in items for s, w in zip(o.samples, o.sample_rows, strict=False)][:5]
            combined = replace(
                first, description=rule.description, params=first.params if rid != WINDOW_RULE else "per partition",
                evaluated=evaluated, failed=failed, suspect=suspect,
                measures=tuple(executor_for(rule).measures(rule, ctx, evaluated, failed, suspect)),
                samples=tuple(s for s, _ in samples), sample_rows=tuple(w for _, w in samples),
            )  # fmt: skip
        else:
            if rid in rules and getattr(executor_for(rules[rid]), "time_dependent", False):
                key, worst = max(items, key=lambda kv: kv[0])  # freshness: the newest partition says how fresh the data is
            else:
                key, worst = min(
                    items, key=lambda kv: (kv[1].passed, min((m.x if m.x is not None else 1.0) for m in kv[1].measures))
                )
            observed = f"{key}: {worst.observed}" if len(items) > 1 and worst.observed is not None else worst.observed
            combined = replace(worst, evaluated=evaluated, failed=max(o.failed for _, o in items), suspect=0, observed=observed)
        out.append(combined)
    return out


def _sum_measures(parts: list[dict[str, Any]]) -> list[tuple[str, Measure]]:
    sums: dict[str, tuple[str, float, float]] = {}
    for p in parts:
        for rid, (clause, a, b) in p["measures"].items():
            _, sa, sb = sums.get(rid, (clause, 0.0, 0.0))
            sums[rid] = (clause, sa + (a or 0), sb + (b or 0))
    return [(rid, make_measure(clause, a, b, None, None)) for rid, (clause, a, b) in sums.items()]


def _measure_details(parts: list[dict[str, Any]]) -> dict[str, str]:
    """What each failing measure of X-1, U-1 found, per partition (`<key>: <detail>`, joined)."""
    out: dict[str, list[str]] = {}
    for p in parts:
        for rid, detail in p.get("measure_details", {}).items():
            out.setdefault(rid, []).append(f"{p['key']}: {detail}")
    return {rid: " | ".join(found) for rid, found in out.items()}


def _merged_corrections(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Corrections as applied across partitions: one record per finding, rows affected summed.

    Every partition sees every finding on a primary key, and applies it only where the row is: the
    record kept is one that applied (its old and new values are the row's), else one that found no
    row, else one skipped because the row's file changed.
    """
    by_id: dict[Any, list[dict[str, Any]]] = {}
    for p in parts:
        for c in p["corrections"]:
            by_id.setdefault(c["feedback_id"], []).append(c)
    out = []
    for records in by_id.values():
        best = min(records, key=lambda c: (c["rows_affected"] == 0, "skipped" in c))
        out.append({**best, "rows_affected": sum(c["rows_affected"] for c in records)})
    return sorted(out, key=lambda c: str(c["feedback_id"]).zfill(12))


def _version_manifest(
    loaded: LoadedDataset, changed: list[Validated], parts: list[dict[str, Any]], tmp: Path, *, version: int, parent: int | None
) -> tuple[dict[str, Any], Scorecard]:
    spec = loaded.spec
    ing0 = changed[0].ingested
    assert changed[0].ge_suite is not None
    (tmp / QUALITY_DIR).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(changed[0].ge_suite, tmp / QUALITY_DIR / "ge_suite.json")
    outcomes = combine_outcomes(loaded, parts)
    failing = _measure_details(parts)
    measured: list[tuple[str, Measure]] = []
    prof, details, findings, demands = None, failing, None, []
    if "moshu.accessibility" not in failing:  # the measures below read the published files: only when they read back
        data = {p["key"]: tmp / p["files"][0]["path"] for p in parts}  # None below unless the spec has `anomalies`
        findings = partition_findings(loaded, data, [v.ingested.partition for v in changed if v.ingested.partition])
        every = [str(f) for f in data.values()]
        prof, measured, found = baseline(spec, every, outcomes)
        details = {**failing, **found}
        demands = measure_demands(loaded, every)
    anomaly = [(ANOMALY_RULE, anomaly_measure(findings))] if findings is not None else []
    card = score(outcomes, _sum_measures(parts) + measured + anomaly, details)
    counts = {k: sum(p["counts"][k] for p in parts) for k in ("rows_in", "rows_published", "rows_quarantined", "rows_warned")}
    summary: dict[tuple[str, str], int] = {}
    for p in parts:
        for q in p["quarantine_summary"]:
            summary[(q["rule_id"], q["severity"])] = summary.get((q["rule_id"], q["severity"]), 0) + q["rows"]
    ing = Ingested(
        spec.name, ing0.run_id, ing0.started_at, [SourceFile(**f) for p in parts for f in p["source_files"]],
        _combined_hash(parts), rows_in=counts["rows_in"], corrections=_merged_corrections(parts),
        pseudonym_key_id=ing0.pseudonym_key_id, quarantined_files=[f for p in parts for f in p["quarantined_files"]],
        drift=[d for p in parts for d in p["drift"]], **merged_enrichment(parts),
    )  # fmt: skip
    ge_success = all(p["ge_success"] for p in parts)
    body = {
        "demands": demands,
        **({"anomalies": findings} if findings is not None else {}),
        "counts": counts,
        "quarantine_summary": [
            {"rule_id": r, "rows": n, "severity": s} for (r, s), n in sorted(summary.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ],
        "files": [f for p in parts for f in p["files"]],
        "profile": prof,
    }
    # A failed dataset-level error rule (on a rebuilt or a kept partition) cannot quarantine rows: a rejected candidate.
    blocked = blocking_failures([o.as_dict() for o in outcomes])
    status = (
        "published" if meets(card.level, spec.min_level) and not blocked and not unreadable(card.failed_gates) else "rejected"
    )
    v = Validated(ingested=ing, outcomes=outcomes, ge_success=ge_success)
    manifest = manifest_for(loaded, ing, v, card, body, version=version, status=status, parent=parent)
    manifest["ge"] = {
        "success": ge_success,
        "suite": f"{QUALITY_DIR}/ge_suite.json",
        "validation": None,  # one per partition: `partitions[].files`
        "data_docs": None,
    }
    manifest["partitioning"] = spec.partitions.model_dump(mode="json") if spec.partitions else None
    manifest["partitions"] = parts
    return manifest, card
