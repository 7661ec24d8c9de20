"""Label-issue detection on the real seed datasets (AI4I 2020, steel plates faults)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from pipelines.models.learn import (
    class_labels,
    feature_matrix,
)
from tests.models.raw_seeds import AI4I_FEATURES, REPO, STEEL_CLASSES, demand, failure_demand, read_ai4i, read_steel


@pytest.fixture(scope="module")
def ai4i() -> pl.DataFrame:
    return read_ai4i()


@pytest.fixture(scope="module")
def steel() -> pl.DataFrame:
    return read_steel()


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


# trial training: tests/models/test_trial_fit.py; label issues: tests/models/test_label_issues.py


def test_importing_learn_stays_cheap() -> None:
    code = (
        "import sys, pipelines.models.learn; "
        "heavy = [m for m in ('sklearn', 'cleanlab', 'pandas', 'dagster') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
