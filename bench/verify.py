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


def verify_moshu(moshu: str, warehouse: Path, env: dict[str, str], sidecar: dict[str, Any], rules_file: Path) -> list[Check]:
    """Counts of the version's manifest and catalog against the generator's sidecar."""
    manifests = sorted((warehouse / "datasets" / DATASET).glob("v*/manifest.json"))
    if not manifests:
        return [Check(DATASET, "a version was written", 1, 0)]
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
    failed = {r["rule_id"]: (r["failed"], r["suspect"]) for r in _moshu_json(moshu, query, warehouse, env)}
    for rule_id, n in expected_failures(sidecar, rules_file).items():
        checks.append(Check(rule_id, "failed rows = injected", n, failed.get(rule_id, (None, None))[0]))
    gap_suspect = failed.get("sb.ts.gap", (None, None))[1]
    checks.append(Check("sb.ts.gap", "suspect rows = ts_backwards", sidecar["defects"]["ts_backwards"], gap_suspect))
    return checks


def verify_ge(summary: dict[str, Any], sidecar: dict[str, Any]) -> list[Check]:
    """Unexpected counts of the GE baseline against the generator's sidecar."""
    d = sidecar["defects"]
    by: dict[tuple[str, str], int] = {}
    for r in summary.get("results", []):
        col = r["column"] if isinstance(r["column"], str) else ",".join(r["column"] or [])
        key = (r["type"], col)
        by[key] = by.get(key, 0) + int(r["unexpected_count"] or 0)
    return [
        Check("ge_pandas", "rows read = rows generated", sidecar["rows_written"], summary.get("rows")),
        Check("ge_pandas", "compound key unexpected = 2 x duplicate_key", 2 * d["duplicate_key"], by.get(("expect_compound_columns_to_be_unique", "machine_id,ts"))),
        Check("ge_pandas", "increasing unexpected = duplicate_key + ts_backwards", d["duplicate_key"] + d["ts_backwards"], by.get(("expect_column_values_to_be_increasing", "ts"))),
        Check("ge_pandas", "status unexpected = unknown_status", d["unknown_status"], by.get(("expect_column_values_to_be_in_set", "status"))),
        Check("ge_pandas", "coolant null = null_required", d["null_required"], by.get(("expect_column_values_to_not_be_null", "coolant_temp_c"))),
        Check("ge_pandas", "balance unexpected = count_balance", d["count_balance"], by.get(("expect_column_values_to_be_between", "_balance"))),
    ]  # fmt: skip


def count_parquet(path: Path) -> int | None:
    """Rows of a Parquet file (None if it is missing)."""
    import duckdb

    if not path.exists():
        return None
    rows = duckdb.connect().execute(f"select count(*) from read_parquet('{path}')").fetchall()
    return int(rows[0][0])
