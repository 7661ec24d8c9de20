"""Rules on label columns become findings: which rules, which column, which suggestion (the loop test runs it on AI4I)."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from pipelines.models.keys import ROW_KEY
from pipelines.models.rule_findings import WARN_RULES, LabelRule, label_rules, rule_finding_rows
from pipelines.spec.loader import load_project
from pipelines.spec.rules import Expression
from tests.conftest import REPO


def test_the_rules_that_read_labels_and_what_they_derive() -> None:
    loaded = load_project(REPO, only=["ai4i2020", "steel_plates_faults"]).datasets
    ai4i = {r.rule_id: r for r in label_rules(loaded["ai4i2020"])}
    assert set(ai4i) == {"ai4i.labels.binary", "ai4i.labels.consistent"}  # only rules that read a label column
    consistent = ai4i["ai4i.labels.consistent"]
    assert (consistent.column, consistent.derived) == ("machine_failure", "greatest(twf, hdf, pwf, osf, rnf)")
    assert ai4i["ai4i.labels.binary"].derived is None  # a conjunction derives nothing
    steel = loaded["steel_plates_faults"]
    one_hot = Expression(kind="expression", id="steel.one_class", expr="pastry + z_scratch + k_scratch + stains + dirtiness "
                         "+ bumps + other_faults = 1")  # fmt: skip
    (rule,) = label_rules(replace(steel, rules=(one_hot,)))
    # the rule reads the demand's one-hot group: its findings name the group, without a suggestion
    assert rule.column == "pastry|z_scratch|k_scratch|stains|dirtiness|bumps|other_faults" and rule.derived is None


def test_a_derived_label_is_suggested_only_when_the_evidence_is_there() -> None:
    rule = LabelRule("r.consistent", "Failure exactly when a mode is.", "failure", ("failure", "mode_a", "mode_b"),
                     "greatest(mode_a, mode_b)")  # fmt: skip
    df = pl.DataFrame(
        {
            ROW_KEY: ["1", "2", "3"],
            "failure": [0, 1, 0],
            "mode_a": [1, 0, 0],
            "mode_b": [0, 0, 0],
            WARN_RULES: [["r.consistent"], ["r.consistent", "other"], ["other"]],
        }
    )
    rows = rule_finding_rows(df, rule)
    assert [(r["row_key"], r["suggested_value"]) for r in rows] == [("1", "1"), ("2", None)]
    assert all(r["kind"] == "label_error" and r["column"] == "failure" for r in rows)
    assert rows[0]["note"].startswith("rule `r.consistent` flags this row (Failure exactly when a mode is.): failure=0")
    assert rows[1]["note"].endswith("review only")
