"""Stage 4: register a version (from its manifest) and the run in the DuckDB catalog."""

from __future__ import annotations

import json
import logging
import posixpath
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.catalog.db import writer
from pipelines.catalog.profiles import write_profile
from pipelines.ingest.fingerprint import sha256_file
from pipelines.paths import relative
from pipelines.spec.loader import LoadedDataset
from pipelines.sql import ident
from pipelines.stages.publish import Published
from pipelines.storage.delta import PUBLISHED, QUARANTINE
from pipelines.storage.index import delta_versions, register_files
from pipelines.warehouse import MANIFEST, Warehouse


def _ts(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso).astimezone(UTC).replace(tzinfo=None) if iso else None


def insert_run(
    con: duckdb.DuckDBPyConnection, run_id: str, name: str, started_at: str | None, status: str,
    version: int | None, rows_in: int | None, message: str, orchestrator: str,
) -> None:  # fmt: skip
    con.execute(
        "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, name, _ts(started_at), datetime.now(UTC).replace(tzinfo=None), status, version, rows_in, message, orchestrator],
    )


def upsert_dataset(con: duckdb.DuckDBPyConnection, loaded: LoadedDataset, project_root: Path) -> None:
    s = loaded.spec
    c = s.classification
    con.execute("DELETE FROM datasets WHERE name = ?", [s.name])
    row = {
        "name": s.name, "title": s.title, "description": s.description, "owner": s.owner, "license": s.license,
        "attribution": s.attribution, "synthetic": s.synthetic is not None,
        "synthetic_generator": s.synthetic.generator if s.synthetic else None,
        "synthetic_meta": json.dumps(s.synthetic.model_dump()) if s.synthetic else None,
        "source_format": s.source.format, "source_path": s.source.path, "primary_key": list(s.primary_key),
        "schedule": s.schedule, "tags": list(s.tags), "spec_path": relative(loaded.spec_path, project_root),
        "spec_metadata_hash": loaded.spec_metadata_hash, "updated_at": datetime.now(UTC).replace(tzinfo=None),
        "grade": c.grade, "domain": c.domain, "cdo": c.cdo, "retention": c.retention, "derived_from": list(c.derived_from),
        "classification": json.dumps(c.model_dump(mode="json"), ensure_ascii=False),
    }  # fmt: skip
    con.execute(f"INSERT INTO datasets ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def register_version(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, name: str, version: int) -> None:
    """(Re)write every catalog row of one version from its manifest; idempotent."""
    m: dict[str, Any] = warehouse.manifest(name, version)
    vdir = warehouse.version_dir(name, version)
    rel = vdir.relative_to(warehouse.root).as_posix()
    for table in ("versions", "columns", "rule_results", "source_files", "quarantine_summary", "measures", "dimension_scores"):
        con.execute(f"DELETE FROM {table} WHERE name = ? AND version = ?", [name, version])
    for table in ("corrections", "changelog"):
        con.execute(f"DELETE FROM {table} WHERE dataset = ? AND version = ?", [name, version])
    con.execute("DELETE FROM version_partitions WHERE name = ? AND version = ?", [name, version])
    con.execute("DELETE FROM anomalies WHERE name = ? AND version = ?", [name, version])
    c, rules, q, ge = m["counts"], m.get("rules", []), m.get("quality", {}), m.get("ge", {})
    delta = delta_versions(warehouse, name, version)
    row = {
        "name": name, "version": version, "parent_version": m.get("parent_version"), "data_hash": m["data_hash"],
        "spec_data_hash": m.get("spec_data_hash"), "spec_metadata_hash": m.get("spec_metadata_hash"),
        "rules_hash": m.get("rules_hash"), "code_version": m.get("code_version"), "run_id": m.get("run_id"),
        "created_at": _ts(m.get("created_at")), "rows_in": c["rows_in"], "rows_published": c["rows_published"],
        "rows_quarantined": c["rows_quarantined"], "rows_warned": c.get("rows_warned", 0),
        "rules_passed": sum(r["passed"] for r in rules), "rules_failed": sum(not r["passed"] for r in rules),
        "ge_success": ge.get("success"), "path": rel, "data_glob": None, "quarantine_path": None, "ge_suite_path": f"{rel}/{ge['suite']}" if ge.get("suite") else None,
        "ge_validation_path": f"{rel}/{ge['validation']}" if ge.get("validation") else None,
        "manifest_sha256": sha256_file(vdir / MANIFEST), "status": m.get("status", "published"), "level": q.get("level"),
        "score": q.get("overall"), "min_level": q.get("min_level"), "failed_gates": q.get("failed_gates", []),
        "report_path": f"{rel}/{m['report']}" if m.get("report") else None,
        "data_docs_path": f"{rel}/{ge['data_docs']}" if ge.get("data_docs") else None,
        "level_reasons": q.get("reasons") or None, "delta_version": delta.get(PUBLISHED),
        "quarantine_delta_version": delta.get(QUARANTINE),
    }  # fmt: skip
    cols = ", ".join(row)
    con.execute(f"INSERT INTO versions ({cols}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    con.executemany(
        "INSERT INTO columns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[name, version, i, col["name"], col.get("source"), col["dtype"], col.get("unit"), col.get("nullable"),
          col.get("role"), col.get("description"), col.get("sensitivity"), col.get("pseudonymised")]
         for i, col in enumerate(m["schema"])],
    )  # fmt: skip
    if rules:
        con.executemany(
            "INSERT INTO rule_results (name, version, rule_id, kind, severity, engine, columns, params, description, "
            "evaluated, failed, passed, observed, samples, suspect) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[name, version, r["rule_id"], r["kind"], r["severity"], r["engine"], r["columns"], r["params"], r["description"],
              r["evaluated"], r["failed"], r["passed"], r["observed"], r["samples"], r.get("suspect", 0)] for r in rules],
        )  # fmt: skip
    con.executemany(
        "INSERT INTO source_files VALUES (?, ?, ?, ?, ?, ?)",
        [[name, version, f["path"], f["sha256"], f["size"], f["rows"]] for f in m["source_files"]],
    )
    if m.get("quarantine_summary"):
        con.executemany(
            "INSERT INTO quarantine_summary VALUES (?, ?, ?, ?, ?)",
            [[name, version, x["rule_id"], x["severity"], x["rows"]] for x in m["quarantine_summary"]],
        )
    if q.get("measures"):
        con.executemany(
            "INSERT INTO measures (name, version, rule_id, clause, dimension, measure_id, a, b, x, threshold, gate, passed, "
            "gate_passed, applicable, weight, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[name, version, r["rule_id"], r["clause"], r["dimension"], r["measure_id"], r["a"], r["b"], r["x"], r["threshold"],
              r["gate"], r["passed"], r.get("gate_passed"), r["applicable"], r.get("weight"), r.get("detail")] for r in q["measures"]],
        )  # fmt: skip
    if m.get("corrections"):
        con.executemany(
            "INSERT INTO corrections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[name, version, c["feedback_id"], c["row_key"], c["action"], c["column"], c["old_value"], c["new_value"],
              c["rows_affected"], c.get("new_in_version", False), c.get("reason")] for c in m["corrections"]],
        )  # fmt: skip
    if m.get("changelog"):
        con.executemany(
            "INSERT INTO changelog VALUES (?, ?, ?, ?, ?, ?)",
            [[name, version, i, e["change"], e["detail"], e.get("feedback_id")] for i, e in enumerate(m["changelog"], 1)],
        )
    if m.get("partitions"):
        con.executemany(
            "INSERT INTO version_partitions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[name, version, p["key"], p["built_in_version"], p["run_id"], p["data_hash"], p["counts"]["rows_in"],
              p["counts"]["rows_published"], p["counts"]["rows_quarantined"], p["counts"]["rows_warned"],
              sum(not r["passed"] for r in p["rules"]), posixpath.normpath(f"{rel}/{p['files'][0]['path']}")]
             for p in m["partitions"]],
        )  # fmt: skip
    if m.get("anomalies"):
        con.executemany(
            "INSERT INTO anomalies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[name, version, f.get("partition"), f["metric"], f["column"], f["baseline"], f["observed"], f["score"],
              f["threshold"], f["flagged"], f["reference"]] for f in m["anomalies"]],
        )  # fmt: skip
    from pipelines.models.stage import write_result

    for r in m.get("demands", []):
        write_result(con, name, version, r)
    write_profile(con, name, version, m.get("profile"))
    if q.get("dimensions"):
        con.executemany(
            "INSERT INTO dimension_scores VALUES (?, ?, ?, ?)", [[name, version, d, v] for d, v in q["dimensions"].items()]
        )
    _register_set_aside(con, name, version, m.get("quarantined_files", []))
    register_files(con, warehouse, name, version)


