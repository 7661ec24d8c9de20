"""The baseline profile, its measures and honest levels: a minimal spec cannot earn gold for flawed data."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from pipelines.quality.informative import informative
from pipelines.quality.levels import certify
from pipelines.quality.profile import profile
from pipelines.quality.profile_measures import profile_measures
from pipelines.quality.results import RuleOutcome, make_measure
from pipelines.quality.scoring import score
from pipelines.spec.models import DatasetSpec
from tests.ingest.plant import CLASSIFICATION

N_FEATURES, N_CONSTANT, N_COPIES = 600, 100, 80


def wide_frame(rows: int, *, flawed: bool, seed: int = 7) -> pl.DataFrame:
    """600 numeric features and a label. Flawed: f000-f099 constant, 5 % of the other cells empty, and
    f300-f379 copies of f100-f179 (gaps included)."""
    rng = np.random.default_rng(seed)
    data = {f"f{i:03d}": rng.normal(size=rows).round(4) for i in range(N_FEATURES)}
    if flawed:
        for i in range(N_FEATURES):
            if i < N_CONSTANT:
                data[f"f{i:03d}"] = np.full(rows, 1.5)
            else:
                data[f"f{i:03d}"][rng.random(rows) < 0.05] = np.nan
        for i in range(N_CONSTANT, N_CONSTANT + N_COPIES):
            data[f"f{i + 200:03d}"] = data[f"f{i:03d}"].copy()
    df = pl.DataFrame(data).fill_nan(None)
    return df.with_columns(label=pl.Series(rng.choice(["ok", "worn", "broken"], size=rows)))


def _spec(name: str, columns: list[dict[str, Any]]) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": name, "title": name, "description": "d", "owner": "o", "classification": CLASSIFICATION,
            "source": {"format": "csv", "path": f"seeds/{name}/*.csv"}, "columns": columns,
        }
    )  # fmt: skip


def wide_spec() -> DatasetSpec:
    cols = [{"name": f"f{i:03d}", "dtype": "float64", "role": "measurement"} for i in range(N_FEATURES)]
    return _spec("wide", [*cols, {"name": "label", "dtype": "string", "role": "label"}])


def label_check(rows: int) -> RuleOutcome:
    """The one user rule: an `in_set` on the label (L-1, a gate), all rows in the taxonomy."""
    m = make_measure("L-1", rows, rows, None, None)
    return RuleOutcome("wide.label.allowed", "in_set", "error", "pandera", ("label",), "", "{}", rows, 0, measures=(m,))


def _card(df: pl.DataFrame) -> Any:
    spec = wide_spec()
    outcomes = [label_check(df.height)]
    prof = profile(df.lazy(), spec.column_names, labels=["label"])
    measures, details = profile_measures(prof, spec, outcomes)
    return prof, score(outcomes, measures, details)


def test_a_minimal_spec_cannot_earn_gold_for_flawed_wide_data() -> None:
    prof, card = _card(wide_frame(2_000, flawed=True))
    cols = {c["name"]: c for c in prof["columns"]}
    assert sum(c["constant"] for c in cols.values()) == N_CONSTANT
    assert sum(1 for c in cols.values() if c["duplicate_of"] and not c["constant"]) == N_COPIES
    assert cols["f300"]["duplicate_of"] == "f100" and cols["f100"]["duplicate_of"] is None
    assert card.level != "gold"
    rows = {r["rule_id"]: r for r in card.measures}
    informative_row = rows["moshu.profile.informative"]
    assert informative_row["x"] == pytest.approx(1 - (N_CONSTANT + N_COPIES) / N_FEATURES) and not informative_row["passed"]
    assert "constant: f000, f001" in informative_row["detail"] and "duplicated: " in informative_row["detail"]
    completeness = rows["moshu.profile.completeness"]
    assert completeness["clause"] == "C-5" and not completeness["passed"]
    assert completeness["detail"].startswith("below 0.99: f") and completeness["detail"].endswith("more")
    assert card.level == "bronze"  # D-3 misses by 0.30: far more than a near miss
    assert card.reasons[0].startswith("bronze: all 1 gates hold")
    assert any(r.startswith("D-3 moshu.profile.informative X = 0.7000 < 1") for r in card.reasons)


def test_the_same_wide_data_cleaned_gets_gold() -> None:
    prof, card = _card(wide_frame(2_000, flawed=False))
    assert prof["duplicate_rows"] == 0 and not any(c["constant"] or c["duplicate_of"] for c in prof["columns"])
    assert card.level == "gold", card.reasons
    assert card.reasons == [f"gold: all 1 gates hold, all 4 scored measures pass, score {card.overall:.4f}"]


def test_a_user_rule_on_the_same_column_and_clause_takes_precedence() -> None:
    df = pl.DataFrame({"a": [1.0, None, 3.0, 4.0], "b": [1.0, 2.0, 3.0, 5.0], "label": ["x", "y", None, "x"]})
    spec = _spec(
        "small",
        [
            {"name": "a", "dtype": "float64", "role": "measurement"},
            {"name": "b", "dtype": "float64", "role": "measurement"},
            {"name": "label", "dtype": "string", "role": "label"},
        ],
    )
    prof = profile(df.lazy(), spec.column_names, labels=["label"])
    sparse = RuleOutcome(
        "small.a.sparse", "not_null", "warn", "pandera", ("a",), "", "{}", 4, 1, measures=(make_measure("C-1", 3, 4, 0.5, None),)
    )
    measures, details = profile_measures(prof, spec, [sparse])
    by_id = dict(measures)
    assert (by_id["moshu.profile.completeness"].a, by_id["moshu.profile.completeness"].b) == (4, 4)  # `b` alone
    assert (by_id["moshu.profile.labelled.label"].a, by_id["moshu.profile.labelled.label"].b) == (3, 4)
    assert details["moshu.profile.labelled.label"] == "label: 1 unlabelled rows"
    measures, _ = profile_measures(prof, spec, [])
    assert dict(measures)["moshu.profile.completeness"].a == 7 and "completeness" not in details


def test_a_failed_scored_rule_caps_the_level_below_gold_and_says_why() -> None:
    ok = RuleOutcome(
        "c", "not_null", "warn", "pandera", ("x",), "", "{}", 1000, 0, measures=(make_measure("C-1", 1000, 1000, None, None),)
    )
    span = RuleOutcome(
        "plant.humidity.physical", "in_range", "error", "pandera", ("humidity",), "", "{}", 1000, 13,
        measures=(make_measure("A-1", 987, 1000, None, None),),
    )  # fmt: skip
    card = score([ok, span])
    assert card.overall is not None and card.overall >= 0.95  # the average alone would say gold
    assert card.level == "silver"
    assert card.reasons[1] == "A-1 plant.humidity.physical X = 0.9870 < 0.999"
    # completeness (weight 1.5) at 1.0 and accuracy (weight 2.0) at 0.987
    assert card.overall == pytest.approx((1.5 * 1.0 + 2.0 * 0.987) / 3.5)
    assert card.reasons[0] == "silver: all 0 gates hold, score 0.9926; not gold: 1 of 2 scored measures fail"


@pytest.mark.parametrize(
    ("x", "threshold", "clause", "level"),
    [
        (0.96, 0.99, "C-1", "silver"),
        (0.93, 0.99, "C-1", "bronze"),
        (0.0475, 0.05, "B-1", "silver"),
        (0.04, 0.05, "B-1", "bronze"),
    ],
)
def test_silver_allows_only_near_misses(x: float, threshold: float, clause: str, level: str) -> None:
    rows = [{"rule_id": "r", "clause": clause, "x": x, "threshold": threshold, "gate": False, "applicable": True}]
    assert certify(0.95, rows, [])[0] == level


def test_a_failed_gate_is_named_in_the_reasons() -> None:
    level, reasons = certify(1.0, [], ["k (K-1)"])
    assert level == "uncertified" and reasons == ["uncertified: 1 hard gate(s) fail", "gate k (K-1) fails"]


def test_informative_features_over_600_columns_and_10000_rows() -> None:
    df = wide_frame(10_000, flawed=True)
    cols = [f"f{i:03d}" for i in range(N_FEATURES)]
    a, b, findings = informative(df.lazy(), cols)
    assert (a, b) == (N_FEATURES - N_CONSTANT - N_COPIES, N_FEATURES)
    (f,) = findings
    assert f.constant == tuple(cols[:N_CONSTANT])
    assert f.duplicated == {f"f{i + 200:03d}": f"f{i:03d}" for i in range(N_CONSTANT, N_CONSTANT + N_COPIES)}


def test_informative_features_tells_a_permutation_from_a_copy_and_groups_apart() -> None:
    df = pl.DataFrame(
        {"x": [1, 2, 3, 4], "perm": [2, 1, 4, 3], "copy": [1.0, 2.0, 3.0, 4.0], "g": ["a", "a", "b", "b"], "k": [5, 5, 5, 6]}
    )
    a, b, findings = informative(df.lazy(), ["x", "perm", "copy", "k"])
    assert (a, b) == (3, 4) and findings[0].duplicated == {"copy": "x"} and findings[0].constant == ()
    a, b, findings = informative(df.lazy(), ["x", "perm", "k"], ["g"])
    assert (a, b) == (5, 6)  # k is constant in a only; perm is not a copy of x in either group
    assert [(f.group, f.constant, f.duplicated) for f in findings] == [("a", ("k",), {})]


def test_duplicate_rows_are_counted_across_column_chunks() -> None:
    df = wide_frame(50, flawed=False).select([f"f{i:03d}" for i in range(150)])  # three chunks of columns
    twice = pl.concat([df, df.slice(10, 3), df.slice(10, 1)])
    changed = twice.with_columns(pl.when(pl.int_range(pl.len()) == 53).then(0.0).otherwise(pl.col("f140")).alias("f140"))
    assert profile(twice.lazy(), twice.columns)["duplicate_rows"] == 4
    assert profile(changed.lazy(), changed.columns)["duplicate_rows"] == 3  # the last row differs in the third chunk only
