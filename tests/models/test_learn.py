"""Label-issue detection on the real seed datasets (AI4I 2020, steel plates faults)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from pipelines.models.demand import Demand, SplitSpec
from pipelines.models.learn import (
    LabelIssue,
    class_labels,
    feature_matrix,
    find_label_issues,
    out_of_fold_probabilities,
)

REPO = Path(__file__).resolve().parents[2]
AI4I_FEATURES = (
    "Type",
    "Air temperature [K]",
    "Process temperature [K]",
    "Rotational speed [rpm]",
    "Torque [Nm]",
    "Tool wear [min]",
)
STEEL_CLASSES = ("Pastry", "Z_Scratch", "K_Scatch", "Stains", "Dirtiness", "Bumps", "Other_Faults")


def demand(**fields: object) -> Demand:
    base: dict[str, object] = {
        "name": "test_demand",
        "dataset": "ai4i2020",
        "title": "Test demand",
        "team": "tests",
        "split": SplitSpec(method="random", seed=7),
    }
    return Demand.model_validate(base | fields)


@pytest.fixture(scope="module")
def ai4i() -> pl.DataFrame:
    return pl.read_csv(REPO / "seeds/ai4i2020/ai4i2020.csv")


@pytest.fixture(scope="module")
def steel() -> pl.DataFrame:
    spec = yaml.safe_load((REPO / "dataset_specs/steel_plates_faults.yaml").read_text())
    names = spec["source"]["csv"]["column_names"]
    return pl.read_csv(REPO / "seeds/steel_plates_faults/Faults.NNA", separator="\t", has_header=False, new_columns=names)


def split(df: pl.DataFrame, seed: int, test_share: float = 0.2) -> tuple[pl.DataFrame, pl.DataFrame]:
    is_test = np.random.default_rng(seed).random(df.height) < test_share
    return df.filter(~pl.Series(is_test)), df.filter(pl.Series(is_test))


def failure_demand() -> Demand:
    return demand(task="classification", label="Machine failure", features=AI4I_FEATURES)


# ---------------------------------------------------------------- class labels and features


def test_class_labels_single_column_are_integer_text(ai4i: pl.DataFrame) -> None:
    labels = class_labels(ai4i, failure_demand())
    assert labels.dtype == pl.String
    assert labels.len() == ai4i.height
    assert set(labels.unique()) == {"0", "1"}
    assert labels.to_list() == [str(v) for v in ai4i["Machine failure"]]
    floats = pl.DataFrame({"y": [0.0, 1.0, None], "x": [1, 2, 3]})
    assert class_labels(floats, demand(task="classification", label="y", features=("x",))).to_list() == ["0", "1", None]


def test_class_labels_one_hot_names_the_hot_column(steel: pl.DataFrame) -> None:
    d = demand(dataset="steel_plates_faults", task="classification", one_hot_labels=STEEL_CLASSES, features=("Pixels_Areas",))
    labels = class_labels(steel, d)
    assert set(labels.unique()) == set(STEEL_CLASSES)  # every steel plate has exactly one fault class
    for cls in STEEL_CLASSES:
        assert (labels == cls).sum() == steel[cls].sum()
    tiny = pl.DataFrame({"a": [1, 0, 0, 1, None], "b": [0, 1, 0, 1, 0], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    d = demand(task="classification", one_hot_labels=("a", "b"), features=("x",))
    assert class_labels(tiny, d).to_list() == ["a", "b", "none", "multiple", "none"]


def test_feature_matrix_codes_text_by_sorted_value_and_keeps_nulls_as_nan(ai4i: pl.DataFrame) -> None:
    X = feature_matrix(ai4i, AI4I_FEATURES)
    assert X.dtype == np.float64
    assert X.shape == (ai4i.height, len(AI4I_FEATURES))
    expected_type = ai4i["Type"].replace_strict({"H": 0.0, "L": 1.0, "M": 2.0}).to_numpy()
    np.testing.assert_array_equal(X[:, 0], expected_type)
    np.testing.assert_array_equal(X[:, 4], ai4i["Torque [Nm]"].to_numpy())
    df = pl.DataFrame({"s": ["b", None, "a"], "n": [1, None, 3], "f": [True, False, None]})
    np.testing.assert_array_equal(feature_matrix(df, ["s", "n", "f"]), [[1, 1, 1], [np.nan, np.nan, 0], [0, 3, np.nan]])


# ---------------------------------------------------------------- label issues


def test_out_of_fold_probabilities_shrink_folds_for_rare_classes_and_reject_singletons() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.array([0] * 30 + [1] * 27 + [2] * 3)
    probs = out_of_fold_probabilities(X, y, seed=0, folds=5)
    assert probs.shape == (60, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    grouped = out_of_fold_probabilities(X, np.arange(60) % 2, seed=0, groups=np.arange(60) // 4)
    assert grouped.shape == (60, 2)
    np.testing.assert_array_equal(grouped, out_of_fold_probabilities(X, np.arange(60) % 2, seed=0, groups=np.arange(60) // 4))
    with pytest.raises(ValueError, match="at least 2 rows"):
        out_of_fold_probabilities(X, np.array([0] * 59 + [1]), seed=0)


def test_a_single_row_class_is_named_in_the_error() -> None:
    df = pl.DataFrame({"y": ["ok"] * 30 + ["rare"], "x": list(range(31))})
    d = demand(task="classification", label="y", features=("x",))
    with pytest.raises(ValueError, match=r"\['rare'\] have fewer than 2 rows"):
        find_label_issues(df, d)


def flip_clear_normals(ai4i: pl.DataFrame, n: int = 20) -> tuple[pl.DataFrame, list[int]]:
    """Relabel `n` clearly normal rows as failures: mid torque and speed, new tool, ample heat dissipation.

    Far from every AI4I failure mode (tool wear, heat dissipation, power, overstrain), so a model trained
    on the other rows calls them normal with confidence.
    """
    indexed = ai4i.with_row_index("pos")
    normal = indexed.filter(
        (pl.col("Machine failure") == 0)
        & pl.col("Torque [Nm]").is_between(30, 45)
        & (pl.col("Tool wear [min]") < 60)
        & pl.col("Rotational speed [rpm]").is_between(1400, 1700)
        & (pl.col("Process temperature [K]") - pl.col("Air temperature [K]") > 9.5)
    )
    assert normal.height >= 10 * n
    planted = normal["pos"].gather(np.linspace(0, normal.height - 1, n).astype(int)).to_list()
    flipped = ai4i.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(planted)).then(1).otherwise(pl.col("Machine failure")).alias("Machine failure")
    )
    assert (flipped["Machine failure"] != ai4i["Machine failure"]).sum() == n
    return flipped, planted


def test_find_label_issues_finds_planted_flips_deterministically(ai4i: pl.DataFrame) -> None:
    flipped, planted = flip_clear_normals(ai4i)
    d = failure_demand()
    issues = find_label_issues(flipped, d, seed=3)
    assert issues == find_label_issues(flipped, d, seed=3)
    assert all(isinstance(i, LabelIssue) for i in issues)
    # cleanlab drops rows whose given class is the arg-max, so every issue suggests another class, more believed
    assert all(i.given != i.suggested and i.confidence > i.self_confidence for i in issues)
    assert [i.self_confidence for i in issues] == sorted(i.self_confidence for i in issues)
    assert len({i.index for i in issues}) == len(issues)
    by_index = {i.index: i for i in issues}
    found = [by_index[p] for p in planted if p in by_index]
    assert len(found) >= 15, f"only {len(found)} of 20 planted flips found"
    assert all(i.given == "1" and i.suggested == "0" for i in found)
    # the planted rows are not drowned: they sit among the few hundred flagged rows of 10,000
    assert len(issues) < 300


def test_find_label_issues_on_the_real_labels(ai4i: pl.DataFrame) -> None:
    issues = find_label_issues(ai4i, failure_demand(), seed=0, folds=3)
    assert 0 < len(issues) < 0.05 * ai4i.height
    for issue in issues:
        assert issue.given == str(ai4i["Machine failure"][issue.index])
        assert issue.given != issue.suggested


def test_find_label_issues_needs_a_classification_demand(ai4i: pl.DataFrame) -> None:
    d = demand(task="regression", label="Torque [Nm]", features=("Rotational speed [rpm]",))
    with pytest.raises(ValueError, match="classification"):
        find_label_issues(ai4i, d)


def test_importing_learn_stays_cheap() -> None:
    code = (
        "import sys, pipelines.models.learn; "
        "heavy = [m for m in ('sklearn', 'cleanlab', 'pandas', 'dagster') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
