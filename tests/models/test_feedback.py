"""Feedback and model runs: malformed input is refused whole, with row numbers and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.catalog.client import CatalogClient
from pipelines.errors import FeedbackError, NotFoundError
from pipelines.models.feedback import read_findings, register_model_run, review, submit
from pipelines.warehouse import Warehouse
from tests.conftest import REPO, built_copy


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return built_copy(tmp_path_factory, "fb", ["ai4i2020", "steel_plates_faults"])


def _count(wh: Warehouse) -> int:
    with CatalogClient(wh.root) as c:
        return int(c.rows("SELECT count(*) FROM feedback")[0][0])


GOOD = {"row_key": "17", "kind": "label_error", "column": "machine_failure", "suggested_value": "1", "confidence": 0.8}


@pytest.mark.parametrize(
    ("ref", "rows", "message"),
    [
        ("ai4i2020@1", [GOOD, {**GOOD, "row_key": "99999"}], r"row 2: row key `99999` is not in `ai4i2020` v1"),
        ("ai4i2020@7", [GOOD], r"no version 7; versions are 1"),
        ("ai4i2021@1", [GOOD], r"no dataset `ai4i2021`"),
        ("ai4i2020@1", [{**GOOD, "kind": "typo"}], r"row 1: kind `typo` is not one of label_error, outlier"),
        ("ai4i2020@1", [{**GOOD, "confidence": 1.5}], r"confidence `1.5` is not a number in \[0, 1\]"),
        ("ai4i2020@1", [{**GOOD, "suggested_value": "yes"}], r"suggested value for `machine_failure`: `yes` is not a valid int8"),
        ("ai4i2020@1", [{**GOOD, "column": "udi", "kind": "wrong_unit"}], r"`udi` is part of the primary key"),
        ("ai4i2020@1", [{**GOOD, "column": "torque_nm"}], r"`torque_nm` is not a label column"),
        ("ai4i2020@1", [{**GOOD, "model_run_id": "nope"}], r"model run `nope` is not registered"),
        ("ai4i2020@1", [{**GOOD, "colour": "red"}], r"unknown columns \['colour'\]"),
        ("steel_plates_faults@1", [{"row_key": "x#1", "kind": "outlier"}], r"row key `x#1` is not in"),
        (
            "steel_plates_faults@1",
            [{"row_key": "seeds/steel_plates_faults/Faults.NNA#3", "kind": "label_error"}],
            r"needs `column`",
        ),
        (
            "ai4i2020@1",
            [{"row_key": "17", "kind": "label_error", "suggested_value": "1"}],
            r"needs `column` \(label columns: machine_failure, twf",
        ),
    ],
)
def test_malformed_feedback_is_refused_and_nothing_is_written(wh: Warehouse, ref: str, rows: list, message: str) -> None:
    before = _count(wh)
    with pytest.raises((FeedbackError, NotFoundError), match=message):
        submit(wh, ref, rows, by="team", source="findings.csv")
    assert _count(wh) == before


def test_a_good_submission_is_recorded_as_proposed(wh: Warehouse) -> None:
    key = "seeds/steel_plates_faults/Faults.NNA#3"  # no primary key: the row is named by its lineage
    group = "pastry|z_scratch|k_scratch|stains|dirtiness|bumps|other_faults"
    ids = submit(wh, "steel_plates_faults", [{"row_key": key, "kind": "label_error", "column": group, "suggested_value": "bumps"}],
                 by="vision", source="sql")  # fmt: skip
    with CatalogClient(wh.root) as c:
        assert c.rows("SELECT status, version, column_name FROM feedback_status WHERE feedback_id = ?", ids) == [
            ("proposed", 1, group)
        ]


def test_findings_files_are_read_as_text_and_checked(wh: Warehouse, tmp_path: Path) -> None:
    f = tmp_path / "findings.csv"
    f.write_text("row_key,kind,confidence\n17,outlier,high\n", encoding="utf-8")
    with pytest.raises(FeedbackError, match=r"findings.csv row 1: confidence `high`"):
        submit(wh, "ai4i2020@1", read_findings(f), by="t", source=f.name)


def test_reviews_need_reasons_and_conflicting_corrections_are_refused(wh: Warehouse) -> None:
    a, b = submit(wh, "ai4i2020@1", [GOOD, {**GOOD, "suggested_value": "0"}], by="t", source="t")
    with pytest.raises(FeedbackError, match="why"):
        review(wh, [a], "accepted", by="qa", reason="")
    with pytest.raises(FeedbackError, match="no feedback with id 99999"):
        review(wh, [99999], "accepted", by="qa", reason="x")
    review(wh, [a], "accepted", by="qa", reason="checked the log")
    with pytest.raises(FeedbackError, match=f"accepted feedback {a} sets it to `1`; reject {a} first"):
        review(wh, [b], "accepted", by="qa", reason="x")


def test_a_finding_submitted_after_an_acceptance_supersedes_it(wh: Warehouse) -> None:
    from pipelines.models.feedback import accepted_corrections

    wrong = {"row_key": "23", "kind": "label_error", "column": "machine_failure", "suggested_value": "1"}
    (a,) = submit(wh, "ai4i2020@1", [wrong], by="t", source="t")
    review(wh, [a], "accepted", by="qa", reason="looked like a failure")
    # the accepted value was wrong: a later finding says so, and accepting it supersedes the first
    (b,) = submit(wh, "ai4i2020@1", [{**wrong, "suggested_value": "0"}], by="detector", source="t")
    review(wh, [b], "accepted", by="qa", reason="log shows a normal process")
    with CatalogClient(wh.root) as c:
        states = dict(c.rows("SELECT feedback_id, status FROM feedback_status WHERE feedback_id IN (?, ?)", [a, b]))
        why = c.rows("SELECT review_reason FROM feedback_status WHERE feedback_id = ?", [a])[0][0]
    assert states == {a: "rejected", b: "accepted"}
    assert why == f"superseded by feedback {b}: log shows a normal process"
    corrections, _ = accepted_corrections(wh, "ai4i2020")
    assert [(c.feedback_id, c.value) for c in corrections if c.row_key == "23"] == [(b, "0")]


def test_model_runs_answer_which_models_were_trained_on_which_version(wh: Warehouse) -> None:
    run = register_model_run(wh, model="xgb-failure-v3", ref="ai4i2020@1", metrics={"f1": 0.61, "auc": 0.93}, by="maint-models",
                             params={"depth": 6})  # fmt: skip
    with CatalogClient(wh.root) as c:
        rows = c.rows("SELECT model, version, metric, value FROM model_scores WHERE run_id = ? ORDER BY metric", [run])
    assert rows == [("xgb-failure-v3", 1, "auc", 0.93), ("xgb-failure-v3", 1, "f1", 0.61)]
    with pytest.raises(FeedbackError, match=r"metrics \['f1'\] are not finite"):
        register_model_run(wh, model="m", ref="ai4i2020@1", metrics={"f1": float("nan")}, by="x")
    with pytest.raises(FeedbackError, match="has no demand `nope`"):
        register_model_run(wh, model="m", ref="ai4i2020@1", metrics={"f1": 0.5}, by="x", demand="nope")


def test_the_python_client_for_model_teams_does_not_import_dagster(wh: Warehouse) -> None:
    code = (
        "import sys; from pathlib import Path; from pipelines.models.feedback import register_model_run, submit; "
        "from pipelines.warehouse import Warehouse; "
        f"run = register_model_run(Warehouse(Path({str(wh.root)!r})), model='m', ref='ai4i2020', metrics={{'acc': 0.9}}, by='x'); "
        "assert 'dagster' not in sys.modules and 'great_expectations' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_a_review_scoped_to_a_dataset_refuses_another_datasets_ids(wh: Warehouse) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    (steel,) = submit(wh, "steel_plates_faults", [{"row_key": "seeds/steel_plates_faults/Faults.NNA#9", "kind": "outlier"}],
                      by="vision", source="sql")  # fmt: skip
    (ai4i,) = submit(wh, "ai4i2020@1", [{"row_key": "31", "kind": "outlier"}], by="t", source="t")
    with pytest.raises(
        FeedbackError, match=f"feedback {steel} is on `steel_plates_faults`, not `ai4i2020`; nothing was recorded"
    ):
        review(wh, [ai4i, steel], "rejected", by="qa", reason="x", dataset="ai4i2020")
    runner = CliRunner()
    args = ["--reject", "--by", "qa", "--reason", "not an outlier", "--warehouse", str(wh.root)]
    res = runner.invoke(app, ["feedback", "review", f"ai4i2020#{steel}", *args])
    assert res.exit_code == 1 and "is on `steel_plates_faults`, not `ai4i2020`" in res.stderr
    res = runner.invoke(app, ["feedback", "review", f"ai4i2020#{ai4i}", f"steel_plates_faults#{steel}", *args])
    assert res.exit_code == 2 and "one dataset's findings at a time" in res.stderr
    res = runner.invoke(app, ["feedback", "review", str(ai4i), "--dataset", "ai4i2020", *args])
    assert res.exit_code == 0, res.output
    with CatalogClient(wh.root) as c:
        assert c.rows(
            "SELECT feedback_id, status FROM feedback_status WHERE feedback_id IN (?, ?) ORDER BY 1", [ai4i, steel]
        ) == sorted([(ai4i, "rejected"), (steel, "proposed")])
