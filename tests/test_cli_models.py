"""The model-data loop from the command line, through Dagster: run, findings, review, new version, diff."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


def _recorded(output: str) -> int:
    """The number of findings `moshu feedback submit` says it recorded."""
    m = re.fullmatch(
        r"recorded (\d+) findings as proposed \(ids \d+\.\.\d+\); review with `moshu feedback review`", output.strip()
    )
    assert m, output
    return int(m.group(1))


def _summary_row(output: str, name: str) -> list[str]:
    """The cells of a dataset's row in the run summary table (dataset, version, status, level, ...)."""
    rows = [
        [c.strip() for c in line.strip().strip("│").split("│")] for line in output.splitlines() if line.startswith(f"│ {name} ")
    ]
    (row,) = [r for r in rows if re.fullmatch(r"v\d+", r[1])]
    return row


@pytest.mark.slow  # two full Dagster runs with detector and trial training (~45 s); CI runs it with `make test-slow`
def test_the_loop_from_the_command_line(project_dir: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    w = ["--project", str(project_dir), "--warehouse", str(wh)]

    def moshu(*args: str, code: int = 0) -> str:
        res = runner.invoke(app, [*args, *w])
        assert res.exit_code == code, res.output
        return res.stdout if code == 0 else res.stderr

    first = moshu("run", "ai4i2020")
    assert "ai4i_failure_classifier" in first and "baseline" in first  # demands and trial training summary
    # dataset, version, status, level, score, rows in, published, quarantined, warned, rules passed, rules failed (README)
    assert _summary_row(first, "ai4i2020") == [
        "ai4i2020",
        "v1",
        "new",
        "silver",
        "1.000",
        "10,000",
        "10,000",
        "0",
        "27",
        "27",
        "1",
    ]
    instance = dg.DagsterInstance.from_config(str(wh / ".dagster"))
    for stage in ("demands", "trial_training", "label_issues"):
        assert instance.get_latest_materialization_event(dg.AssetKey(["ai4i2020", stage])) is not None, stage
    assert "every demand is met" in moshu("gaps", "ai4i2020")
    assert "train" in moshu("splits", "ai4i2020") and "balanced_accuracy" in moshu("trials", "ai4i2020")
    listed = moshu("feedback", "list", "ai4i2020", "--status", "proposed", "--limit", "3")
    assert "moshu-rules" in listed and "label_error" in listed  # the label rule's findings (the README's example)
    assert "no detector candidates held back" in moshu("feedback", "list", "ai4i2020", "--held")

    bad = tmp_path / "bad.csv"
    bad.write_text("row_key,kind,column,suggested_value\n17,label_error,machine_failure,1\n123456,outlier,,\n", encoding="utf-8")
    err = moshu("feedback", "submit", "ai4i2020@1", str(bad), "--by", "maint-models", code=1)
    assert "bad.csv row 2: row key `123456` is not in `ai4i2020` v1" in err and "nothing was recorded" in err
    good = tmp_path / "findings.csv"
    good.write_text("row_key,kind,confidence,note\n42,outlier,0.95,torque spike while tool changed\n", encoding="utf-8")
    run_id = moshu("model", "register", "ai4i2020@1", "--model", "xgb-v3", "--metric", "f1=0.61", "--by", "maint-models",
                   "--demand", "ai4i_failure_classifier", "--param", "depth=6").strip()  # fmt: skip
    assert re.fullmatch(r"[0-9a-f]{16}", run_id)
    assert "xgb-v3" in moshu("model", "list", "ai4i2020")
    submitted = moshu("feedback", "submit", "ai4i2020@1", str(good), "--by", "maint-models", "--run", run_id)
    assert _recorded(submitted) == 1
    by_sql = moshu("feedback", "submit", "ai4i2020", "--by", "maint-models", "--sql",
                   "select cast(udi as varchar) as row_key, 'hard_example' as kind from dataset('ai4i2020', 1) where torque_nm > 75")  # fmt: skip
    assert _recorded(by_sql) == 3  # the seed's three rows above 75 Nm

    con = duckdb.connect(str(wh / "catalog.duckdb"), read_only=True)
    (outlier_id,) = con.execute("select feedback_id from feedback where row_key = '42'").fetchone()  # type: ignore[misc]
    con.close()
    assert moshu("feedback", "review", str(outlier_id), "--accept", "--reject", "--by", "x", "--reason", "y", code=2)
    assert (
        moshu("feedback", "review", str(outlier_id), "--accept", "--by", "qa", "--reason", "confirmed").strip()
        == "accepted 1 finding"
    )

    second = moshu("run", "ai4i2020")
    assert _summary_row(second, "ai4i2020")[1:4] == ["v2", "new", "silver"]
    d = json.loads(moshu("diff", "ai4i2020", "1", "2", "--json"))
    assert (d["rows_added"], d["rows_removed"], d["rows_changed"], d["quarantine_added"], d["quarantine_removed"]) == (
        0,
        0,
        0,
        1,
        0,
    )
    rows = json.loads(moshu("sql", "select row_key, change from diff_rows('ai4i2020', 1, 2)", "-f", "json"))
    assert rows == [{"row_key": "42", "change": "quarantined"}]  # the accepted outlier, set aside under feedback.exclude
    assert "correction_added" in moshu("sql", "select change from changelog where dataset = 'ai4i2020' and version = 2")
    assert "no version 9" in moshu("diff", "ai4i2020", "1", "9", code=1)
    assert "model page:" in moshu("report", "ai4i2020")
    assert (wh / "datasets" / "ai4i2020" / "models" / "v2.html").is_file()

    assert moshu("verify").startswith("ok: 2 versions")
    split = wh / "datasets" / "ai4i2020" / "splits" / "v1" / "ai4i_failure_classifier.parquet"
    import polars as pl

    pl.read_parquet(split).with_columns(pl.lit("train").alias("split")).write_parquet(split)  # everything in train
    card = wh / "datasets" / "ai4i2020" / "cards" / "v2.md"
    card.write_text(
        card.read_text(encoding="utf-8").replace("| grade (GB/T 43697) | general", "| grade (GB/T 43697) | core"),
        encoding="utf-8",
    )
    out = moshu("verify", code=1)
    assert re.search(r"(\d+) problems? in (\d+) versions", out).groups() == ("2", "2"), out  # type: ignore[union-attr]
