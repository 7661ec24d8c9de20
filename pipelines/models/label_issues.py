"""The label-issue detector's learning: out-of-fold probabilities, per-class calibration, ranking, class caps, evidence.

Plain functions over polars frames and a `Demand` (no Dagster); scikit-learn and cleanlab are imported
inside the functions that use them.

* `out_of_fold_probabilities`: one `HistGradientBoostingClassifier` fit per fold (stratified, grouped when
  the demand has entities), early stopping on large tables; on small tables more folds and the average with
  an `ExtraTreesClassifier`; rows of a class the fold's training part lacks are marked unjudged (a model
  that never saw a class cannot doubt it).
* `calibrate`: per-class isotonic calibration of those probabilities, cross-fitted over the same folds.
* `find_label_issues`: the rows cleanlab estimates to be mislabelled, lowest self-confidence first; each
  carries its evidence (calibrated probabilities of the given and the suggested class, nearest rows of the
  suggested class).
* `select`: the review list of a run: at most `max_proposals` rows, and proposals move at most
  `max_class_share` of any class; the rest of the list is held back, with its scores, not hidden.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from pipelines.models.demand import Demand, DetectorSpec
from pipelines.models.learn import HGB_PARAMS, _fit_threads, _group_ids, _usable_folds, class_labels, feature_matrix

if TYPE_CHECKING:
    from sklearn.model_selection import BaseCrossValidator

DETECTOR_FOLDS = 3
# The baseline's trees, with early stopping on large tables (sklearn's "auto": above 10,000 rows), one fit per fold.
DETECTOR_HGB: dict[str, Any] = {**HGB_PARAMS, "early_stopping": "auto", "n_iter_no_change": 10, "validation_fraction": 0.1}
# Below this many rows a fold's model sees little: more folds, and the trees' probabilities are averaged with
# extremely randomised trees' (on the steel plates, 1,941 rows, both raise the flips found; bench/detector_steel.py).
SMALL_TABLE_ROWS = 3_000  # where fold models see few rows; the extra fits cost ~3 s of CPU per 1,000 rows of 50 features
SMALL_TABLE_FOLDS = 5
SMALL_TABLE_EXTRA_TREES: dict[str, Any] = {"n_estimators": 100, "min_samples_leaf": 1, "max_features": "sqrt"}
RANKING = "low_self_confidence"  # cleanlab's filter: its estimated number of issues, lowest self-confidence first
_FLOOR = 1e-6


def detector_fingerprint() -> str:
    """The detector's fixed settings as text: a change here makes detections run again."""
    import json

    return json.dumps(
        {
            "hgb": DETECTOR_HGB, "folds": DETECTOR_FOLDS, "calibration": "isotonic per class", "ranking": RANKING,
            "small_table": {"rows": SMALL_TABLE_ROWS, "folds": SMALL_TABLE_FOLDS, "extra_trees": SMALL_TABLE_EXTRA_TREES},
        },
        sort_keys=True,
    )  # fmt: skip


