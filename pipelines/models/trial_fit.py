"""Trial training: one fixed, seeded protocol per task, scored on a frozen evaluation set, with its noise.

The same protocol runs on every version of a dataset so that metric differences come from the data. The
training rows are cut into `CV_FOLDS` stratified (and grouped) folds; one model is fitted per fold, on
the other folds, and scored on the fold it did not see (the cross-validation spread) and on the
evaluation rows, with their frozen labels (the trial's value, the mean over the fold models) and with
the version's current labels (reported apart). No model is fitted twice. scikit-learn is imported
inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from pipelines.models.demand import Demand
from pipelines.models.learn import HGB_PARAMS, IFOREST_PARAMS, _categories, _encode, _group_ids, class_labels

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import BaseCrossValidator

CV_FOLDS = 3
# The gradient-boosted trees of a trial: the shared fixed parameters, with early stopping on a seeded
# 10 % of a fold's training rows once a fold has `EARLY_STOPPING_ROWS` rows (below that, 10 % is too few
# rows to judge by and every class may not be in it).
EARLY_STOPPING_ROWS = 2_000
TRIAL_HGB_PARAMS: dict[str, Any] = {**HGB_PARAMS, "validation_fraction": 0.1, "n_iter_no_change": 10}
HIGHER_IS_BETTER = {
    "balanced_accuracy": True,
    "macro_f1": True,
    "accuracy": True,
    "roc_auc": True,
    "average_precision": True,
    "mae": False,
    "rmse": False,
    "r2": True,
}
FIT_THREADS = 1  # OpenMP threads per fit (see `learn.FIT_THREADS`: one is fastest on shared cores)

Metrics = Callable[["BaseEstimator", np.ndarray, np.ndarray], dict[str, float]]


def trial_fingerprint() -> str:
    """The trial protocol's settings as text: a change here trains every trial again."""
    return json.dumps(
        {"hgb": TRIAL_HGB_PARAMS, "early_stopping_rows": EARLY_STOPPING_ROWS, "iforest": IFOREST_PARAMS, "cv_folds": CV_FOLDS},
        sort_keys=True,
        default=str,
    )


@dataclass(frozen=True)
class TrialResult:
    """The outcome of one trial training run.

    Attributes:
        task: The demand's task.
        model: Estimator class name, e.g. `HistGradientBoostingClassifier`.
        params: Hyper-parameters, seed and number of folds (JSON-serialisable).
        metric: The demand's primary metric.
        value: The primary metric on the evaluation rows with their frozen labels (mean over fold models).
        higher_is_better: Whether a larger `value` is better.
        metrics: Every metric of the task on the evaluation rows with the frozen labels.
        current_value: The primary metric on the same rows with their current labels.
        current_metrics: Every metric with the current labels.
        noise: The spread that a lift must exceed: the larger of the fold models' standard deviation on
            the evaluation rows and `cv_std`.
        cv_mean: Mean of the primary metric over the folds, each scored on the training rows it did not see.
        cv_std: Standard deviation (ddof 0) of the same.
        n_train: Training rows.
        n_test: Evaluation rows.
    """

    task: str
    model: str
    params: dict[str, Any]
    metric: str
    value: float
    higher_is_better: bool
    metrics: dict[str, float]
    current_value: float
    current_metrics: dict[str, float]
    noise: float
    cv_mean: float
    cv_std: float
    n_train: int
    n_test: int


@contextmanager
def _fit_threads() -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=FIT_THREADS, user_api="openmp"):
        yield


def _classification_metrics(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

    pred = estimator.predict(X)  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        # a class the model predicts but the split lacks is simply not averaged over; nothing to warn about
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true", category=UserWarning)
        balanced = balanced_accuracy_score(y, pred)
    out = {
        "balanced_accuracy": float(balanced),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0.0)),
        "accuracy": float(accuracy_score(y, pred)),
    }
    classes = list(estimator.classes_)  # type: ignore[attr-defined]
    if len(classes) == 2 and len(np.unique(y)) == 2:
        positive = max(classes)
        score = estimator.predict_proba(X)[:, classes.index(positive)]  # type: ignore[attr-defined]
        out["roc_auc"] = float(roc_auc_score(y == positive, score))
    return out


