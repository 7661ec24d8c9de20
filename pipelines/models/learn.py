"""Learning from a demand: class labels and feature matrices, shared by trials (`trial_fit`) and the detector.

Everything here is plain functions over polars frames and a `Demand` (no Dagster). scikit-learn is
imported inside the functions that use them, so importing this module stays cheap. The label-issue
detector's learning lives in `label_issues`.

* `trial_fit.trial_train`: one fixed, seeded protocol per task, scored on a frozen evaluation set, so two
  dataset versions can be compared fairly.
* `label_issues.find_label_issues`: the label-issue detector, on out-of-fold probabilities.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from pipelines.models.demand import Demand

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

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

# OpenMP threads per fit. One thread is faster on tables of this size and immune to the collapse of
# OpenMP's spin-waiting when other jobs share the cores (a 60-row fit took seconds on a busy 2-core box).
FIT_THREADS = 1


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