def detector_folds(rows: int) -> int:
    """Folds the detector uses on a table of `rows` rows: `SMALL_TABLE_FOLDS` below `SMALL_TABLE_ROWS`, else `DETECTOR_FOLDS`."""
    return SMALL_TABLE_FOLDS if rows < SMALL_TABLE_ROWS else DETECTOR_FOLDS


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold class probabilities and what they can judge.

    Attributes:
        probs: Shape `(n, k)`; column `j` is class code `j`; each row from a model that never saw the row.
        fold: The fold of every row.
        judged: False for rows whose class the fold's training part lacked (their probabilities say nothing).
    """

    probs: np.ndarray
    fold: np.ndarray
    judged: np.ndarray


def out_of_fold_probabilities(
    X: np.ndarray,
    y_codes: np.ndarray,
    *,
    seed: int,
    folds: int = DETECTOR_FOLDS,
    groups: np.ndarray | None = None,
    extra_trees: bool = False,
) -> OutOfFold:
    """Class probabilities of every row from a model that never saw that row (nor, with `groups`, its group).

    `HistGradientBoostingClassifier(random_state=seed, **DETECTOR_HGB)`, one fit per fold of a
    `StratifiedGroupKFold` (with `groups`) or `StratifiedKFold`, shuffled with `seed`, single-threaded.
    With `extra_trees`, each fold also fits `ExtraTreesClassifier(random_state=seed, **SMALL_TABLE_EXTRA_TREES)`
    and the two models' probabilities are averaged. Fewer folds when the rarest class is smaller than `folds`.

    Args:
        X: Feature matrix, shape `(n, d)`.
        y_codes: Class codes `0 .. k-1`, every code present.
        seed: Seed of the models and of the fold shuffle.
        folds: Number of folds wanted (at least 2).
        groups: Optional group id per row.
        extra_trees: Average with extremely randomised trees (worth its cost on small tables).

    Returns:
        The probabilities, each row's fold, and which rows could be judged.

    Raises:
        ValueError: If there are fewer than two classes, a class has a single row, or fewer groups than folds.
    """
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y_codes = np.asarray(y_codes, dtype=np.int64)
    k = int(y_codes.max()) + 1
    n_splits = _usable_folds(y_codes, folds)
    cv: BaseCrossValidator
    if groups is not None:
        if len(np.unique(groups)) < n_splits:
            raise ValueError(f"{len(np.unique(groups))} group(s) cannot make {n_splits} folds")
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    probs = np.zeros((len(y_codes), k))
    fold = np.zeros(len(y_codes), dtype=np.int64)
    judged = np.ones(len(y_codes), dtype=bool)
    with _fit_threads():
        for i, (train, test) in enumerate(cv.split(X, y_codes, groups)):
            fold[test] = i
            seen = np.unique(y_codes[train])
            judged[test] = np.isin(y_codes[test], seen)
            models: list[Any] = [HistGradientBoostingClassifier(random_state=seed, **DETECTOR_HGB)]
            if extra_trees:
                models.append(ExtraTreesClassifier(random_state=seed, n_jobs=1, **SMALL_TABLE_EXTRA_TREES))
            for model in models:
                model.fit(X[train], y_codes[train])
                probs[np.ix_(test, model.classes_)] += model.predict_proba(X[test]) / len(models)
    return OutOfFold(probs, fold, judged)


def calibrate(probs: np.ndarray, y_codes: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Per-class isotonic calibration of out-of-fold probabilities, cross-fitted over the folds.

    For class `j` and fold `f`, an `IsotonicRegression` maps `probs[:, j]` to the frequency of class `j`
    on the other folds' rows and is applied to fold `f`, kept within `[1 / (n + 1), 1 - 1 / (n + 1)]` for the
    `n` rows of class `j` on those folds (so no calibrated probability is a certainty); rows are then
    renormalised to sum to 1. A score of 0.99 that is right 80 % of the time becomes about 0.8.

    Args:
        probs: Out-of-fold probabilities, shape `(n, k)`.
        y_codes: Given class codes.
        fold: Fold of every row.

    Returns:
        Calibrated probabilities, same shape, rows summing to 1.
    """
    from sklearn.isotonic import IsotonicRegression

    out = np.empty_like(probs)
    for f in np.unique(fold):
        here, rest = fold == f, fold != f
        for j in range(probs.shape[1]):
            hits = (y_codes[rest] == j).astype(np.float64)
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(probs[rest, j], hits)
            # n rows of a class cannot show a frequency below about 1 / (n + 1): no calibrated certainty
            low = 1.0 / (hits.sum() + 1.0) if hits.any() else 0.0
            out[here, j] = np.clip(iso.predict(probs[here, j]), low, 1.0 - low)
    out = np.clip(out, _FLOOR, None)
    return out / out.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class LabelIssue:
    """One row whose given class an out-of-fold model doubts, with the evidence.

    Attributes:
        index: Row position in the frame passed to `find_label_issues`.
        given: The class as labelled.
        candidate: The most believed other class.
        suggested: `candidate` when its calibrated probability reaches the demand's threshold, else None
            (the row is shown for review without a suggested class).
        p_given: Calibrated out-of-fold probability of `given`.
        p_candidate: Calibrated out-of-fold probability of `candidate`.
        self_confidence: Uncalibrated out-of-fold probability of `given` (cleanlab's ranking score).
        neighbours: Row positions of the nearest rows labelled `candidate` (scaled features), nearest first.
    """

    index: int
    given: str
    candidate: str
    suggested: str | None
    p_given: float
    p_candidate: float
    self_confidence: float
    neighbours: tuple[int, ...] = ()


