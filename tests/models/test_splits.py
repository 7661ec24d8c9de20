"""Adequate splits on real C-MAPSS engines: few groups, unequal classes, minimums, gaps, and a split column."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.errors import SpecError
from pipelines.models.demand import Demand, SplitSpec
from pipelines.models.splits import SplitResult, make_split
from pipelines.spec.loader import load_project
from tests.conftest import Built

SENSORS = ("s2", "s3", "s4", "s7")


def engines(built: Built, per_subset: dict[str, int]) -> pl.LazyFrame:
    """The rows of the first `n` engines of each sub-dataset: each engine a group, its sub-dataset its class."""
    rows = pl.scan_parquet(built.warehouse.data_files("cmapss", 1))
    keep = pl.any_horizontal([(pl.col("subset") == s) & (pl.col("unit") <= n) for s, n in per_subset.items()])
    return rows.filter(keep)


def fault_demand(train: float = 0.7, validation: float = 0.15, test: float = 0.15, **split: object) -> Demand:
    return Demand(
        name="fault_mode",
        dataset="cmapss",
        title="Which sub-dataset (fault mode and regime) an engine comes from",
        team="tests",
        task="classification",
        label="subset",
        features=SENSORS,
        split=SplitSpec.model_validate(
            {"method": "group", "by": ("subset", "unit"), "train": train, "validation": validation, "test": test, "seed": 3}
            | split
        ),
    )


def groups_and_classes(res: SplitResult) -> dict[str, tuple[int, set[str]]]:
    return {s.split: (s.entities, set(s.class_counts)) for s in res.stats}


@pytest.mark.parametrize(
    ("per_subset", "fractions"),
    [
        ({"FD001": 12, "FD003": 4, "FD002": 2}, (0.7, 0.15, 0.15)),  # 18 experiments, three unequal classes
        ({"FD001": 28, "FD003": 12}, (0.7, 0.15, 0.15)),  # 40 runs, two unequal classes
        ({"FD001": 28, "FD003": 12}, (0.6, 0.2, 0.2)),
    ],
)
def test_few_groups_get_every_class_and_the_minimum_of_groups_in_every_split(
    built: Built, per_subset: dict[str, int], fractions: tuple[float, float, float]
) -> None:
    d = fault_demand(*fractions)
    res = make_split(engines(built, per_subset), d, ["subset", "unit", "cycle"])
    got = groups_and_classes(res)
    assert sum(n for n, _ in got.values()) == sum(per_subset.values())
    for split, (n, classes) in got.items():
        assert n >= 3, split  # the minimum of groups, in every split
        assert {c for c, k in per_subset.items() if k >= 3} <= classes, split  # every class that has enough groups
        assert set(per_subset) <= got["train"][1]  # and every class in train
    missing = sorted(f"class={c} in {s}" for s, (_, classes) in got.items() for c in per_subset if c not in classes)
    assert sorted(g.key for g in res.gaps) == missing  # what cannot be met is a gap (FD002 has two engines)
    assert res.leak_free
    again = make_split(engines(built, per_subset), d, ["subset", "unit", "cycle"])
    assert again.assignment.equals(res.assignment)  # same seed, same data, same split


def test_eighteen_experiments_with_a_two_engine_class_name_what_cannot_be_met(built: Built) -> None:
    res = make_split(engines(built, {"FD001": 12, "FD003": 4, "FD002": 2}), fault_demand(), ["subset", "unit", "cycle"])
    got = groups_and_classes(res)
    assert "FD002" in got["train"][1] and "FD002" in got["test"][1]  # train first, then test
    assert [(g.kind, g.key, g.required, g.observed) for g in res.gaps] == [("split", "class=FD002 in validation", 1, 0)]


def test_five_yearly_groups_fill_every_split_and_say_they_are_too_few(built: Built) -> None:
    res = make_split(engines(built, {"FD001": 3, "FD003": 2}), fault_demand(0.6, 0.2, 0.2), ["subset", "unit", "cycle"])
    got = groups_and_classes(res)
    assert {s: n for s, (n, _) in got.items()} == {"train": 3, "validation": 1, "test": 1}  # none empty
    assert got["train"][1] == {"FD001", "FD003"}  # every class in train
    keys = {g.key: (g.required, g.observed) for g in res.gaps}
    assert keys["test split groups"] == (3, 1) and keys["validation split groups"] == (3, 1)


def test_two_groups_cannot_make_three_splits_and_the_gaps_say_so(built: Built) -> None:
    res = make_split(engines(built, {"FD001": 1, "FD003": 1}), fault_demand(), ["subset", "unit", "cycle"])
    got = groups_and_classes(res)
    assert {s: n for s, (n, _) in got.items()} == {"train": 1, "validation": 0, "test": 1}
    keys = {g.key for g in res.gaps}
    assert {"validation split groups", "test split groups", "train split groups"} <= keys
    assert any(k.startswith("class=") and k.endswith(" in train") for k in keys)  # one class cannot be in train


def test_many_groups_keep_their_hashed_split_when_groups_are_added(built: Built) -> None:
    d = fault_demand()
    pk = ["subset", "unit", "cycle"]
    few = make_split(engines(built, {"FD001": 60, "FD003": 60}), d, pk)
    more = make_split(engines(built, {"FD001": 100, "FD003": 100}), d, pk)
    assert few.gaps == [] and more.gaps == []
    moved = few.assignment.join(more.assignment, on=["_source_file", "_source_row"]).filter(
        pl.col("split") != pl.col("split_right")
    )
    assert moved.height == 0  # adequate by the hash alone: nothing repaired, nothing moves


def test_a_split_column_names_the_split_and_unmapped_values_are_gaps(built: Built) -> None:
    d = Demand(
        name="ps30_official",
        dataset="cmapss",
        title="Ps30 on the official sub-datasets",
        team="tests",
        task="regression",
        label="s11",
        features=SENSORS,
        split=SplitSpec(
            method="column", column="subset", by=("subset", "unit"), values={"FD001": "train", "FD002": "train", "FD003": "test"}
        ),
    )
    rows = pl.scan_parquet(built.warehouse.data_files("cmapss", 1))
    res = make_split(rows, d, ["subset", "unit", "cycle"])
    joined = (
        rows.select("_source_file", "_source_row", "subset").collect().join(res.assignment, on=["_source_file", "_source_row"])
    )
    per_value = dict(
        joined.group_by("subset").agg(pl.col("split").unique()).select("subset", pl.col("split").list.first()).iter_rows()
    )
    assert per_value == {"FD001": "train", "FD002": "train", "FD003": "test", "FD004": None}
    stats = {s.split: s.rows for s in res.stats}
    assert stats["validation"] == 0 and stats["test"] == joined.filter(pl.col("subset") == "FD003").height
    fd004 = joined.filter(pl.col("subset") == "FD004").height
    assert [(g.key, g.required, g.observed) for g in res.gaps] == [("rows with subset=FD004 (no split)", fd004, 0)]
    assert res.leak_free


def test_a_split_column_is_checked_against_the_spec(built: Built, tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.conftest import copy_project

    root = copy_project(tmp_path_factory.mktemp("column") / "project")
    (root / "dataset_specs/demands/bad.yaml").write_text(
        "name: bad\ndataset: cmapss\ntitle: t\nteam: x\ntask: regression\nlabel: s11\nfeatures: [s2]\n"
        "split: {method: column, column: subsett, values: {FD001: train, FD003: test}}\n"
    )
    with pytest.raises(SpecError, match=r"bad.yaml:8:.*no column `subsett`.*did you mean `subset`"):
        load_project(root)
    with pytest.raises(ValueError, match="`method: column` needs `column`"):
        SplitSpec(method="column")