def _register_set_aside(con: duckdb.DuckDBPyConnection, name: str, version: int, files: list[dict[str, Any]]) -> None:
    """The files the version's run set aside whole, with their reasons (table `set_aside_files`, migration 0009)."""
    from pipelines.ingest.bad_files import BAD_FILE

    con.execute("DELETE FROM set_aside_files WHERE name = ? AND version = ?", [name, version])
    if files:
        con.executemany(
            "INSERT INTO set_aside_files VALUES (?, ?, ?, ?, ?, ?, ?)",
            [[name, version, f["path"], f["sha256"], f.get("rows"), "on_bad_file" if f["reason"].startswith(BAD_FILE)
              else "drift", f["reason"]] for f in files],
        )  # fmt: skip


def refresh_latest_view(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Point the view named after the dataset at its latest published version, as the catalog knows it (with a
    remote warehouse, this machine's folder may not hold every version)."""
    row = con.execute(
        "SELECT max(version) FROM versions WHERE name = ? AND coalesce(status, 'published') = 'published'", [name]
    ).fetchall()
    latest = row[0][0] if row else None
    if latest is None:
        return
    con.execute(f"CREATE OR REPLACE VIEW {ident(name)} AS SELECT * FROM {ident('version_data')}.{ident(f'{name}@{latest}')}")


def _register_missing(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, name: str, skip: int) -> None:
    """Register versions on disk the catalog lacks (e.g. after a failed run), each on its own."""
    have = {r[0] for r in con.execute("SELECT version FROM versions WHERE name = ?", [name]).fetchall()}
    for v in warehouse.versions(name):
        if v in have or v == skip:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            register_version(con, warehouse, name, v)
            con.execute("COMMIT")
        except Exception as e:  # one bad version must not block the others
            con.execute("ROLLBACK")
            logging.getLogger(__name__).warning("could not register `%s` v%s from its manifest: %s", name, v, e)


def register_existing(warehouse: Warehouse, datasets: dict[str, LoadedDataset | None]) -> None:
    """Register the versions on disk the catalog lacks (pushed or pulled ones), and the dataset rows of known specs."""
    with writer(warehouse) as con:
        for name, loaded in datasets.items():
            if loaded is not None:
                con.execute("BEGIN TRANSACTION")
                upsert_dataset(con, loaded, loaded.spec_path.parent.parent)
                con.execute("COMMIT")
            _register_missing(con, warehouse, name, 0)
            refresh_latest_view(con, name)


def register(
    loaded: LoadedDataset,
    published: Published,
    warehouse: Warehouse,
    *,
    started_at: str | None = None,
    orchestrator: str = "direct",
) -> None:
    """Record the dataset, the version (if new or missing from the catalog) and the run."""
    name = loaded.spec.name
    with writer(warehouse) as con:
        _register_missing(con, warehouse, name, published.version)
        con.execute("BEGIN TRANSACTION")
        upsert_dataset(con, loaded, loaded.spec_path.parent.parent)
        have = {r[0] for r in con.execute("SELECT version FROM versions WHERE name = ?", [name]).fetchall()}
        if published.created or published.version not in have:
            register_version(con, warehouse, name, published.version)
        refresh_latest_view(con, name)
        from pipelines.models.stage import sync_demands

        sync_demands(con, warehouse, loaded, loaded.spec_path.parent.parent)  # a removed demand disappears here
        status = ("rejected" if published.status == "rejected" else "published") if published.created else "unchanged"
        if published.created:
            audit_publish(con, warehouse, name, published)
        insert_run(
            con, published.run_id, name, started_at, status, published.version, published.rows_in,
            published.blocked
            or f"v{published.version} {(published.status if published.created else 'unchanged')}, level {published.level}",
            orchestrator,
        )  # fmt: skip
        con.execute("COMMIT")


def audit_publish(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, name: str, published: Published) -> None:
    """The publish and its gate decision, in the audit log (inside the registering transaction)."""
    from pipelines.governance.audit import current_actor, record

    m = warehouse.manifest(name, published.version)
    obj = f"{name}@{published.version}"
    actor = current_actor()
    record(con, actor=actor, action="publish", object=obj, decision=published.status,
           detail={"data_hash": m["data_hash"], "manifest_sha256": sha256_file(warehouse.version_dir(name, published.version) / MANIFEST),
                   "rows_published": published.rows_published, "rows_quarantined": published.rows_quarantined})  # fmt: skip
    record(con, actor=actor, action="gate", object=obj, decision=published.status,
           detail={"level": published.level, "score": published.score, "min_level": m.get("quality", {}).get("min_level"),
                   "failed_gates": list(published.failed_gates)})  # fmt: skip


def record_failure(
    warehouse: Warehouse, name: str, run_id: str, started_at: str | None, message: str, orchestrator: str = "direct"
) -> None:
    """Record a failed run in the catalog (best effort: the error itself is what the user sees)."""
    try:
        _record_failure(warehouse, name, run_id, started_at, message, orchestrator)
    except Exception as e:  # the catalog may be locked or broken; never hide the original error
        logging.getLogger(__name__).warning("could not record the failed run of `%s` in the catalog: %s", name, e)


def _record_failure(
    warehouse: Warehouse, name: str, run_id: str, started_at: str | None, message: str, orchestrator: str
) -> None:
    with writer(warehouse) as con:
        rejected = con.execute("SELECT 1 FROM runs WHERE run_id = ? AND status = 'rejected'", [run_id]).fetchall()
        if rejected:  # the run wrote a rejected candidate and registered it with its reason: keep that record
            return
        insert_run(con, run_id, name, started_at, "failed", None, None, message[:2000], orchestrator)


def record_cancelled(
    warehouse: Warehouse, name: str, run_id: str, started_at: str | None, signal_name: str, orchestrator: str = "direct"
) -> None:
    """Record a run stopped by a signal as `cancelled` (best effort, like `record_failure`)."""
    message = f"stopped by {signal_name}; its staging folder was removed and nothing of it was published"
    try:
        with writer(warehouse) as con:
            insert_run(con, run_id, name, started_at, "cancelled", None, None, message, orchestrator)
    except Exception as e:  # the catalog may be locked by the stopped step itself
        logging.getLogger(__name__).warning("could not record the cancelled run of `%s` in the catalog: %s", name, e)
