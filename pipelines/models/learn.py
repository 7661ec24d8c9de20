"""Learning from a demand: class labels, feature matrices and trial training.

Everything here is plain functions over polars frames and a `Demand` (no Dagster). scikit-learn is
imported inside the functions that use them, so importing this module stays cheap. The label-issue
detector's learning lives in `label_issues`.

* `trial_train`: one fixed, seeded training protocol per task, scored on a held-out split, with a k-fold
  estimate of the metric's noise on the training rows, so two dataset versions can be compared fairly.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from pipelines.models.demand import Demand

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import BaseCrossValidator

NO_CLASS = "none"
MANY_CLASSES = "multiple"
CV_FOLDS = 3
# Fixed hyper-parameters of the gradient-boosted trees (sklearn's defaults, with early stopping off so the
# number of trees never depends on the row count or an internal validation split).
HGB_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_iter": 100,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
    "early_stopping": False,
}
# Fixed hyper-parameters of the isolation forest (sklearn's defaults, spelt out).
IFOREST_PARAMS: dict[str, Any] = {"n_estimators": 100, "max_samples": "auto", "contamination": "auto"}
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

# OpenMP threads per fit. One thread is faster on tables of this size and immune to the collapse of
# OpenMP's spin-waiting when other jobs share the cores (a 60-row fit took seconds on a busy 2-core box).
FIT_THREADS = 1

Metrics = Callable[["BaseEstimator", np.ndarray, np.ndarray], dict[str, float]]


def protocol_fingerprint() -> str:
    """The fixed protocol's settings as text: a change here makes trials and detections run again."""
    import json

    return json.dumps({"hgb": HGB_PARAMS, "iforest": IFOREST_PARAMS, "cv_folds": CV_FOLDS}, sort_keys=True, default=str)


def class_labels(df: pl.DataFrame, demand: Demand) -> pl.Series:
    """The class of every row as a string.

    With `label`, the value as text (integers as `"0"`, `"1"`; integral floats too; booleans as `"True"`,
    `"False"`; nulls stay null). With `one_hot_labels`, the name of the column holding 1, `"none"` if no
    column holds 1 and `"multiple"` if more than one does (nulls count as 0).

    Args:
        df: The rows.
        demand: The demand naming the label column(s).

    Returns:
        A string series named `class`, one value per row of `df`.

    Raises:
        ValueError: If the demand has no label.
    """
    if demand.one_hot_labels:
        return _one_hot_classes(df, demand.one_hot_labels)
    if not demand.label:
        raise ValueError(f"demand {demand.name!r} has no `label` or `one_hot_labels`")
    return _label_text(df[demand.label]).alias("class")


def _label_text(s: pl.Series) -> pl.Series:
    if s.dtype == pl.Boolean:
        return s.replace_strict({True: "True", False: "False"}, return_dtype=pl.String)
    if s.dtype.is_float():
        finite = s.drop_nulls().drop_nans()
        if finite.len() and bool((finite == finite.round(0)).all()) and bool((finite.abs() < 2**53).all()):
            return s.cast(pl.Int64).cast(pl.String)
    return s.cast(pl.String)


