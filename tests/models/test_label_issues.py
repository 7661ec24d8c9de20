"""The label-issue detector on real seed data: planted flips found, a correct minority class kept, evidence given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from pipelines.models.demand import Demand, DetectorSpec, SplitSpec
from pipelines.models.label_issues import (
    Detection,
    LabelIssue,
    calibrate,
    detector_folds,
    find_label_issues,
    out_of_fold_probabilities,
    select,
)

REPO = Path(__file__).resolve().parents[2]
AI4I_FEATURES = ("type", "air_temperature_k", "process_temperature_k", "rotational_speed_rpm", "torque_nm", "tool_wear_min")
AI4I_MODES = ("twf", "hdf", "pwf", "osf", "rnf")


def _spec_frame(spec_file: str, data: str, **read: object) -> pl.DataFrame:
    """A seed read with the spec's column names (the seeds' columns are in spec order)."""
    spec = yaml.safe_load((REPO / "dataset_specs" / spec_file).read_text())
    names = [c["name"] for c in spec["columns"]]
    return pl.read_csv(REPO / "seeds" / data, new_columns=names, **read)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ai4i() -> pl.DataFrame:
    return _spec_frame("ai4i2020.yaml", "ai4i2020/ai4i2020.csv")


@pytest.fixture(scope="module")
def steel() -> pl.DataFrame:
    return _spec_frame("steel_plates_faults.yaml", "steel_plates_faults/Faults.NNA", separator="\t", has_header=False)


def steel_demand() -> Demand:
    return Demand.model_validate(yaml.safe_load((REPO / "dataset_specs/demands/steel_fault_classifier.yaml").read_text()))


def ai4i_demand(**fields: object) -> Demand:
    base: dict[str, object] = {
        "name": "failure",
        "dataset": "ai4i2020",
        "title": "t",
        "team": "t",
        "task": "classification",
        "label": "machine_failure",
        "features": AI4I_FEATURES,
        "split": SplitSpec(method="random", seed=42),
    }
    return Demand.model_validate(base | fields)


# ---------------------------------------------------------------- out-of-fold probabilities and calibration


def test_out_of_fold_probabilities_shrink_folds_for_rare_classes_and_reject_singletons() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.array([0] * 30 + [1] * 27 + [2] * 3)
    oof = out_of_fold_probabilities(X, y, seed=0, folds=5)
    assert oof.probs.shape == (60, 3)
    np.testing.assert_allclose(oof.probs.sum(axis=1), 1.0)
    assert set(oof.fold.tolist()) == {0, 1, 2}  # three folds: the rarest class has three rows
    mixed = out_of_fold_probabilities(X, y, seed=0, folds=3, extra_trees=True)  # averaged with extra trees
    np.testing.assert_allclose(mixed.probs.sum(axis=1), 1.0)
    assert not np.allclose(mixed.probs, oof.probs)
    assert (detector_folds(1_941), detector_folds(10_000)) == (5, 3)  # more folds on small tables
    with pytest.raises(ValueError, match="at least 2 rows"):
        out_of_fold_probabilities(X, np.array([0] * 59 + [1]), seed=0)


def test_a_class_that_lives_in_one_group_is_not_judged_by_models_that_never_saw_it() -> None:
    # A fault-simulation layout: one normal-operation run (group 0) and fault runs. Grouped folds keep a
    # run whole, so the model that predicts the normal run never saw a normal row: it must not doubt them.
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(8), 25)
    y = np.where(groups == 0, 0, 1 + groups % 2)
    X = rng.normal(size=(200, 3)) + y[:, None]
    oof = out_of_fold_probabilities(X, y, seed=0, folds=3, groups=groups)
    assert not oof.judged[groups == 0].any()
    assert oof.judged[groups != 0].all()
    assert (oof.probs[groups == 0, 0] == 0).all()  # the fold's model knows no class 0


def test_a_small_table_with_few_groups_gets_as_many_folds_as_it_has_groups() -> None:
    # Small tables get 5 folds, but a table of four runs can only make four grouped folds: it must still be judged.
    rng = np.random.default_rng(3)
    y = np.tile([0, 1], 120)
    df = pl.DataFrame({"x": rng.normal(size=240) + 2 * y, "run": np.repeat(np.arange(4), 60), "label": y})
    d = Demand.model_validate(
        {"name": "runs", "dataset": "d", "title": "t", "team": "t", "task": "classification", "label": "label",
         "features": ["x"], "split": {"method": "group", "by": ["run"], "seed": 0}}
    )  # fmt: skip
    found = find_label_issues(df, d, groups=["run"])
    assert found.unjudged == 0 and found.issues  # judged with four folds (five would need five runs)
    with pytest.raises(ValueError, match="cannot make 5 folds"):
        find_label_issues(df, d, groups=["run"], folds=5)


def test_calibration_turns_overconfident_scores_into_frequencies() -> None:
    rng = np.random.default_rng(2)
    y = (rng.random(3000) < 0.2).astype(np.int64)  # 80 % class 0 ...
    probs = np.tile([0.99, 0.01], (3000, 1))  # ... but the model says 0.99 for every row
    cal = calibrate(probs, y, np.arange(3000) % 3)
    np.testing.assert_allclose(cal.sum(axis=1), 1.0)
    assert abs(cal[:, 0].mean() - 0.8) < 0.03
    separable = calibrate(np.tile([1.0, 0.0], (3000, 1)), np.zeros(3000, dtype=np.int64), np.arange(3000) % 3)
    assert separable[:, 0].max() < 1  # never a certainty


def test_the_class_a_correction_replaced() -> None:
    from pipelines.models.detector import _class_of

    assert _class_of("0") == "0" and _class_of(None) is None
    assert _class_of("pastry=0, bumps=1, stains=0") == "bumps"


# ---------------------------------------------------------------- the detector on AI4I


def flip_clear_normals(ai4i: pl.DataFrame, n: int = 20) -> tuple[pl.DataFrame, list[int]]:
    """Relabel `n` clearly normal rows as failures: mid torque and speed, new tool, ample heat dissipation."""
    indexed = ai4i.with_row_index("pos")
    normal = indexed.filter(
        (pl.col("machine_failure") == 0)
        & pl.col("torque_nm").is_between(30, 45)
        & (pl.col("tool_wear_min") < 60)
        & pl.col("rotational_speed_rpm").is_between(1400, 1700)
        & (pl.col("process_temperature_k") - pl.col("air_temperature_k") > 9.5)
    )
    planted = normal["pos"].gather(np.linspace(0, normal.height - 1, n).astype(int)).to_list()
    flipped = ai4i.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(planted)).then(1).otherwise(pl.col("machine_failure")).alias("machine_failure")
    )
    return flipped, planted


def test_planted_flips_are_found_with_calibrated_evidence(ai4i: pl.DataFrame) -> None:
    flipped, planted = flip_clear_normals(ai4i)
    d = ai4i_demand()
    found = find_label_issues(flipped, d, seed=3, extra_features=AI4I_MODES)
    assert found == find_label_issues(flipped, d, seed=3, extra_features=AI4I_MODES)  # deterministic
    assert all(isinstance(i, LabelIssue) and i.given != i.candidate for i in found.issues)
    assert [i.self_confidence for i in found.issues] == sorted(i.self_confidence for i in found.issues)
    assert all((i.suggested is None) == (i.p_candidate < d.detector_settings.min_suggestion_probability) for i in found.issues)
    chosen = select(found, d.detector_settings)
    shown = {i.index: i for i in chosen.proposed + chosen.held}
    hits = [shown[p] for p in planted if p in shown]
    assert len(hits) >= 15, f"only {len(hits)} of 20 planted flips shown"
    assert all(i.given == "1" and i.suggested == "0" and i.p_candidate >= 0.8 for i in hits)
    for i in chosen.proposed:
        assert 0 <= i.p_given <= 1 and 0 <= i.p_candidate <= 1
        assert len(i.neighbours) == 3 and i.index not in i.neighbours
        assert all(str(flipped["machine_failure"][j]) == i.candidate for j in i.neighbours)


def test_a_correct_minority_class_is_not_erased(ai4i: pl.DataFrame) -> None:
    # Without the failure-mode flags the model cannot tell most failures from normal processes and doubts
    # them all; AI4I's failures (3.4 %) are verified. Proposals may move at most 5 % of them.
    d = ai4i_demand()
    found = find_label_issues(ai4i, d, seed=0)
    doubted = sum(i.given == "1" for i in found.issues)
    failures = int(ai4i["machine_failure"].sum())
    chosen = select(found, d.detector_settings)
    moved = sum(i.given == "1" for i in chosen.proposed)
    assert doubted > 0.05 * failures  # the cap binds ...
    assert moved <= 0.05 * failures  # ... so at most 16 of the 339 failures are proposed
    assert chosen.caps["1"] == 16
    held = [i for i in chosen.held if i.given == "1"]
    assert held and all(i.p_given >= 0 for i in held)  # the rest is listed with its scores, not hidden
    stricter = select(found, DetectorSpec(max_class_share=0.01, max_proposals=100))
    assert sum(i.given == "1" for i in stricter.proposed) <= 3


def test_failure_modes_are_read_as_label_related_features(ai4i: pl.DataFrame) -> None:
    # With the failure-mode flags the model knows what a failure is, and the doubted failures are the
    # rows whose flags contradict the label (failures without a mode).
    found = find_label_issues(ai4i, ai4i_demand(), seed=0, extra_features=AI4I_MODES)
    no_mode = ai4i.with_row_index("pos").filter(
        (pl.col("machine_failure") == 1) & (pl.sum_horizontal(AI4I_MODES) == 0)
    )["pos"].to_list()  # fmt: skip
    doubted_failures = [i.index for i in found.issues if i.given == "1"]
    assert set(doubted_failures) <= set(no_mode)


# ---------------------------------------------------------------- the detector on the steel plates, 5 % flips


def flip_steel(steel: pl.DataFrame, d: Demand, seed: int, share: float = 0.05) -> tuple[pl.DataFrame, dict[int, str]]:
    """Move `share` of the rows to another class, uniformly at random; returns the true class of each flipped row."""
    classes = list(d.one_hot_labels)
    truth = np.argmax(steel.select(classes).to_numpy(), axis=1)
    rng = np.random.default_rng(seed)
    flipped = rng.choice(steel.height, round(share * steel.height), replace=False)
    new = truth.copy()
    for i in flipped:
        new[i] = rng.choice([c for c in range(len(classes)) if c != truth[i]])
    onehot = np.eye(len(classes), dtype=np.int8)[new]
    out = steel.with_columns([pl.Series(c, onehot[:, j]) for j, c in enumerate(classes)])
    return out, {int(i): classes[truth[i]] for i in flipped}


def steel_scores(steel: pl.DataFrame, seed: int) -> dict[str, float]:
    d = steel_demand()
    flipped, truth = flip_steel(steel, d, seed)
    chosen = select(find_label_issues(flipped, d, seed=d.split.seed), d.detector_settings)
    shown = chosen.proposed + chosen.held
    hits = [i for i in shown if i.index in truth]
    suggested = [i for i in hits if i.suggested is not None]
    return {
        "recall": len(hits) / len(truth),
        "precision": len(hits) / len(shown),
        "suggested_right": sum(i.suggested == truth[i.index] for i in suggested) / len(suggested),
        "with_suggestion": len(suggested) / len(hits),
        "held": len(chosen.held),
    }


# Measured floors over the 100 rows shown (three seeds, bench/detector_steel.py: recall 0.77-0.87, precision
# 0.75-0.84; a suggestion, at calibrated p >= 0.8, for 0.60-0.61 of the true hits and right for 0.956-0.979
# of them). The issue's aim of recall 0.90 at precision 0.75 is not reached; models fitted on the true labels
# do not reach it either (docs/models.md).
STEEL_FLOORS = {"recall": 0.74, "precision": 0.72, "suggested_right": 0.93, "with_suggestion": 0.5}


def _check(scores: dict[str, float]) -> None:
    for k, floor in STEEL_FLOORS.items():
        assert scores[k] >= floor, f"{k} = {scores[k]:.3f} < {floor}: {scores}"


@pytest.mark.slow  # five folds of two models on 1,941 rows: about 9 s of CPU, 10-20 s on a busy machine
def test_steel_flips_are_shown_for_review_one_seed(steel: pl.DataFrame) -> None:
    scores = steel_scores(steel, seed=1)
    _check(scores)
    assert scores["held"] > 0  # flips into the small classes exceed 5 % of them: held back, still shown


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 2])
def test_steel_flips_are_shown_for_review_more_seeds(steel: pl.DataFrame, seed: int) -> None:
    _check(steel_scores(steel, seed))


def test_select_skips_rows_and_stops_at_max_proposals() -> None:
    issues = [LabelIssue(i, "a" if i % 2 else "b", "c", "c", 0.1, 0.8, 0.1) for i in range(10)]
    det = Detection(issues, ["a", "b", "c"], [100, 20, 50])
    chosen = select(det, DetectorSpec(max_class_share=0.05, max_proposals=6, neighbours=0), skip={0})
    assert [i.index for i in chosen.proposed] == [1, 2, 3, 5]  # b's cap is 1 row
    assert [i.index for i in chosen.held] == [4, 6]  # six rows shown in all
    assert chosen.caps == {"a": 5, "b": 1, "c": 2}
