"""`moshu init` on the command line: dry run, refusing to overwrite, errors on stderr with exit code 1."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


def _project(tmp_path: Path) -> Path:
    for d in ("dataset_specs", "quality_rules", "raw"):
        (tmp_path / d).mkdir()
    rows = ["Timestamp,Press ID,Force [kN],Operator"]
    rows += [f"2026-03-02 06:{i // 10:02d}:{i % 10 * 6:02d},P{i % 2},{100 + i % 9}.5,W{i % 4}" for i in range(120)]
    (tmp_path / "raw" / "press.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_dry_run_prints_both_files_and_writes_nothing(tmp_path: Path) -> None:
    root = _project(tmp_path)
    res = runner.invoke(app, ["init", "press", "raw/*.csv", "--dry-run", "--grade", "general", "--project", str(root)])
    assert res.exit_code == 0, res.output
    assert "# --- dataset_specs/press.yaml" in res.stdout and "# --- quality_rules/press.yaml" in res.stdout
    assert "grade: general\n" in res.stdout and "default_sensitivity: confidential  # REVIEW" in res.stdout
    assert '{name: force, source: "Force [kN]", dtype: float64, unit: kN, role: measurement' in res.stdout
    assert "W1" not in res.stdout  # the operator column is personal: no value of it is printed
    assert not list((root / "dataset_specs").iterdir())


def test_writes_then_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    root = _project(tmp_path)
    args = ["init", "press", "raw/press.csv", "--project", str(root)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "wrote dataset_specs/press.yaml and quality_rules/press.yaml" in first.stdout
    assert runner.invoke(app, ["check", "--project", str(root)]).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "already exist; pass `--force`" in again.stderr
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_bad_name_and_missing_files_exit_1(tmp_path: Path) -> None:
    root = _project(tmp_path)
    res = runner.invoke(app, ["init", "versions", "raw/press.csv", "--project", str(root)])
    assert res.exit_code == 1 and "reserved for the catalog" in res.stderr
    res = runner.invoke(app, ["init", "press", "raw/*.xlsx", "--project", str(root)])
    assert res.exit_code == 1 and "no file matches `raw/*.xlsx`" in res.stderr


def test_another_broken_spec_does_not_stop_the_draft(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "dataset_specs" / "other.yaml").write_text("name: other\nnot_a_key: 1\n")
    res = runner.invoke(app, ["init", "press", "raw/press.csv", "--project", str(root)])
    assert res.exit_code == 0, res.output
    assert (root / "dataset_specs" / "press.yaml").is_file()
