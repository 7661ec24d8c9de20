"""Stage 3: split rows into published and quarantined, write an immutable version, rename it into place."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
from filelock import FileLock

from pipelines import __version__
from pipelines.errors import CountMismatchError, IntegrityError, QualityGateError
from pipelines.ingest.fingerprint import sha256_file
from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW
from pipelines.quality.kinds import POLARS_DTYPES, Context
from pipelines.quality.registry import executor_for
from pipelines.spec.loader import LoadedDataset
from pipelines.stages.ingest import ROW_ID
from pipelines.stages.validate import Validated, all_rules
from pipelines.warehouse import DATA_DIR, MANIFEST, QUALITY_DIR, QUARANTINE_FILE, Warehouse

WARN_RULES = "_warn_rules"
FAILED_RULES = "_failed_rules"
REASONS = "_reasons"
MANIFEST_FORMAT = 1


@dataclass
class Published:
    """The result of publishing: which version, whether it is new, and its row counts."""

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


def _code_version() -> str:
    return f"moshu {__version__}"


def _per_row(failures: pl.LazyFrame, severity: Mapping[str, str]) -> pl.LazyFrame:
    sev = pl.DataFrame({"rule_id": list(severity), "severity": list(severity.values())}).lazy()
    f = failures.join(sev, on="rule_id", how="left")
    return f.group_by(ROW_ID).agg(
        pl.col("rule_id").filter(pl.col("severity") == "error").unique().sort().alias(FAILED_RULES),
        pl.col("rule_id").filter(pl.col("severity") == "warn").unique().sort().alias(WARN_RULES),
    )


def _write_version(loaded: LoadedDataset, v: Validated, tmp: Path) -> dict[str, Any]:
    spec = loaded.spec
    ctx = Context(spec)
    ing = v.ingested
    assert ing.staged is not None and v.failures is not None
    rules = all_rules(loaded)
    severity = {r.id: r.severity for r in rules}
    staged = pl.scan_parquet(ing.staged)
    per_row = _per_row(pl.scan_parquet(v.failures), severity)
    joined = staged.join(per_row, on=ROW_ID, how="left", maintain_order="left").with_columns(
        pl.col(FAILED_RULES).fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.col(WARN_RULES).fill_null(pl.lit([], dtype=pl.List(pl.String))),
    )
    cols = spec.column_names
    bad = pl.col(FAILED_RULES).list.len() > 0
    (tmp / DATA_DIR).mkdir(parents=True)
    data_file = tmp / DATA_DIR / "part-00000.parquet"
    joined.filter(~bad).select([*cols, WARN_RULES, SOURCE_FILE, SOURCE_ROW]).sink_parquet(data_file)

    quarantined = joined.filter(bad).collect()
    error_rules = [r for r in rules if r.severity == "error" and executor_for(r).engine == "pandera"]
    reasons = [
        pl.when(pl.col(FAILED_RULES).list.contains(r.id)).then(pl.format("{}: {}", pl.lit(r.id), executor_for(r).reason(r, ctx)))
        for r in error_rules
    ]
    q = quarantined.with_columns(
        (pl.concat_list(reasons).list.drop_nulls() if reasons else pl.lit([], dtype=pl.List(pl.String))).alias(REASONS)
    ).select([*cols, FAILED_RULES, REASONS, WARN_RULES, SOURCE_FILE, SOURCE_ROW])
    q = q.cast({c.name: POLARS_DTYPES[c.dtype] for c in spec.columns})
    q.write_parquet(tmp / QUARANTINE_FILE)

    rows_published = pq.ParquetFile(data_file).metadata.num_rows
    rows_quarantined = q.height
    rows_warned = joined.filter(~bad & (pl.col(WARN_RULES).list.len() > 0)).select(pl.len()).collect().item()
    if ing.rows_in != rows_published + rows_quarantined:
        raise CountMismatchError(
            f"dataset `{spec.name}`: rows_in={ing.rows_in} but published={rows_published} + "
            f"quarantined={rows_quarantined} = {rows_published + rows_quarantined}; nothing was published"
        )
    quarantine_summary = (
        q.select(pl.col(FAILED_RULES).explode().alias("rule_id")).drop_nulls().group_by("rule_id").len().sort("rule_id").rows()
    )
    warn_summary = (
        joined.filter(~bad)
        .select(pl.col(WARN_RULES).explode().alias("rule_id"))
        .drop_nulls()
        .group_by("rule_id")
        .len()
        .sort("rule_id")
        .collect()
        .rows()
    )
    quality = tmp / QUALITY_DIR
    quality.mkdir()
    assert v.ge_suite is not None and v.ge_result is not None
    shutil.copyfile(v.ge_suite, quality / v.ge_suite.name)
    shutil.copyfile(v.ge_result, quality / v.ge_result.name)
    files = [
        {"path": p.relative_to(tmp).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(tmp.rglob("*"))
        if p.is_file()
    ]
    return {
        "counts": {
            "rows_in": ing.rows_in,
            "rows_published": rows_published,
            "rows_quarantined": rows_quarantined,
            "rows_warned": rows_warned,
        },
        "quarantine_summary": [{"rule_id": r, "rows": n, "severity": "error"} for r, n in quarantine_summary]
        + [{"rule_id": r, "rows": n, "severity": "warn"} for r, n in warn_summary],
        "files": files,
    }


def publish(loaded: LoadedDataset, v: Validated, warehouse: Warehouse) -> Published:
    """Publish a new version, or report the unchanged latest one.

    The version is written to a hidden temporary folder and renamed into `v<N>` in one step, so a
    crash never leaves half a version. A per-dataset lock serialises concurrent publishes.

    Raises:
        CountMismatchError: if rows were lost or duplicated (nothing is published).
    """
    spec = loaded.spec
    ing = v.ingested
    if ing.unchanged:
        n = ing.unchanged_version
        assert n is not None
        m = warehouse.manifest(spec.name, n)
        c = m["counts"]
        rs = m.get("rules", [])
        return Published(
            spec.name,
            ing.run_id,
            n,
            False,
            c["rows_in"],
            c["rows_published"],
            c["rows_quarantined"],
            c.get("rows_warned", 0),
            sum(r["passed"] for r in rs),
            sum(not r["passed"] for r in rs),
            warehouse.version_dir(spec.name, n),
        )
    blocking = [o for o in v.outcomes if o.engine == "great_expectations" and o.severity == "error" and not o.passed]
    if blocking:
        details = "; ".join(f"`{o.rule_id}` failed (observed: {o.observed}, rule: {o.params})" for o in blocking)
        raise QualityGateError(
            f"dataset `{spec.name}`: {details}. A dataset-level error rule cannot quarantine rows, so nothing was "
            "published; fix the data or relax the rule (or make it `severity: warn`)"
        )
    if ing.staged is None or not ing.staged.is_file():
        raise IntegrityError(
            f"dataset `{spec.name}`: the staged data of run `{ing.run_id}` is gone; "
            "materialize the whole dataset (raw -> catalog) in one run"
        )
    lock = warehouse.lock_path(spec.name)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        latest = warehouse.latest(spec.name)
        if latest is not None and warehouse.manifest(spec.name, latest).get("data_hash") == ing.data_hash:
            raise IntegrityError(
                f"dataset `{spec.name}`: v{latest} with the same data was published by a concurrent run; run again"
            )
        version = (latest or 0) + 1
        ddir = warehouse.dataset_dir(spec.name)
        ddir.mkdir(parents=True, exist_ok=True)
        tmp = ddir / f".tmp-v{version}-{uuid.uuid4().hex[:8]}"
        try:
            body = _write_version(loaded, v, tmp)
            manifest = {
                "manifest_format": MANIFEST_FORMAT,
                "dataset": spec.name,
                "version": version,
                "parent_version": latest,
                "data_hash": ing.data_hash,
                "spec_data_hash": loaded.spec_data_hash,
                "spec_metadata_hash": loaded.spec_metadata_hash,
                "rules_hash": loaded.rules_hash,
                "code_version": _code_version(),
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
                    }
                    for c in spec.columns
                ],
                "primary_key": list(spec.primary_key),
                "source_files": [f.__dict__ for f in ing.files],
                "rules": [o.as_dict() for o in v.outcomes],
                "ge": {
                    "success": v.ge_success,
                    "suite": f"{QUALITY_DIR}/ge_suite.json",
                    "validation": f"{QUALITY_DIR}/ge_validation.json",
                },
                **body,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
            final = warehouse.version_dir(spec.name, version)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    c = manifest["counts"]
    return Published(
        spec.name,
        ing.run_id,
        version,
        True,
        c["rows_in"],
        c["rows_published"],
        c["rows_quarantined"],
        c["rows_warned"],
        v.rules_passed,
        v.rules_failed,
        final,
    )


__all__ = ["FAILED_RULES", "REASONS", "WARN_RULES", "Published", "publish"]