@dataclass(frozen=True)
class Detection:
    """What the detector found on one frame for one demand.

    Attributes:
        issues: Every row confident learning flags, most likely wrong first (evidence on the first ones only).
        classes: Class names; `class_counts[i]` rows carry `classes[i]`.
        class_counts: Rows per class.
        unjudged: Rows whose class the fold's training part lacked (never flagged).
        codes: Class code of every row (position in `classes`).
        scaled: Standardised, median-imputed features of every row (for the neighbour evidence).
    """

    issues: list[LabelIssue]
    classes: list[str]
    class_counts: list[int]
    unjudged: int = 0
    codes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64), repr=False, compare=False)
    scaled: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False, compare=False)


def _codes(labels: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Class codes by sorted class name, and the class names."""
    if labels.null_count():
        raise ValueError(f"the label has {labels.null_count()} null row(s); drop or fill them first")
    classes = sorted(labels.unique().to_list())
    codes = labels.replace_strict({c: i for i, c in enumerate(classes)}, return_dtype=pl.Int64).to_numpy()
    return codes, classes


def _scaled(X: np.ndarray) -> np.ndarray:
    """Features standardised after median imputation (a column of NaN only becomes 0)."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    if X.shape[1] == 0:
        return X
    return np.asarray(StandardScaler().fit_transform(SimpleImputer(strategy="median", keep_empty_features=True).fit_transform(X)))


def _neighbours(
    Z: np.ndarray, y: np.ndarray, rows: list[int], targets: list[int], flagged: set[int], k: int
) -> list[tuple[int, ...]]:
    """For each `rows[i]`, the `k` nearest unflagged rows of class `targets[i]` in the scaled feature space `Z`."""
    from sklearn.neighbors import NearestNeighbors

    out: list[tuple[int, ...]] = [() for _ in rows]
    if k == 0 or not rows or Z.shape[1] == 0:
        return out
    clean = np.ones(len(y), dtype=bool)
    clean[list(flagged)] = False
    for target in sorted(set(targets)):
        pool = np.flatnonzero((y == target) & clean)
        asking = [i for i, t in enumerate(targets) if t == target]
        if not len(pool):
            continue
        nn = NearestNeighbors(n_neighbors=min(k, len(pool))).fit(Z[pool])
        _, idx = nn.kneighbors(Z[[rows[i] for i in asking]])
        for i, near in zip(asking, idx, strict=True):
            out[i] = tuple(int(pool[j]) for j in near)
    return out


def find_label_issues(
    df: pl.DataFrame,
    demand: Demand,
    *,
    seed: int = 0,
    folds: int | None = None,
    groups: Sequence[str] = (),
    extra_features: Sequence[str] = (),
) -> Detection:
    """Rows that are probably mislabelled, most likely wrong first (confident learning), with evidence.

    Out-of-fold probabilities (grouped by the `groups` columns; on tables under `SMALL_TABLE_ROWS` rows,
    `SMALL_TABLE_FOLDS` folds and averaged with extremely randomised trees) go to
    `cleanlab.filter.find_label_issues(..., filter_by="low_self_confidence", return_indices_ranked_by="self_confidence")`:
    cleanlab's estimated number of mislabelled rows, lowest out-of-fold probability of the given class first;
    rows the folds could not judge are dropped. Each issue's candidate is the other class with the highest
    calibrated probability; it is suggested when that probability reaches the demand's
    `min_suggestion_probability`. Deterministic for a seed.

    Args:
        df: The rows (features and label columns of `demand`).
        demand: A classification demand.
        seed: Seed of the model and of the folds.
        folds: Number of cross-validation folds (default: `detector_folds` of the row count, at most the
            number of groups but not below `DETECTOR_FOLDS`).
        groups: Columns whose value combination must stay within one fold (e.g. a run or an entity).
        extra_features: Further columns the model reads besides `demand.features` (e.g. label-related flags).

    Returns:
        The detection.

    Raises:
        ValueError: If the demand is not a classification demand, the label has nulls, or a class has a single row.
    """
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues

    if demand.task != "classification":
        raise ValueError(f"label issues need a classification demand; {demand.name!r} is {demand.task}")
    settings = demand.detector_settings
    y, classes = _codes(class_labels(df, demand))
    group_ids = _group_ids(df, groups)
    if folds is None:  # more folds on a small table, as far as its groups allow (never fewer than before)
        folds = detector_folds(len(y))
        if group_ids is not None:
            folds = max(DETECTOR_FOLDS, min(folds, len(np.unique(group_ids))))
    _usable_folds(y, folds, classes)  # fail with the class names, not their codes
    features = list(dict.fromkeys([*demand.features, *extra_features]))
    X = feature_matrix(df, features)
    small = len(y) < SMALL_TABLE_ROWS
    oof = out_of_fold_probabilities(X, y, seed=seed, folds=folds, groups=group_ids, extra_trees=small)
    cal = calibrate(oof.probs, y, oof.fold)
    ranked = cleanlab_find_label_issues(y, oof.probs, filter_by=RANKING, return_indices_ranked_by="self_confidence", n_jobs=1)
    ranked = [i for i in np.asarray(ranked, dtype=np.int64).tolist() if oof.judged[i]]
    other = cal.copy()
    other[np.arange(len(y)), y] = -1.0
    best = np.argmax(other, axis=1)
    issues = []
    for i in ranked:
        cand = int(best[i])
        p_cand = float(cal[i, cand])
        issues.append(
            LabelIssue(
                index=i,
                given=classes[int(y[i])],
                candidate=classes[cand],
                suggested=classes[cand] if p_cand >= settings.min_suggestion_probability else None,
                p_given=float(cal[i, int(y[i])]),
                p_candidate=p_cand,
                self_confidence=float(oof.probs[i, int(y[i])]),
            )
        )
    counts = np.bincount(y, minlength=len(classes)).tolist()
    return Detection(issues, classes, counts, int((~oof.judged).sum()), y, _scaled(X))


@dataclass(frozen=True)
class Selection:
    """A run's review list split by the class cap.

    Attributes:
        proposed: Issues proposed as findings.
        held: Issues of the review list held back because proposals already move `max_class_share` of their class.
        caps: Per class, the most proposals that may move rows away from it.
    """

    proposed: list[LabelIssue]
    held: list[LabelIssue]
    caps: dict[str, int]


def select(detection: Detection, settings: DetectorSpec, skip: set[int] = frozenset()) -> Selection:  # type: ignore[assignment]
    """The first `max_proposals` issues not in `skip`, proposed until their class's cap binds, held back after.

    A class of `n` rows may lose at most `floor(max_class_share * n)` rows to proposals, so a correct
    minority class cannot be erased by accepting what the detector says.

    Args:
        detection: The ranked issues.
        settings: The demand's detector settings.
        skip: Row positions not to show again (they already have a finding).

    Returns:
        Proposed and held-back issues, both in rank order, with their nearest neighbours of the candidate class.
    """
    caps = {c: math.floor(settings.max_class_share * n) for c, n in zip(detection.classes, detection.class_counts, strict=True)}
    used = dict.fromkeys(caps, 0)
    proposed: list[LabelIssue] = []
    held: list[LabelIssue] = []
    for issue in (i for i in detection.issues if i.index not in skip):
        if len(proposed) + len(held) >= settings.max_proposals:
            break
        if used[issue.given] < caps[issue.given]:
            used[issue.given] += 1
            proposed.append(issue)
        else:
            held.append(issue)
    shown = proposed + held
    by_name = {c: i for i, c in enumerate(detection.classes)}
    flagged = {i.index for i in detection.issues}
    near = _neighbours(
        detection.scaled, detection.codes, [i.index for i in shown], [by_name[i.candidate] for i in shown], flagged,
        settings.neighbours,
    )  # fmt: skip
    evidence = {i.index: n for i, n in zip(shown, near, strict=True)}
    proposed = [replace(i, neighbours=evidence[i.index]) for i in proposed]
    held = [replace(i, neighbours=evidence[i.index]) for i in held]
    return Selection(proposed, held, caps)
