"""Checks after a benchmark run: every row accounted for, and each injected defect caught by its rule.

Nothing here raises on a mismatch: each check is recorded with what was expected and what was found.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

DATASET = "sensor_bench"


@dataclass(frozen=True)
class Check:
    """One comparison."""

    subject: str
    check: str
    expected: int | None
    actual: int | None

    @property
    def ok(self) -> bool:
        """Whether actual equals expected."""
        return self.expected == self.actual

    def as_dict(self) -> dict[str, Any]:
        """Plain fields and the verdict, for JSON."""
        return asdict(self) | {"ok": self.ok}


def _in_range_rules(rules_file: Path) -> dict[str, str]:
    """Column -> id of its in_range rule, from the bench project's rule file."""
    rules = yaml.safe_load(rules_file.read_text(encoding="utf-8"))["rules"]
    return {r["column"]: r["id"] for r in rules if r["kind"] == "in_range"}


def _moshu_json(moshu: str, query: str, warehouse: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    res = subprocess.run(
        [moshu, "sql", query, "--format", "json", "--warehouse", str(warehouse)], env=env, capture_output=True, text=True
    )
    return json.loads(res.stdout) if res.returncode == 0 and res.stdout.strip() else []


def expected_failures(sidecar: dict[str, Any], rules_file: Path) -> dict[str, int]:
    """Rule id -> rows it must fail, from the generator's defect counts."""
    d = sidecar["defects"]
    out = {
        "schema.primary_key": 2 * d["duplicate_key"],
        "sb.ts.increasing": d["duplicate_key"] + d["ts_backwards"],
        "sb.status.allowed": d["unknown_status"],
        "sb.coolant_temp.present": d["null_required"],
        "sb.counts.balance": d["count_balance"],
    }
    for column, rule_id in _in_range_rules(rules_file).items():
        out[rule_id] = sidecar["out_of_range_by_column"].get(column, 0)
    return out


def verify_rules(
    subject: str, failed: dict[str, int | None], suspect: dict[str, int | None], sidecar: dict[str, Any], rules_file: Path
) -> list[Check]:
    """Every defect kind against the rule that must catch it, and no row failed by any other rule.

    `failed` maps each rule id an engine checked to the rows it failed, `suspect` the gap rule to its
    suspect rows (warn level: each backward timestamp leaves one interval over 1.5 periods).
    """
    expected = expected_failures(sidecar, rules_file)
    checks = [Check(subject, f"{rule_id}: failed rows = injected", n, failed.get(rule_id)) for rule_id, n in expected.items()]
    backwards = sidecar["defects"]["ts_backwards"]
    checks.append(Check(subject, "sb.ts.gap: suspect rows = ts_backwards", backwards, suspect.get("sb.ts.gap")))
    others = {k: v for k, v in failed.items() if k not in expected}
    checks.append(Check(subject, f"the {len(others)} other rules: failed rows", 0, sum(v or 0 for v in others.values())))
    return checks


def verify_moshu(moshu: str, warehouse: Path, env: dict[str, str], sidecar: dict[str, Any], rules_file: Path) -> list[Check]:
    """Counts of the version's manifest and catalog against the generator's sidecar."""
    manifests = sorted((warehouse / "datasets" / DATASET).glob("v*/manifest.json"))
    if not manifests:
        return [Check("moshu", "a version was written", 1, 0)]
    counts = json.loads(manifests[-1].read_text(encoding="utf-8"))["counts"]
    rows_in, published, quarantined = counts["rows_in"], counts["rows_published"], counts["rows_quarantined"]
    checks = [
        Check("moshu", "rows_in = rows generated", sidecar["rows_written"], rows_in),
        Check("moshu", "rows_in = rows_published + rows_quarantined", rows_in, published + quarantined),
        Check("moshu", "rows_quarantined = injected defect rows", sidecar["expected_quarantined_rows"], quarantined),
    ]
    query = (
        f"select rule_id, failed, suspect from rule_results where name = '{DATASET}' "
        f"and version = (select max(version) from versions where name = '{DATASET}')"
    )
    results = _moshu_json(moshu, query, warehouse, env)
    failed = {r["rule_id"]: r["failed"] for r in results}
    suspect = {r["rule_id"]: r["suspect"] for r in results}
    return checks + verify_rules("moshu", failed, suspect, sidecar, rules_file)


def verify_ge(summary: dict[str, Any], sidecar: dict[str, Any], rules_file: Path) -> list[Check]:
    """Unexpected counts of the GE baseline's expectations (by rule id) against the generator's sidecar."""
    rows = Check("ge_pandas", "rows read = rows generated", sidecar["rows_written"], summary.get("rows"))
    return [rows, *verify_rules("ge_pandas", summary["failed_rows"], summary["suspect_rows"], sidecar, rules_file)]


def verify_polars_pandera(subject: str, out: Path, sidecar: dict[str, Any], rules_file: Path) -> list[Check]:
    """The polars + pandera baseline's Parquet files and failed rows against the generator's sidecar."""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    quarantined, clean = count_parquet(out / "quarantine.parquet"), count_parquet(out / "clean.parquet")
    expected_q = sidecar["expected_quarantined_rows"]
    checks = [
        Check("polars_pandera", "quarantine rows = injected defect rows", expected_q, quarantined),
        Check(
            "polars_pandera", "clean rows = rows generated - injected defect rows", sidecar["rows_written"] - expected_q, clean
        ),
    ]
    return checks + verify_rules("polars_pandera", summary["failed_rows"], summary["suspect_rows"], sidecar, rules_file)


def count_parquet(path: Path) -> int | None:
    """Rows of a Parquet file (None if it is missing)."""
    import duckdb

    if not path.exists():
        return None
    rows = duckdb.connect().execute(f"select count(*) from read_parquet('{path}')").fetchall()
    return int(rows[0][0])