def _regression_metrics(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    pred = estimator.predict(X)  # type: ignore[attr-defined]
    return {
        "mae": float(mean_absolute_error(y, pred)),
        "rmse": float(root_mean_squared_error(y, pred)),
        "r2": float(r2_score(y, pred)),
    }


def _anomaly_metrics(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(np.unique(y)) < 2:
        return {}  # both normal and anomalous rows are needed to rank
    score = -estimator.score_samples(X)  # type: ignore[attr-defined]
    return {"roc_auc": float(roc_auc_score(y, score)), "average_precision": float(average_precision_score(y, score))}


def _available_metrics(task: str, n_classes: int) -> list[str]:
    if task == "classification":
        return ["balanced_accuracy", "macro_f1", "accuracy"] + (["roc_auc"] if n_classes == 2 else [])
    if task == "anomaly_detection":
        return ["roc_auc", "average_precision"]
    return ["mae", "rmse", "r2"]


@dataclass(frozen=True)
class _Setup:
    """What a task trains and how it is scored: estimator factory, targets, metric function."""

    make: Callable[[int], BaseEstimator]
    model: str
    params: dict[str, Any]
    y_train: np.ndarray
    y_frozen: np.ndarray
    y_current: np.ndarray
    metrics: Metrics
    stratify: bool
    n_classes: int


def _numeric(s: pl.Series, name: str) -> np.ndarray:
    s = s.cast(pl.Float64)
    if s.null_count() or s.is_nan().any():
        raise ValueError(f"label {name!r} has missing values; drop or fill them first")
    return s.to_numpy()


def _text(labels: pl.Series) -> np.ndarray:
    if labels.null_count():
        raise ValueError(f"the label has {labels.null_count()} null row(s); drop or fill them first")
    return labels.cast(pl.String).to_numpy().astype(object)


def _hgb(kind: str, seed: int) -> Callable[[int], BaseEstimator]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if kind == "classifier" else HistGradientBoostingRegressor

    def make(n_rows: int) -> BaseEstimator:
        return cls(random_state=seed, **TRIAL_HGB_PARAMS | {"early_stopping": n_rows >= EARLY_STOPPING_ROWS})

    return make


def _setup(train: pl.DataFrame, test: pl.DataFrame, frozen: pl.Series | None, demand: Demand, seed: int) -> _Setup:
    from sklearn.ensemble import IsolationForest

    hgb = {**TRIAL_HGB_PARAMS, "early_stopping_rows": EARLY_STOPPING_ROWS}
    if demand.task in ("regression", "forecasting"):
        assert demand.label is not None  # guaranteed by Demand's validator
        current = _numeric(test[demand.label], demand.label)
        y_frozen = current if frozen is None else _numeric(frozen, demand.label)
        y_train = _numeric(train[demand.label], demand.label)
        return _Setup(_hgb("regressor", seed), "HistGradientBoostingRegressor", hgb, y_train, y_frozen, current,
                      _regression_metrics, False, 0)  # fmt: skip
    if not demand.label_columns:
        raise ValueError(f"anomaly detection demand {demand.name!r} needs a `label` to score the detector against")
    y_train, current = _text(class_labels(train, demand)), _text(class_labels(test, demand))
    y_frozen = current if frozen is None else _text(frozen)
    if demand.task == "classification":
        n = len(np.unique(y_train))
        return _Setup(_hgb("classifier", seed), "HistGradientBoostingClassifier", hgb, y_train, y_frozen, current,
                      _classification_metrics, True, n)  # fmt: skip
    values, counts = np.unique(y_train, return_counts=True)
    normal = values[int(np.argmax(counts))]  # the most frequent class; ties go to the first name in sort order
    params = {**IFOREST_PARAMS, "normal_class": str(normal)}

    def forest(_: int) -> BaseEstimator:
        return IsolationForest(random_state=seed, **IFOREST_PARAMS)

    return _Setup(forest, "IsolationForest", params, y_train != normal, y_frozen != normal, current != normal,
                  _anomaly_metrics, True, 2)  # fmt: skip


def _folds(setup: _Setup, seed: int, groups: np.ndarray | None) -> BaseCrossValidator:
    """`CV_FOLDS` folds of the training rows (fewer if the rarest class is smaller), grouped and stratified where it applies."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    n = CV_FOLDS
    if setup.stratify:
        names, counts = np.unique(setup.y_train, return_counts=True)
        if len(names) < 2:
            raise ValueError("trial training needs at least two classes in the training rows")
        if counts.min() < 2:
            rare = [str(c) for c in names[counts < 2]]
            raise ValueError(
                f"class(es) {rare} have fewer than 2 rows; "
                "every class needs at least 2 rows for cross-validation (drop or merge the rare classes)"
            )
        n = int(min(n, counts.min()))
    if groups is not None:
        if setup.stratify:
            return StratifiedGroupKFold(n, shuffle=True, random_state=seed)
        return GroupKFold(n, shuffle=True, random_state=seed)
    return StratifiedKFold(n, shuffle=True, random_state=seed) if setup.stratify else KFold(n, shuffle=True, random_state=seed)


def _mean(scores: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in scores[0] if all(k in s for s in scores)]
    return {k: float(np.mean([s[k] for s in scores])) for k in keys}


def trial_train(
    train: pl.DataFrame,
    test: pl.DataFrame,
    demand: Demand,
    *,
    seed: int | None = None,
    groups: Sequence[str] = (),
    frozen_labels: pl.Series | None = None,
) -> TrialResult:
    """Train by the fixed protocol on `train`, score on `test` with its frozen and its current labels.

    The protocol, identical for every dataset version so that metric differences come from the data:

    * seed: `seed`, else `demand.split.seed`; it seeds the models and the folds. Fits run single-threaded.
    * features: `feature_matrix` of `demand.features`; text categories are coded from the training rows
      (a test value unseen in training becomes NaN).
    * folds: `CV_FOLDS` folds of the training rows (grouped by `groups`, stratified for classification and
      anomaly detection, shuffled with the seed; fewer if the rarest class is smaller). One model per fold.
    * classification: `HistGradientBoostingClassifier(random_state=seed, **TRIAL_HGB_PARAMS)` on the string
      class of `class_labels`, early stopping from `EARLY_STOPPING_ROWS` training rows; metrics
      `balanced_accuracy`, `macro_f1`, `accuracy`, and with two classes `roc_auc` of the probability of the
      larger class name in sort order (e.g. `"1"`).
    * regression / forecasting: `HistGradientBoostingRegressor` the same way on the numeric label; metrics
      `mae`, `rmse` (lower is better) and `r2`.
    * anomaly_detection: `IsolationForest(random_state=seed, **IFOREST_PARAMS)` on the features alone; the
      anomaly score is `-score_samples`; a row is anomalous when its class differs from the most frequent
      training class; metrics `roc_auc` and `average_precision`. Needs a label.
    * scores: every metric is the mean over the fold models on `test`; `noise` is the larger of their
      standard deviation and that of the folds' scores on the rows each did not see (`cv_std`).

    Args:
        train: Training rows (never the evaluation rows).
        test: Evaluation rows.
        demand: The demand: task, label, features, primary metric.
        seed: Seed override.
        groups: Columns whose value combination must stay within one fold.
        frozen_labels: The evaluation rows' frozen labels, one per row of `test` (class text, or the numeric
            value); None scores on `test`'s own labels only.

    Returns:
        The trial's result.

    Raises:
        ValueError: If the primary metric is not one the task reports (the message lists them), an anomaly
            detection demand has no label, a label has nulls, a class is too rare for the folds, or the
            evaluation rows cannot give the metric (a single class).
    """
    seed = demand.split.seed if seed is None else seed
    setup = _setup(train, test, frozen_labels, demand, seed)
    metric = demand.primary_metric
    available = _available_metrics(demand.task, setup.n_classes)
    if metric not in available:
        raise ValueError(f"unknown metric {metric!r} for a {demand.task} trial; available: {', '.join(available)}")
    categories = _categories(train, demand.features)
    X_train, X_test = _encode(train, demand.features, categories), _encode(test, demand.features, categories)
    group_ids = _group_ids(train, groups)
    held, frozen, current = [], [], []
    with _fit_threads():
        for fit_rows, held_rows in _folds(setup, seed, group_ids).split(X_train, setup.y_train, groups=group_ids):
            model = setup.make(len(fit_rows)).fit(X_train[fit_rows], setup.y_train[fit_rows])  # type: ignore[attr-defined]
            held.append(setup.metrics(model, X_train[held_rows], setup.y_train[held_rows]).get(metric, float("nan")))
            frozen.append(setup.metrics(model, X_test, setup.y_frozen))
            current.append(setup.metrics(model, X_test, setup.y_current))
    metrics, current_metrics = _mean(frozen), _mean(current)
    if metric not in metrics or metric not in current_metrics:
        raise ValueError(f"metric {metric!r} cannot be computed on the evaluation rows (they hold a single class)")
    cv_scores = np.asarray(held, dtype=np.float64)
    spread = float(np.std([f[metric] for f in frozen]))
    cv_std = float(np.nanstd(cv_scores))
    return TrialResult(
        task=demand.task,
        model=setup.model,
        params={**setup.params, "seed": seed, "cv_folds": len(frozen)},
        metric=metric,
        value=metrics[metric],
        higher_is_better=HIGHER_IS_BETTER[metric],
        metrics=metrics,
        current_value=current_metrics[metric],
        current_metrics=current_metrics,
        noise=max(spread, cv_std),
        cv_mean=float(np.nanmean(cv_scores)),
        cv_std=cv_std,
        n_train=train.height,
        n_test=test.height,
    )


def better(a: TrialResult, b_value: float) -> float:
    """Signed improvement of `a.value` over `b_value`: positive when `a` is better, whatever the metric's direction.

    Args:
        a: A trial result.
        b_value: The same metric from another trial.

    Returns:
        `a.value - b_value` when higher is better, else `b_value - a.value`.
    """
    return a.value - b_value if a.higher_is_better else b_value - a.value


__all__ = ["CV_FOLDS", "HIGHER_IS_BETTER", "TrialResult", "better", "trial_fingerprint", "trial_train"]
