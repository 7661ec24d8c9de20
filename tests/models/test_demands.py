"""Demands: loading with clear errors, gap lists on real seeds, reproducible leak-free splits."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.errors import SpecError
from pipelines.models.coverage import measure
from pipelines.models.demand import Demand, SplitSpec
from pipelines.models.splits import make_split
from pipelines.models.stage import curate_for_models
from pipelines.spec.loader import load_project
from tests.conftest import Built


def _rows(built: Built, name: str) -> pl.LazyFrame:
    return pl.scan_parquet(built.warehouse.data_files(name, 1))


def test_seed_demands_load_with_their_datasets(built: Built) -> None:
    demands = {n: [d.name for d in ld.demands] for n, ld in built.project.datasets.items()}
    assert demands == {
        "ai4i2020": ["ai4i_failure_classifier"],
        "cmapss": ["cmapss_ps30_soft_sensor"],
        "cnc_line": ["cnc_spindle_load_forecaster"],
        "steel_plates_faults": ["steel_fault_classifier"],
    }


def test_a_demand_the_data_cannot_meet_lists_missing_classes_with_counts(built: Built) -> None:
    (d,) = built.project.datasets["steel_plates_faults"].demands
    r = measure(_rows(built, "steel_plates_faults"), d)
    assert not r.met
    assert [(g.kind, g.key, g.observed, g.required, g.shortfall) for g in r.gaps] == [
        ("class", "class=dirtiness", 55, 100, 45),
        ("class", "class=stains", 72, 100, 28),
    ]
    assert r.classes["other_faults"] == 673 and r.representativeness == 1.0
    assert r.class_balance == pytest.approx(55 / 673)


def test_missing_strata_and_time_spans_are_named(built: Built) -> None:
    (d,) = built.project.datasets["cnc_line"].demands
    r = measure(_rows(built, "cnc_line"), d)
    by_key = {g.key: g for g in r.gaps}
    assert by_key["machine_id=CNC-04, status=IDLE"].observed == 0  # never idle in the sample
    assert r.required_strata == 12 and r.covered_strata == 12 - sum(g.kind == "stratum" for g in r.gaps)
    (t,) = [g for g in r.gaps if g.kind == "time"]
    assert t.key == "2026-03-02 07:00 .. 2026-03-02 13:00 (7 hours)"  # the sample ends at 07:06
    assert r.periods_required == 8 and r.periods_covered == 1


def test_gaps_are_in_the_catalog_per_version(built: Built) -> None:
    from pipelines.catalog.client import CatalogClient

    with CatalogClient(built.warehouse.root) as c:
        rows = c.rows(
            "SELECT demand, kind, key, shortfall FROM demand_gaps WHERE dataset = 'steel_plates_faults' AND version = 1 ORDER BY key"
        )
    assert rows == [
        ("steel_fault_classifier", "class", "class=dirtiness", 45),
        ("steel_fault_classifier", "class", "class=stains", 28),
    ]


def test_group_splits_are_reproducible_and_no_engine_is_in_two_splits(built: Built) -> None:
    (d,) = built.project.datasets["cmapss"].demands
    pk = ["subset", "unit", "cycle"]
    a, b = make_split(_rows(built, "cmapss"), d, pk), make_split(_rows(built, "cmapss"), d, pk)
    assert a.assignment.equals(b.assignment) and a.leak_free
    rows = _rows(built, "cmapss").select("_source_file", "_source_row", "subset", "unit").collect()
    joined = rows.join(a.assignment, on=["_source_file", "_source_row"])
    assert joined.height == rows.height == 160_359
    per_engine = joined.group_by("subset", "unit").agg(pl.col("split").n_unique())
    assert per_engine["split"].max() == 1 and per_engine.height == 709
    shares = {s.split: s.entities / 709 for s in a.stats}
    assert shares["train"] == pytest.approx(0.7, abs=0.06) and shares["test"] == pytest.approx(0.2, abs=0.05)
    other = make_split(_rows(built, "cmapss"), d.model_copy(update={"split": d.split.model_copy(update={"seed": 1})}), pk)
    assert not other.assignment.equals(a.assignment)


def test_time_splits_put_later_rows_in_test(built: Built) -> None:
    (d,) = built.project.datasets["cnc_line"].demands
    res = make_split(_rows(built, "cnc_line"), d, ["machine_id", "ts"])
    rows = (
        _rows(built, "cnc_line")
        .select("_source_file", "_source_row", "ts")
        .collect()
        .join(res.assignment, on=["_source_file", "_source_row"])
    )
    bounds = {
        r["split"]: (r["lo"], r["hi"])
        for r in rows.group_by("split").agg(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")).iter_rows(named=True)
    }
    assert bounds["train"][1] < bounds["validation"][0] and bounds["validation"][1] < bounds["test"][0]
    assert res.leak_free


def test_splits_are_queryable_by_sql_with_their_statistics(built: Built) -> None:
    from pipelines.catalog.client import CatalogClient

    curate_for_models(built.project.datasets["ai4i2020"], built.warehouse, built.project.root)
    with CatalogClient(built.warehouse.root) as c:
        counts = dict(c.rows("SELECT split, count(*) FROM split('ai4i2020', 1, 'ai4i_failure_classifier') GROUP BY split"))
        stats = {r[0]: (r[1], r[2]) for r in c.rows("SELECT split, rows, class_counts FROM splits WHERE dataset = 'ai4i2020'")}
    assert sum(counts.values()) == 10_000
    assert {k: v[0] for k, v in stats.items()} == counts
    assert stats["train"][1] is not None and '"1"' in stats["train"][1]


def _demand_project(project_dir: Path, text: str) -> Path:
    (project_dir / "dataset_specs" / "demands" / "bad.yaml").write_text(text, encoding="utf-8")
    return project_dir


def test_demand_errors_name_file_line_and_fix(project_dir: Path) -> None:
    _demand_project(
        project_dir,
        "name: bad\ndataset: ai4i2020\ntitle: t\nteam: x\ntask: classification\nlabel: machine_failure\n"
        "features: [torque_nm, tool_wear]\nsplit: {method: random, seed: 1}\n",
    )
    with pytest.raises(SpecError) as e:
        load_project(project_dir)
    text = str(e.value)
    assert (
        "dataset_specs/demands/bad.yaml:7" in text and "no column `tool_wear`" in text and "did you mean `tool_wear_min`" in text
    )
    _demand_project(
        project_dir,
        "name: bad\ndataset: ai4i2020\ntitle: t\nteam: x\ntask: classification\nlabel: machine_failure\n"
        "features: [torque_nm]\nsplit: {method: group, seed: 1}\n",
    )
    with pytest.raises(SpecError, match=r"bad.yaml:8:8: split: `method: group` needs `by`"):
        load_project(project_dir)


def test_a_demand_on_an_unknown_dataset_is_a_spec_error(project_dir: Path) -> None:
    _demand_project(
        project_dir,
        "name: bad\ndataset: ai4i\ntitle: t\nteam: x\ntask: regression\nlabel: torque_nm\nfeatures: [tool_wear_min]\nsplit: {method: random}\n",
    )
    with pytest.raises(SpecError, match=r"bad.yaml:2.*no dataset `ai4i`.*did you mean `ai4i2020`"):
        load_project(project_dir)


def test_split_fractions_must_sum_to_one() -> None:
    with pytest.raises(ValueError, match="must be 1"):
        SplitSpec(method="random", train=0.8, validation=0.15, test=0.15)
    with pytest.raises(ValueError, match="label columns cannot be features"):
        Demand(
            name="x",
            dataset="d",
            title="t",
            team="t",
            task="regression",
            label="a",
            features=("a",),
            split=SplitSpec(method="random"),
        )
