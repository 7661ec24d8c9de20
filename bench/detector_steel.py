"""What the label-issue detector achieves on the steel plates with 5 % of the labels flipped, and what it could.

    python bench/detector_steel.py --only current hgb_et5_100    # the detector and its bound, seeds 0 1 2
    python bench/detector_steel.py                               # every variant (about 10 CPU minutes)
    python bench/detector_steel.py --seeds 1 --only hgb3 --labels true

The flips are those of `tests/models/test_label_issues.py` (`flip_steel`: 5 % of the rows moved to another
class uniformly at random, numpy seed = the flip seed); the models use the demand's seed (7). Printed as
JSON lines, one per seed and variant:

* `current`: `find_label_issues` + `select` as shipped: recall and precision over the rows shown, the share
  of true hits with a suggested class, how often that class is the true one, and (`suggest_at`) the same
  at other suggestion thresholds.
* `<variant>/noisy` (a `VARIANTS` key: folds and models; `hgb_et5_100` is what the detector does on small
  tables): that variant's out-of-fold probabilities (fitted on the flipped labels), every row
  ranked by a cleanlab label-quality score (`self_confidence`, `normalized_margin`,
  `confidence_weighted_entropy`). `at_100`: the first 100 rows; `at_estimate`: the first
  `cleanlab.count.num_label_issues` rows; `best`: the longest cut whose precision is >= 0.75, with its recall
  (the best recall reachable at that precision by any list length). For the true hits of a cut, the
  calibrated candidate class's accuracy and coverage at suggestion thresholds 0.5, 0.7, 0.8, 0.85 and 0.9.
* `<variant>/true`: the same, from probabilities of models fitted on the TRUE labels (rows ranked by
  the quality of their flipped label): what a detector of this family could do if the flips did not
  mislead its model. An estimate of the upper bound (it moves by a few rows with the fold draw), not a
  detector.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from pipelines.models.demand import Demand
from pipelines.models.label_issues import calibrate, find_label_issues, select
from pipelines.models.learn import _fit_threads, class_labels, feature_matrix

REPO = Path(__file__).resolve().parents[1]
MODEL_SEED = 7  # the demand's split seed, as the test uses
PRECISION = 0.75
THRESHOLDS = (0.5, 0.7, 0.8, 0.85, 0.9)
SCORES = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


def steel() -> tuple[pl.DataFrame, Demand]:
    """The steel seed with the spec's column names, and its demand."""
    spec = yaml.safe_load((REPO / "dataset_specs/steel_plates_faults.yaml").read_text())
    names = [c["name"] for c in spec["columns"]]
    df = pl.read_csv(REPO / "seeds/steel_plates_faults/Faults.NNA", separator="\t", has_header=False, new_columns=names)
    demand = Demand.model_validate(yaml.safe_load((REPO / "dataset_specs/demands/steel_fault_classifier.yaml").read_text()))
    return df, demand


def flip(df: pl.DataFrame, d: Demand, seed: int, share: float = 0.05) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """The test's flips: the flipped frame, the true and the given class code of every row."""
    classes = list(d.one_hot_labels)
    truth = np.argmax(df.select(classes).to_numpy(), axis=1)
    rng = np.random.default_rng(seed)
    flipped = rng.choice(df.height, round(share * df.height), replace=False)
    new = truth.copy()
    for i in flipped:
        new[i] = rng.choice([c for c in range(len(classes)) if c != truth[i]])
    onehot = np.eye(len(classes), dtype=np.int8)[new]
    return df.with_columns([pl.Series(c, onehot[:, j]) for j, c in enumerate(classes)]), truth, new


def current(df: pl.DataFrame, d: Demand, truth: np.ndarray, given: np.ndarray) -> dict[str, object]:
    """The shipped detector, scored as the test scores it."""
    start = time.process_time()
    found = find_label_issues(df, d, seed=MODEL_SEED)
    chosen = select(found, d.detector_settings)
    cpu = time.process_time() - start
    names = found.classes
    true_name = {i: names.index(d.one_hot_labels[truth[i]]) for i in range(len(truth))}
    shown = chosen.proposed + chosen.held
    flips = int((truth != given).sum())
    hits = [i for i in shown if truth[i.index] != given[i.index]]
    sug = [i for i in hits if i.suggested is not None]
    return {
        "shown": len(shown),
        "flagged": len(found.issues),
        "recall": round(len(hits) / flips, 3),
        "precision": round(len(hits) / max(len(shown), 1), 3),
        "with_suggestion": round(len(sug) / max(len(hits), 1), 3),
        "suggested_right": round(sum(names.index(i.suggested) == true_name[i.index] for i in sug) / max(len(sug), 1), 3),  # type: ignore[arg-type]
        "suggest_at": {
            f"t{t}": {
                "with_suggestion": round(len(ok) / max(len(hits), 1), 3),
                "right": round(sum(names.index(i.candidate) == true_name[i.index] for i in ok) / max(len(ok), 1), 3),
            }
            for t in THRESHOLDS
            for ok in [[i for i in hits if i.p_candidate >= t]]
        },
        "cpu_seconds": round(cpu, 2),
    }


# ---------------------------------------------------------------- probability variants


