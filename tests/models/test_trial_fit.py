"""Trial training on the real seed datasets (AI4I 2020, steel plates faults): one fit per fold, frozen labels."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import polars as pl
import pytest

from pipelines.models.demand import Demand
from pipelines.models.trial_fit import CV_FOLDS, TrialResult, better, trial_train
from tests.models.raw_seeds import AI4I_FEATURES, REPO, STEEL_CLASSES, demand, failure_demand, read_ai4i, read_steel, split


@pytest.fixture(scope="module")
def ai4i() -> pl.DataFrame:
    return read_ai4i()


@pytest.fixture(scope="module")
def steel() -> pl.DataFrame:
    return read_steel()


def test_trial_train_steel_one_hot_classification(steel: pl.DataFrame) -> None:
    features = tuple(c for c in steel.columns if c not in STEEL_CLASSES)
    d = demand(dataset="steel_plates_faults", task="classification", one_hot_labels=STEEL_CLASSES, features=features)
    train, test = split(steel, seed=11)
    result = trial_train(train, test, d)
    assert isinstance(result, TrialResult)
    assert result.model == "HistGradientBoostingClassifier"
    assert result.metric == "balanced_accuracy" and result.higher_is_better
    assert result.value == result.metrics["balanced_accuracy"]
    assert set(result.metrics) == {"balanced_accuracy", "macro_f1", "accuracy"}  # 7 classes: no roc_auc
    assert result.value > 0.5  # chance is 1/7
    assert 0.5 < result.cv_mean <= 1 and result.cv_std >= 0
    assert result.params["seed"] == 7 and result.params["cv_folds"] == CV_FOLDS
    assert json.loads(json.dumps(result.params)) == result.params
    assert (result.n_train, result.n_test) == (train.height, test.height)
    assert better(result, result.value - 0.1) == pytest.approx(0.1)


def test_trial_train_binary_classification_reports_roc_auc(ai4i: pl.DataFrame) -> None:
    sample = ai4i.sample(3000, seed=1)
    train, test = split(sample, seed=2)
    result = trial_train(train, test, replace_metric(failure_demand(), "roc_auc"), seed=5)
    assert set(result.metrics) == {"balanced_accuracy", "macro_f1", "accuracy", "roc_auc"}
    assert result.value == result.metrics["roc_auc"] > 0.8  # probability of "1" ranks failures high
    assert result.params["seed"] == 5


def replace_metric(d: Demand, metric: str) -> Demand:
    return Demand.model_validate(d.model_dump() | {"metric": metric})


def test_trial_train_regression_torque_from_speed(ai4i: pl.DataFrame) -> None:
    d = demand(task="regression", label="Torque [Nm]", features=("Rotational speed [rpm]",))
    train, test = split(ai4i, seed=4)
    result = trial_train(train, test, d)
    assert result.model == "HistGradientBoostingRegressor"
    assert set(result.metrics) == {"mae", "rmse", "r2"}
    assert result.metric == "mae" and not result.higher_is_better
    assert result.metrics["r2"] > 0.5
    assert 0 < result.metrics["mae"] <= result.metrics["rmse"]
    assert abs(result.cv_mean - result.value) < 0.5 and result.cv_std >= 0
    assert better(result, result.value + 1.0) == pytest.approx(1.0)  # a lower error is an improvement
    worse = replace(result, value=result.value + 1.0)
    assert better(worse, result.value) == pytest.approx(-1.0)


def test_trial_train_anomaly_detection(ai4i: pl.DataFrame) -> None:
    d = demand(task="anomaly_detection", label="Machine failure", features=AI4I_FEATURES[1:])
    train, test = split(ai4i, seed=5)
    result = trial_train(train, test, d)
    assert result.model == "IsolationForest"
    assert result.metric == "roc_auc" and result.higher_is_better
    assert result.params["normal_class"] == "0"
    # failures sit at extreme torque, speed and wear, so the unsupervised score ranks them above chance
    assert 0.6 < result.value <= 1 and 0.5 < result.cv_mean <= 1
    assert trial_train(train, test, d) == result  # seeded: the same forest twice
    unlabelled = demand(task="anomaly_detection", features=AI4I_FEATURES[1:])
    with pytest.raises(ValueError, match="needs a `label`"):
        trial_train(train, test, unlabelled)


def test_trial_train_rejects_an_unknown_metric(ai4i: pl.DataFrame) -> None:
    d = demand(task="regression", label="Torque [Nm]", features=("Rotational speed [rpm]",), metric="mape")
    with pytest.raises(ValueError, match="available: mae, rmse, r2"):
        trial_train(ai4i.head(200), ai4i.tail(50), d)


def test_a_single_row_class_is_named_in_the_error() -> None:
    df = pl.DataFrame({"y": ["ok"] * 30 + ["rare"], "x": list(range(31))})
    with pytest.raises(ValueError, match=r"\['rare'\] have fewer than 2 rows"):
        trial_train(df, df, demand(task="classification", label="y", features=("x",)))


@pytest.mark.slow
def test_frozen_labels_are_the_yardstick_and_current_labels_are_reported_apart(steel: pl.DataFrame) -> None:
    features = tuple(c for c in steel.columns if c not in STEEL_CLASSES)
    d = demand(dataset="steel_plates_faults", task="classification", one_hot_labels=STEEL_CLASSES, features=features)
    train, test = split(steel, seed=3)
    truth = trial_train(train, test, d)
    frozen = pl.Series(["Pastry"] * test.height)  # a yardstick that disagrees with every other class
    scored = trial_train(train, test, d, frozen_labels=frozen)
    assert scored.current_metrics == truth.metrics and scored.current_value == truth.value  # the rows' own labels
    assert scored.metrics != truth.metrics and scored.value == scored.metrics["balanced_accuracy"]
    assert scored.noise >= scored.cv_std >= 0 and scored.cv_mean == truth.cv_mean  # the same fold models


def test_trial_training_fits_one_model_per_fold_and_stops_early_on_large_folds(ai4i: pl.DataFrame) -> None:
    train, test = split(ai4i, seed=8)
    result = trial_train(train, test, failure_demand())
    assert result.params["cv_folds"] == CV_FOLDS and result.params["early_stopping_rows"] == 2_000
    assert 0.5 < result.value <= 1 and result.noise >= result.cv_std


def test_importing_trial_fit_stays_cheap() -> None:
    code = (
        "import sys, pipelines.models.trial_fit; "
        "heavy = [m for m in ('sklearn', 'cleanlab', 'pandas', 'dagster') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