def _one_hot_classes(df: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    hot = [pl.col(c).cast(pl.Float64).fill_null(0) == 1 for c in columns]
    count = pl.sum_horizontal([h.cast(pl.Int32) for h in hot])
    name = pl.coalesce([pl.when(h).then(pl.lit(c)) for c, h in zip(columns, hot, strict=True)])
    expr = pl.when(count == 0).then(pl.lit(NO_CLASS)).when(count > 1).then(pl.lit(MANY_CLASSES)).otherwise(name)
    return df.select(expr.alias("class")).to_series()


def feature_matrix(df: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The features as a float64 matrix, one row per row of `df`.

    Numeric and boolean columns are taken as they are; temporal columns as their physical integer
    (e.g. microseconds since the epoch); string, categorical and enum columns as ordinal codes of their
    sorted distinct values (so the encoding depends only on the values, not on row order). Nulls become
    NaN, which the tree models used here handle natively.

    Args:
        df: The rows.
        features: Feature column names, in matrix column order.

    Returns:
        An array of shape `(df.height, len(features))`.

    Raises:
        TypeError: If a feature column has a nested type (list, struct, ...).
    """
    return _encode(df, features, _categories(df, features))


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def _categories(df: pl.DataFrame, features: Sequence[str]) -> dict[str, list[str]]:
    """Sorted distinct values of every text feature: the ordinal code of a value is its position."""
    return {c: sorted(df[c].cast(pl.String).drop_nulls().unique().to_list()) for c in features if _is_text(df.schema[c])}


def _encode(df: pl.DataFrame, features: Sequence[str], categories: dict[str, list[str]]) -> np.ndarray:
    """Encode `features` with the given text categories (a value outside them becomes NaN)."""
    columns = [_encode_column(df[c], categories.get(c)) for c in features]
    if not columns:
        return np.empty((df.height, 0), dtype=np.float64)
    return np.column_stack(columns).astype(np.float64, copy=False)


def _encode_column(s: pl.Series, categories: list[str] | None) -> np.ndarray:
    if categories is not None:
        codes = {v: float(i) for i, v in enumerate(categories)}
        s = s.cast(pl.String).replace_strict(codes, default=None, return_dtype=pl.Float64)
    elif s.dtype.is_temporal():
        s = s.to_physical()
    elif s.dtype.is_nested() or s.dtype in (pl.Binary, pl.Object):
        raise TypeError(f"feature {s.name!r} has type {s.dtype}, which cannot be a model feature")
    return s.cast(pl.Float64).fill_null(float("nan")).to_numpy()


def _group_ids(df: pl.DataFrame, groups: Sequence[str]) -> np.ndarray | None:
    """One integer per row naming its group (the combination of the `groups` columns), or None."""
    if not groups:
        return None
    key = pl.concat_str([pl.col(c).cast(pl.String).fill_null("\x00null") for c in groups], separator="\x1f")
    return df.select(key.rank("dense")).to_series().to_numpy().astype(np.int64)


@contextmanager
def _fit_threads() -> Iterator[None]:
    """Limit OpenMP (used by scikit-learn's histogram gradient boosting) to `FIT_THREADS` threads."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=FIT_THREADS, user_api="openmp"):
        yield


def _hgb_classifier(seed: int) -> BaseEstimator:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed, **HGB_PARAMS)


def _usable_folds(y_codes: np.ndarray, folds: int, names: Sequence[str] | None = None) -> int:
    """The number of stratified folds the rarest class allows (at most `folds`, at least 2).

    `names[code]` names a class in error messages.
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    counts = np.bincount(y_codes)
    if len(counts) < 2:
        raise ValueError("out-of-fold probabilities need at least two classes")
    if counts.min() < 2:
        rare = [names[c] if names is not None else c for c in np.flatnonzero(counts < 2).tolist()]
        raise ValueError(
            f"class(es) {rare} have fewer than 2 rows; "
            "every class needs at least 2 rows for cross-validation (drop or merge the rare classes)"
        )
    return int(min(folds, counts.min()))


@dataclass(frozen=True)
class TrialResult:
    """The outcome of one trial training run.

    Attributes:
        task: The demand's task.
        model: Estimator class name, e.g. `HistGradientBoostingClassifier`.
        params: Hyper-parameters and seed (JSON-serialisable).
        metric: The demand's primary metric.
        value: The primary metric on the test split.
        higher_is_better: Whether a larger `value` is better.
        metrics: Every metric of the task on the test split.
        cv_mean: Mean of the primary metric over k-fold CV on the training rows (a noise estimate).
        cv_std: Standard deviation (ddof 0) of the same.
        n_train: Training rows.
        n_test: Test rows.
    """

    task: str
    model: str
    params: dict[str, Any]
    metric: str
    value: float
    higher_is_better: bool
    metrics: dict[str, float]
    cv_mean: float
    cv_std: float
    n_train: int
    n_test: int


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
        raise ValueError("anomaly metrics need both normal and anomalous rows in the split")
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
    """What a task trains and how it is scored: estimator, targets, metric function."""

    estimator: BaseEstimator
    params: dict[str, Any]
    y_train: np.ndarray
    y_test: np.ndarray
    metrics: Metrics
    stratify: bool
    n_classes: int


def _numeric_label(df: pl.DataFrame, label: str) -> np.ndarray:
    s = df[label].cast(pl.Float64)
    if s.null_count() or s.is_nan().any():
        raise ValueError(f"label {label!r} has missing values; drop or fill them first")
    return s.to_numpy()


def _text_label(df: pl.DataFrame, demand: Demand) -> np.ndarray:
    labels = class_labels(df, demand)
    if labels.null_count():
        raise ValueError(f"the label has {labels.null_count()} null row(s); drop or fill them first")
    return labels.to_numpy().astype(object)


def _setup(train: pl.DataFrame, test: pl.DataFrame, demand: Demand, seed: int) -> _Setup:
    from sklearn.ensemble import HistGradientBoostingRegressor, IsolationForest

    if demand.task == "classification":
        y_train, y_test = _text_label(train, demand), _text_label(test, demand)
        n = len(np.unique(y_train))
        return _Setup(_hgb_classifier(seed), dict(HGB_PARAMS), y_train, y_test, _classification_metrics, True, n)
    if demand.task in ("regression", "forecasting"):
        assert demand.label is not None  # guaranteed by Demand's validator
        model = HistGradientBoostingRegressor(random_state=seed, **HGB_PARAMS)
        y_train, y_test = _numeric_label(train, demand.label), _numeric_label(test, demand.label)
        return _Setup(model, dict(HGB_PARAMS), y_train, y_test, _regression_metrics, False, 0)
    if not demand.label_columns:
        raise ValueError(f"anomaly detection demand {demand.name!r} needs a `label` to score the detector against")
    text_train, text_test = _text_label(train, demand), _text_label(test, demand)
    values, counts = np.unique(text_train, return_counts=True)
    normal = values[int(np.argmax(counts))]  # the most frequent class; ties go to the first name in sort order
    model = IsolationForest(random_state=seed, **IFOREST_PARAMS)
    params = {**IFOREST_PARAMS, "normal_class": str(normal)}
    return _Setup(model, params, text_train != normal, text_test != normal, _anomaly_metrics, True, 2)


def _cross_validate(setup: _Setup, X: np.ndarray, metric: str, seed: int, groups: np.ndarray | None) -> np.ndarray:
    """The primary metric over `CV_FOLDS`-fold CV of the training rows (grouped, stratified where it applies)."""
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold, cross_val_score

    n_splits = CV_FOLDS
    if setup.stratify:
        names, y_codes = np.unique(setup.y_train, return_inverse=True)
        n_splits = _usable_folds(y_codes, CV_FOLDS, [str(n) for n in names])
    cv: BaseCrossValidator
    if groups is not None:
        cv = (
            StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
            if setup.stratify
            else GroupKFold(n_splits, shuffle=True, random_state=seed)
        )
    else:
        cv = (
            StratifiedKFold(n_splits, shuffle=True, random_state=seed)
            if setup.stratify
            else KFold(n_splits, shuffle=True, random_state=seed)
        )

    def score(estimator: BaseEstimator, X_fold: np.ndarray, y_fold: np.ndarray) -> float:
        return setup.metrics(estimator, X_fold, y_fold)[metric]

    scores = cross_val_score(clone(setup.estimator), X, setup.y_train, groups=groups, cv=cv, scoring=score, error_score="raise")
    return np.asarray(scores, dtype=np.float64)


def trial_train(
    train: pl.DataFrame, test: pl.DataFrame, demand: Demand, *, seed: int | None = None, groups: Sequence[str] = ()
) -> TrialResult:
    """Train one model by a fixed protocol on `train`, score it on `test`.

    The protocol, identical for every dataset version so that metric differences come from the data:

    * seed: `seed`, else `demand.split.seed`; it seeds the model and the CV folds. Fits run single-threaded.
    * features: `feature_matrix` of `demand.features`; text categories are coded from the training rows
      (a test value unseen in training becomes NaN).
    * classification: `HistGradientBoostingClassifier(random_state=seed, **HGB_PARAMS)` on the string class
      of `class_labels`; metrics `balanced_accuracy`, `macro_f1`, `accuracy`, and with two classes `roc_auc`
      of the predicted probability of the larger class name in sort order (e.g. `"1"`).
    * regression / forecasting: `HistGradientBoostingRegressor(random_state=seed, **HGB_PARAMS)` on the numeric
      label; metrics `mae`, `rmse` (lower is better) and `r2`.
    * anomaly_detection: `IsolationForest(random_state=seed, **IFOREST_PARAMS)` fitted on the training features
      alone; the anomaly score is `-score_samples`; a row is anomalous when its class differs from the most
      frequent training class; metrics `roc_auc` and `average_precision` of the score. Needs a label.
    * noise: `CV_FOLDS`-fold CV of the primary metric on the training rows only (grouped by `groups`,
      stratified for classification and anomaly detection, shuffled with the seed; fewer folds if the
      rarest class is smaller) gives `cv_mean` and `cv_std`.

    Args:
        train: Training rows.
        test: Held-out rows.
        demand: The demand: task, label, features, primary metric.
        seed: Seed override.
        groups: Columns whose value combination must stay within one CV fold.

    Returns:
        The trial's result.

    Raises:
        ValueError: If the primary metric is not one the task reports (the message lists them), an
            anomaly detection demand has no label, a label has nulls, or a class is too rare for CV.
    """
    from sklearn.base import clone

    seed = demand.split.seed if seed is None else seed
    setup = _setup(train, test, demand, seed)
    metric = demand.primary_metric
    available = _available_metrics(demand.task, setup.n_classes)
    if metric not in available:
        raise ValueError(f"unknown metric {metric!r} for a {demand.task} trial; available: {', '.join(available)}")
    categories = _categories(train, demand.features)
    X_train, X_test = _encode(train, demand.features, categories), _encode(test, demand.features, categories)
    with _fit_threads():
        cv_scores = _cross_validate(setup, X_train, metric, seed, _group_ids(train, groups))
        model = clone(setup.estimator).fit(X_train, setup.y_train)
        metrics = setup.metrics(model, X_test, setup.y_test)
    if metric not in metrics:
        raise ValueError(f"metric {metric!r} cannot be computed on this test split (it has a single class)")
    return TrialResult(
        task=demand.task,
        model=type(setup.estimator).__name__,
        params={**setup.params, "seed": seed, "cv_folds": len(cv_scores)},
        metric=metric,
        value=metrics[metric],
        higher_is_better=HIGHER_IS_BETTER[metric],
        metrics=metrics,
        cv_mean=float(cv_scores.mean()),
        cv_std=float(cv_scores.std()),
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