def _hgb(**kw: object) -> Callable[[int], Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from pipelines.models.label_issues import DETECTOR_HGB

    return lambda seed: HistGradientBoostingClassifier(random_state=seed, **{**DETECTOR_HGB, **kw})


def _trees(kind: str, n: int = 300) -> Callable[[int], Any]:
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    cls = ExtraTreesClassifier if kind == "et" else RandomForestClassifier
    return lambda seed: cls(n_estimators=n, min_samples_leaf=1, n_jobs=1, random_state=seed)


def _log(X: np.ndarray) -> np.ndarray:
    """log1p of the non-negative columns whose skew exceeds 2 (trees that split at random thresholds notice)."""
    from scipy.stats import skew

    out = X.copy()
    for j in range(X.shape[1]):
        col = X[:, j]
        if np.nanmin(col) >= 0 and abs(skew(col, nan_policy="omit")) > 2:
            out[:, j] = np.log1p(col)
    return out


def oof(
    X: np.ndarray, y: np.ndarray, folds: int, makers: list[Callable[[int], Any]], log: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities averaged over `makers`, and each row's fold."""
    from sklearn.model_selection import StratifiedKFold

    Xt = _log(X) if log else X
    k = int(y.max()) + 1
    probs = np.zeros((len(y), k))
    fold = np.zeros(len(y), dtype=np.int64)
    with _fit_threads():
        for f, (tr, te) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=MODEL_SEED).split(X, y)):
            fold[te] = f
            for make in makers:
                m = make(MODEL_SEED).fit(Xt[tr], y[tr])
                probs[np.ix_(te, m.classes_)] += m.predict_proba(Xt[te]) / len(makers)
    return probs, fold


VARIANTS: dict[str, tuple[int, Callable[[], list[Callable[[int], Any]]], bool]] = {
    "hgb3": (3, lambda: [_hgb()], False),
    "hgb5": (5, lambda: [_hgb()], False),
    "hgb10": (10, lambda: [_hgb()], False),
    "hgb5_slow": (5, lambda: [_hgb(learning_rate=0.05, max_iter=300)], False),
    "et5": (5, lambda: [_trees("et")], False),
    "et5_log": (5, lambda: [_trees("et")], True),
    "rf5": (5, lambda: [_trees("rf")], False),
    "hgb_et5": (5, lambda: [_hgb(), _trees("et")], False),
    "hgb_et10": (10, lambda: [_hgb(), _trees("et")], False),
    "hgb_et5_100": (5, lambda: [_hgb(), _trees("et", 100)], False),
    "hgb_rf_et5": (5, lambda: [_hgb(), _trees("rf"), _trees("et")], False),
}


# ---------------------------------------------------------------- scoring a ranking


def _suggestions(cal: np.ndarray, given: np.ndarray, truth: np.ndarray, hits: np.ndarray) -> dict[str, object]:
    other = cal.copy()
    other[np.arange(len(given)), given] = -1.0
    cand = np.argmax(other, axis=1)
    p = other[np.arange(len(given)), cand]
    out: dict[str, object] = {}
    for t in THRESHOLDS:
        ok = hits[p[hits] >= t]
        out[f"t{t}"] = {
            "with_suggestion": round(len(ok) / max(len(hits), 1), 3),
            "right": round(float((cand[ok] == truth[ok]).mean()) if len(ok) else 0.0, 3),
        }
    return out


def rank_scores(probs: np.ndarray, fold: np.ndarray, given: np.ndarray, truth: np.ndarray) -> dict[str, object]:
    """Every ranking score of `probs` against the given labels, scored against the truth."""
    from cleanlab.count import num_label_issues
    from cleanlab.rank import get_label_quality_scores

    cal = calibrate(probs, given, fold)
    wrong = truth != given
    estimate = int(num_label_issues(given, probs))
    out: dict[str, object] = {"estimate": estimate}
    for score in SCORES:
        order = np.argsort(get_label_quality_scores(given, probs, method=score), kind="stable")
        cum = np.cumsum(wrong[order])
        prec = cum / np.arange(1, len(order) + 1)
        ok = np.flatnonzero(prec >= PRECISION)
        best = int(ok.max()) + 1 if len(ok) else 0
        cuts = {"at_100": 100, "at_estimate": estimate, "best": best}
        res: dict[str, object] = {}
        for name, n in cuts.items():
            top = order[:n]
            hits = top[wrong[top]]
            res[name] = {
                "shown": n,
                "recall": round(len(hits) / wrong.sum(), 3),
                "precision": round(len(hits) / max(n, 1), 3),
                "suggest": _suggestions(cal, given, truth, hits),
            }
        out[score] = res
    return out


def main() -> None:
    """Flip, fit, rank, print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--only", nargs="+", default=None, help="variants: current and any of " + " ".join(VARIANTS))
    ap.add_argument("--labels", nargs="+", default=["noisy", "true"], choices=["noisy", "true"])
    args = ap.parse_args()
    base, d = steel()
    wanted = args.only or ["current", *VARIANTS]
    for seed in args.seeds:
        df, truth_col, given_col = flip(base, d, seed)
        # class codes as the detector numbers them: by sorted class name
        names = sorted(d.one_hot_labels)
        to_code = np.array([names.index(c) for c in d.one_hot_labels])
        truth, given = to_code[truth_col], to_code[given_col]
        assert (class_labels(df, d).to_numpy() == np.array(names)[given]).all()
        X = feature_matrix(df, d.features)
        per: dict[str, object] = {}
        if "current" in wanted:
            per["current"] = current(df, d, truth_col, given_col)
            print(json.dumps({str(seed): {"current": per["current"]}}), flush=True)
        for v in wanted:
            if v == "current":
                continue
            folds, makers, log = VARIANTS[v]
            for labels in args.labels:
                start = time.process_time()
                probs, fold = oof(X, given if labels == "noisy" else truth, folds, makers(), log)
                cpu = round(time.process_time() - start, 2)
                per[f"{v}/{labels}"] = {"cpu_seconds": cpu, **rank_scores(probs, fold, given, truth)}
                print(json.dumps({str(seed): {f"{v}/{labels}": per[f"{v}/{labels}"]}}), flush=True)


if __name__ == "__main__":
    main()
