"""Scores and certification from measures: weighted dimension means, attainment, gates kept apart."""

from __future__ import annotations

import pytest

from pipelines.quality.guide import DIMENSION_WEIGHTS
from pipelines.quality.results import RuleOutcome, make_measure
from pipelines.quality.scoring import level_for, meets, score


def _outcome(
    rule_id: str, clause: str, a: float, b: float, *, severity: str = "warn", engine: str = "pandera", gate: bool | None = None
) -> RuleOutcome:
    m = make_measure(clause, a, b, None, gate)
    return RuleOutcome(rule_id, "x", severity, engine, (), "", "{}", int(b), int(b - a), measures=(m,))


def test_dimension_score_is_the_mean_of_its_measures_and_overall_weights_dimensions() -> None:
    card = score([_outcome("c1", "C-1", 90, 100), _outcome("c2", "C-2", 100, 100), _outcome("a1", "A-1", 80, 100)])
    assert card.dimensions["completeness"] == pytest.approx(0.95)
    assert card.dimensions["accuracy"] == pytest.approx(0.80)
    w_c, w_a = DIMENSION_WEIGHTS["completeness"], DIMENSION_WEIGHTS["accuracy"]
    assert card.overall == pytest.approx((0.95 * w_c + 0.80 * w_a) / (w_c + w_a))


def test_not_applicable_measures_are_left_out() -> None:
    card = score([_outcome("c1", "C-1", 0, 0), _outcome("c2", "C-1", 50, 100)])
    assert card.dimensions["completeness"] == pytest.approx(0.5)
    assert card.measures[0]["applicable"] is False and card.measures[0]["passed"] is True


def test_balance_scores_by_attainment_of_its_threshold() -> None:
    card = score([_outcome("b", "B-1", 4, 100)])  # X = 0.04 against a threshold of 0.05
    assert card.dimensions["balance"] == pytest.approx(0.8)


def test_gates_are_reported_apart_and_block_certification() -> None:
    ok = _outcome("c", "C-1", 100, 100)
    warn_gate = _outcome("k", "K-1", 99, 100, severity="warn")  # duplicated keys published: the gate fails
    card = score([ok, warn_gate])
    assert card.failed_gates == ["k (K-1)"]
    assert "consistency" not in card.dimensions  # a gate is never averaged in
    assert card.overall == pytest.approx(1.0) and card.level == "uncertified"


def test_an_error_row_rule_holds_its_gate_for_the_release() -> None:
    card = score([_outcome("c", "C-1", 100, 100), _outcome("k", "K-1", 94, 100, severity="error")])
    assert card.failed_gates == [] and card.level == "gold"
    gate = next(m for m in card.measures if m["rule_id"] == "k")
    assert gate["passed"] is False and gate["gate_passed"] is True  # the input failed; the release holds


def test_a_failed_dataset_level_gate_is_not_excused() -> None:
    card = score([_outcome("rows", "C-3", 0, 1, severity="error", engine="great_expectations")])
    assert card.failed_gates == ["rows (C-3)"]


@pytest.mark.parametrize(
    ("overall", "level"),
    [(0.97, "gold"), (0.95, "gold"), (0.93, "silver"), (0.85, "bronze"), (0.5, "uncertified"), (None, "uncertified")],
)
def test_levels(overall: float | None, level: str) -> None:
    assert level_for(overall, gates_ok=True) == level
    assert level_for(0.99, gates_ok=False) == "uncertified"


def test_meets() -> None:
    assert meets("gold", "bronze") and meets("bronze", "bronze") and not meets("bronze", "silver")
    assert meets("uncertified", "uncertified") and not meets("uncertified", "bronze")


def test_a_gate_on_suspect_values_is_not_excused_by_quarantine() -> None:
    # An error rule whose measure counts suspect (published) rows: quarantine does not enforce it.
    m = make_measure("A-2", 6, 8, 0.99, True)
    o = RuleOutcome("span", "in_range", "error", "pandera", (), "", "{}", 8, 0, suspect=2, measures=(m,))
    card = score([o])
    assert card.failed_gates == ["span (A-2)"] and card.level == "uncertified"
