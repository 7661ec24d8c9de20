"""Catalog rows of a version's baseline profile (`column_profiles`, `dataset_profiles`), written from its manifest."""

from __future__ import annotations

import json
from typing import Any

import duckdb

TABLES = ("column_profiles", "dataset_profiles")


def write_profile(con: duckdb.DuckDBPyConnection, name: str, version: int, profile: dict[str, Any] | None) -> None:
    """Replace the profile rows of one version (none for versions published before profiles existed)."""
    for table in TABLES:
        con.execute(f"DELETE FROM {table} WHERE name = ? AND version = ?", [name, version])
    if not profile:
        return
    cols = profile["columns"]
    if cols:
        con.executemany(
            "INSERT INTO column_profiles (name, version, position, column_name, dtype, nulls, completeness, distinct_values, "
            "is_constant, duplicate_of, min_value, max_value, p01, p25, p50, p75, p99, top_values) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[name, version, i, c["name"], c["dtype"], c["nulls"], c["completeness"], c["distinct"], c["constant"],
              c["duplicate_of"], c["min"], c["max"], c["p01"], c["p25"], c["p50"], c["p75"], c["p99"],
              json.dumps(c["top"], ensure_ascii=False) if c["top"] else None] for i, c in enumerate(cols)],
        )  # fmt: skip
    con.execute(
        "INSERT INTO dataset_profiles (name, version, rows_profiled, columns_profiled, empty_cells, constant_columns, "
        "duplicated_columns, duplicate_rows, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [name, version, profile["rows"], len(cols), sum(c["nulls"] for c in cols), sum(c["constant"] for c in cols),
         sum(1 for c in cols if c["duplicate_of"] and not c["constant"]), profile["duplicate_rows"],
         json.dumps(profile["labels"], ensure_ascii=False)],
    )  # fmt: skip
