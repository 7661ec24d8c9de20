"""The baseline profile and the level reasons in the catalog, rebuilt the same from the manifests alone."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.catalog.client import CatalogClient
from pipelines.stages.register import register_existing
from pipelines.warehouse import Warehouse
from tests.conftest import Built

PROFILE_SQL = (
    "select name, version, column_name, nulls, distinct_values, is_constant, duplicate_of, min_value, p50, top_values "
    "from column_profiles order by name, version, position"
)
DATASET_SQL = "select * from dataset_profiles order by name, version"
REASONS_SQL = "select name, version, level, level_reasons from versions order by name, version"


def test_profiles_and_reasons_are_in_the_catalog(built: Built) -> None:
    with CatalogClient(built.warehouse.root) as c:
        steel = c.rows(
            "select rows_profiled, columns_profiled, empty_cells, duplicate_rows from dataset_profiles where name = 'steel_plates_faults'"
        )
        ai4i = c.rows(
            "select column_name, distinct_values, top_values from column_profiles where name = 'ai4i2020' and column_name = 'type'"
        )
        operator = c.rows(
            "select min_value, max_value, top_values from column_profiles where name = 'cnc_line' and column_name = 'operator_id'"
        )
        reasons = dict((n, r) for n, _, _, r in c.rows(REASONS_SQL))
        details = c.rows("select detail from measures where name = 'cmapss' and rule_id = 'cmapss.features.informative'")
    assert steel == [(1941, 34, 0, 0)]
    assert ai4i[0][1] == 3 and '"value": "L"' in ai4i[0][2]
    assert operator == [(None, None, None)]  # a personal column's values are never kept, not even pseudonyms
    assert reasons["steel_plates_faults"][0].startswith("gold: all 38 gates hold, all 47 scored measures pass")
    assert "FD001: constant: op_setting_3" in details[0][0]


def test_the_profile_is_rebuilt_from_the_manifests(built: Built, tmp_path: Path) -> None:
    moved = tmp_path / "wh"
    shutil.copytree(built.warehouse.root, moved, ignore=shutil.ignore_patterns(".dagster"))
    wh = Warehouse(moved)
    with CatalogClient(moved) as c:
        before = [c.rows(q) for q in (PROFILE_SQL, DATASET_SQL, REASONS_SQL)]
    wh.catalog_path.unlink()
    register_existing(wh, dict.fromkeys(built.project.datasets))
    with CatalogClient(moved) as c:
        after = [c.rows(q) for q in (PROFILE_SQL, DATASET_SQL, REASONS_SQL)]
    assert after == before and len(before[0]) == 89  # every published column of the four seeds
