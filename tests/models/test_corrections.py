"""Corrections in the hard cases: timestamp keys, lineage keys after a file change, values that do not
convert, a lost catalog, edited and removed demands."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.catalog.client import CatalogClient
from pipelines.errors import CatalogError, FeedbackError
from pipelines.models.coverage import measure
from pipelines.models.demand import Demand, SplitSpec
from pipelines.models.feedback import review, submit
from pipelines.models.keys import row_key_expr, row_key_sql
from pipelines.models.stage import curate_for_models, split_path
from pipelines.models.trial import run_trials
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.conftest import Built


def _run(root: Path, wh: Warehouse, name: str) -> int:
    loaded = load_project(root, only=[name]).datasets[name]
    return run_dataset(loaded, root, wh).version


@pytest.mark.parametrize("name", ["ai4i2020", "cmapss", "cnc_line", "steel_plates_faults"])
def test_the_sql_row_key_is_the_same_key(built: Built, name: str) -> None:
    spec = built.project.datasets[name].spec
    files = built.warehouse.data_files(name, 1)
    rows = pl.scan_parquet(files)
    ours = rows.select(row_key_expr(spec.primary_key, rows.collect_schema())).collect().to_series().to_list()
    sql = row_key_sql(spec.primary_key, {c.name: c.dtype for c in spec.columns})
    theirs = [r[0] for r in duckdb.execute(f"SELECT {sql} FROM read_parquet(?)", [files]).fetchall()]
    assert ours == theirs
    if name == "cnc_line":
        assert ours[0] == "CNC-01|2026-03-02 06:00:00"


def test_a_correction_on_a_timestamp_key_is_applied(project_dir: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    assert _run(project_dir, wh, "cnc_line") == 1
    ids = submit(wh, "cnc_line@1", [
        {"row_key": "CNC-01|2026-03-02 06:00:00", "kind": "wrong_unit", "column": "coolant_temp_c", "suggested_value": "21.5"},
        {"row_key": "CNC-01|2026-03-02 06:00:10", "kind": "outlier"},
    ], by="line-team", source="t")  # fmt: skip
    review(wh, ids, "accepted", by="qa", reason="checked against the PLC log")
    assert _run(project_dir, wh, "cnc_line") == 2
    applied = {c["action"]: c["rows_affected"] for c in wh.manifest("cnc_line", 2)["corrections"]}
    assert applied == {"set": 1, "exclude": 1}
    with CatalogClient(wh.root) as c:
        (temp,) = c.rows(
            "SELECT coolant_temp_c FROM dataset('cnc_line', 2) WHERE machine_id = 'CNC-01' AND ts = '2026-03-02 06:00:00'"
        )[0]
        q = c.rows(
            "SELECT _failed_rules FROM quarantine('cnc_line', 2) WHERE machine_id = 'CNC-01' AND ts = '2026-03-02 06:00:10'"
        )
    assert temp == 21.5 and q == [(["feedback.exclude"],)]


def test_a_value_that_the_run_could_not_convert_is_refused_at_submission(project_dir: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    _run(project_dir, wh, "ai4i2020")
    for bad in ("1.0", " 1", "1_000", "true"):
        with pytest.raises(FeedbackError, match=f"`{bad}` is not a valid int8"):
            submit(wh, "ai4i2020@1", [{"row_key": "20", "kind": "label_error", "column": "machine_failure", "suggested_value": bad}],
                   by="t", source="t")  # fmt: skip


def test_a_lost_catalog_stops_the_run_instead_of_dropping_corrections(project_dir: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    _run(project_dir, wh, "ai4i2020")
    ids = submit(wh, "ai4i2020@1", [{"row_key": "20", "kind": "outlier"}], by="t", source="t")
    review(wh, ids, "accepted", by="qa", reason="glitch")
    assert _run(project_dir, wh, "ai4i2020") == 2
    for p in wh.root.glob("catalog.duckdb*"):
        p.unlink()
    with pytest.raises(CatalogError, match=r"v2 applies accepted feedback 1, which the catalog .* does not have"):
        _run(project_dir, wh, "ai4i2020")
    assert wh.versions("ai4i2020") == [1, 2]


@pytest.mark.slow
def test_a_lineage_key_is_not_applied_once_its_file_changed(project_dir: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    _run(project_dir, wh, "steel_plates_faults")
    key = "seeds/steel_plates_faults/Faults.NNA#2"
    ids = submit(wh, "steel_plates_faults@1", [{"row_key": key, "kind": "outlier"}], by="t", source="t")
    review(wh, ids, "accepted", by="qa", reason="blurred frame")
    assert _run(project_dir, wh, "steel_plates_faults") == 2
    assert wh.manifest("steel_plates_faults", 2)["counts"]["rows_quarantined"] == 1
    raw = project_dir / "seeds" / "steel_plates_faults" / "Faults.NNA"
    lines = raw.read_bytes().splitlines(keepends=True)
    raw.write_bytes(b"".join(lines[1:]))  # the first row goes: every row number shifts
    assert _run(project_dir, wh, "steel_plates_faults") == 3
    m = wh.manifest("steel_plates_faults", 3)
    assert m["counts"]["rows_quarantined"] == 0 and m["counts"]["rows_in"] == 1940
    (c,) = m["corrections"]
    assert c["rows_affected"] == 0 and "source file changed" in c["skipped"]


def test_an_edited_demand_keeps_one_trial_per_version_and_a_removed_one_disappears(project_dir: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    _run(project_dir, wh, "cnc_line")
    loaded = load_project(project_dir, only=["cnc_line"]).datasets["cnc_line"]
    curate_for_models(loaded, wh, project_dir)
    run_trials(loaded, wh)
    demand = project_dir / "dataset_specs" / "demands" / "cnc_spindle_load_forecaster.yaml"
    demand.write_text(demand.read_text().replace("  train: 0.7\n  validation: 0.1", "  train: 0.6\n  validation: 0.2"))
    loaded = load_project(project_dir, only=["cnc_line"]).datasets["cnc_line"]
    curate_for_models(loaded, wh, project_dir)
    run_trials(loaded, wh)
    with CatalogClient(wh.root) as c:
        assert c.rows("SELECT version, verdict FROM trial_trend") == [(1, "baseline")]
        assert c.rows("SELECT count(*) FROM model_runs WHERE kind = 'trial'") == [(2,)]
    demand.unlink()
    assert _run(project_dir, wh, "cnc_line") == 1  # unchanged data: no new version, demands synced anyway
    with CatalogClient(wh.root) as c:
        for table in ("demands", "demand_results", "demand_gaps", "splits"):
            assert c.rows(f"SELECT count(*) FROM {table}") == [(0,)], table
    assert not split_path(wh, "cnc_line", 1, "cnc_spindle_load_forecaster").exists()


def test_strata_on_a_float_column_match_integral_yaml_values() -> None:
    d = Demand(name="d", dataset="x", title="t", team="t", task="regression", label="y", features=("f",),
               strata={"thick": (1, 2)}, min_per_stratum=2, split=SplitSpec(method="random"))  # fmt: skip
    lf = pl.LazyFrame({"thick": [1.0, 1.0, 2.0, 2.0], "y": [1.0] * 4, "f": [0.0] * 4})
    r = measure(lf, d)
    assert (r.covered_strata, r.required_strata, r.gaps) == (2, 2, [])
    assert r.strata == {"thick=1": 2, "thick=2": 2}


def test_sql_submitted_findings_accept_decimal_confidence(project_dir: Path, tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    _run(project_dir, wh, "ai4i2020")
    with CatalogClient(wh.root) as c:
        rel = c.sql("SELECT CAST(udi AS VARCHAR) AS row_key, 'outlier' AS kind, 0.9 AS confidence FROM ai4i2020 WHERE udi < 3")
        rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    assert len(submit(wh, "ai4i2020", rows, by="t", source="sql")) == 2
