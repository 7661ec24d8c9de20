"""Personal values never leave ingest in clear: not in errors, runs.message, Dagster's storage, reports or logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.errors import SourceError
from pipelines.ingest.redact import REDACTED, parser_message, redact, redact_text
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.stages import ingest
from pipelines.warehouse import Warehouse

MOSHU = str(Path(sys.executable).parent / "moshu")
SEED = Path("seeds/cnc_line/cnc_line_sample.csv")
SECRET = b"OP-1001"  # an operator id of the cnc seed: `operator_id` is personal in dataset_specs/cnc_line.yaml


def _edit_first_row(project: Path, edit: object) -> int:
    """Apply `edit(fields) -> line` to the first data row holding OP-1001; return its line number (1-based)."""
    path = project / SEED
    lines = path.read_text(encoding="utf-8").split("\n")
    n = next(i for i, line in enumerate(lines) if "OP-1001" in line)
    lines[n] = edit(lines[n].split(","))  # type: ignore[operator]
    path.write_text("\n".join(lines), encoding="utf-8")
    return n + 1


def _unclosed_quote(fields: list[str]) -> str:
    fields[3] = '"' + fields[3]  # operator_id, the 4th field
    return ",".join(fields)


def _files_holding(folder: Path, needle: bytes) -> list[str]:
    """Every file under `folder` whose bytes contain `needle`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes())


def _messages(catalog: Path) -> list[str]:
    with duckdb.connect(str(catalog), read_only=True) as con:
        return [m for (m,) in con.sql("SELECT message FROM runs WHERE message IS NOT NULL").fetchall()]


def test_parser_message_keeps_no_quoted_text() -> None:
    with pytest.raises(pl.exceptions.ComputeError) as e:
        pl.read_csv(b'a,b\n1,"OP-1001,2\n3,4\n', infer_schema=False)
    assert "OP-1001" in str(e.value)  # polars quotes the raw line ...
    msg = parser_message(e.value)
    assert "OP-1001" not in msg and REDACTED in msg  # ... the message moshu keeps does not


def test_redact_replaces_whole_tokens_only() -> None:
    text = "operator OP-1001, not XOP-10012 nor OP-1001-B; `OP-1001`"
    assert redact(text, {"OP-1001", ""}) == f"operator {REDACTED}, not XOP-10012 nor OP-1001-B; `{REDACTED}`"


def test_stored_messages_lose_personal_values_of_sources_and_enrich_files(project_dir: Path) -> None:
    (project_dir / "seeds/master/supervisors.csv").write_text(
        "machine_id,supervisor\n" + "".join(f"CNC-0{i},SUP-{i}\n" for i in range(1, 7)), encoding="utf-8"
    )
    with (project_dir / "dataset_specs/cnc_line.yaml").open("a", encoding="utf-8") as f:
        f.write(
            "enrich:\n  - path: seeds/master/supervisors.csv\n    on: [machine_id]\n    columns:\n"
            "      - {name: supervisor, dtype: string, sensitivity: personal}\n"
        )
    spec = load_project(project_dir).datasets["cnc_line"].spec
    text = "row of OP-1001 (supervisor SUP-3) on CNC-01"
    assert redact_text(text, spec, project_dir) == f"row of {REDACTED} (supervisor {REDACTED}) on CNC-01"


def test_unclosed_quote_is_located_without_quoting_the_row(project_dir: Path, warehouse: Warehouse) -> None:
    line = _edit_first_row(project_dir, _unclosed_quote)
    proj = load_project(project_dir)
    with pytest.raises(SourceError) as e:
        run_dataset(proj.datasets["cnc_line"], proj.root, warehouse)
    msg = str(e.value)
    assert "OP-1001" not in msg
    assert f"`{SEED.as_posix()}`" in msg and f"line {line}, field 4 (`operator_id`)" in msg
    assert "close the quote" in msg


def test_a_file_without_its_header_does_not_show_its_first_row(project_dir: Path, warehouse: Warehouse) -> None:
    path = project_dir / SEED
    path.write_text(path.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")  # the header line removed
    proj = load_project(project_dir)
    with pytest.raises(SourceError) as e:
        run_dataset(proj.datasets["cnc_line"], proj.root, warehouse)
    assert "OP-1001" not in str(e.value) and "CNC-01" not in str(e.value)
    assert "no column `operator_id`" in str(e.value) and "is not shown" in str(e.value)


def test_a_headerless_file_set_aside_as_drift_records_no_raw_value(project_dir: Path, warehouse: Warehouse) -> None:
    """Under `source.drift: quarantine_file` the manifest's drift record lists the file's 'new columns': not its row."""
    seed = (project_dir / SEED).read_text(encoding="utf-8")
    (project_dir / SEED).with_name("headless.csv").write_text(seed.split("\n", 1)[1], encoding="utf-8")
    spec = project_dir / "dataset_specs/cnc_line.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("  format: csv\n", "  format: csv\n  drift: quarantine_file\n"))
    ing = ingest(load_project(project_dir).datasets["cnc_line"], project_dir, warehouse)
    assert [q["path"] for q in ing.quarantined_files] == ["seeds/cnc_line/headless.csv"]
    assert ing.drift[0]["new_columns"] == [REDACTED] * 14
    assert "OP-1001" not in repr(ing.quarantined_files) + repr(ing.drift)


@pytest.mark.slow
def test_bad_values_and_a_failing_rule_on_a_personal_column_leave_no_raw_value(
    project_dir: Path, warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    """The row holding OP-1001 fails typing (quarantined with its reason and row), a rule on `operator_id` fails
    (its failing values in the results and report), and nothing written or logged holds the raw id."""

    def bad_values(fields: list[str]) -> str:
        fields[0], fields[5] = "not a time", "fast"  # ts and spindle_speed_rpm fail typing
        return ",".join(fields)

    _edit_first_row(project_dir, bad_values)
    rules = project_dir / "quality_rules/cnc_line.yaml"
    rules.write_text(
        rules.read_text(encoding="utf-8")
        + "  - id: cnc.operator.unique\n    kind: unique\n    columns: [operator_id]\n    severity: warn\n"
        + "    description: One row per operator, which fails as operators work many intervals.\n",
        encoding="utf-8",
    )
    proj = load_project(project_dir)
    with caplog.at_level(logging.DEBUG):
        pub = run_dataset(proj.datasets["cnc_line"], proj.root, warehouse)
    assert pub.rows_quarantined > 0 and pub.rows_warned > 0 and pub.rules_failed > 0
    assert _files_holding(warehouse.root, SECRET) == []
    assert "OP-1001" not in caplog.text


@pytest.mark.slow
def test_moshu_run_with_an_unclosed_quote_stores_no_raw_value(project_dir: Path) -> None:
    """`moshu run` through Dagster, as `make run` does: the failure names file, line and fix; no file under the
    warehouse or the Dagster instance (catalog.duckdb included), nor the command's output, holds OP-1001."""
    line = _edit_first_row(project_dir, _unclosed_quote)
    env = {**os.environ, "MOSHU_PSEUDONYM_KEY": os.environ["MOSHU_PSEUDONYM_KEY"]}
    env.pop("MOSHU_WAREHOUSE", None)
    env.pop("MOSHU_PROJECT", None)
    done = subprocess.run(
        [MOSHU, "run", "cnc_line"], cwd=project_dir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "OP-1001" not in out
    assert f"`{SEED.as_posix()}`" in out and f"line {line}, field 4" in out and "close the quote" in out
    wh = Warehouse(project_dir / "warehouse")
    assert wh.dagster_home.is_dir() and (wh.root / "catalog.duckdb").is_file()
    assert _files_holding(wh.root, SECRET) == []  # the Dagster instance (DAGSTER_HOME) is inside the warehouse
    messages = _messages(wh.root / "catalog.duckdb")
    assert any(f"line {line}, field 4" in m for m in messages)
    assert not any("OP-1001" in m for m in messages)


LANDING_SPEC = """\
name: press
title: Press readings
description: Readings delivered to a landing folder.
owner: test
classification: {grade: general, domain: production, cdo: c, retention: P1Y, default_sensitivity: public}
source:
  format: csv
  path: landing/press/*.csv
  landing: {path: landing/press, stable_seconds: 5}
columns:
  - {name: id, dtype: int64, nullable: false, description: Reading id.}
  - {name: operator, dtype: string, sensitivity: personal, description: Operator.}
  - {name: force_kn, dtype: float64, description: Press force.}
primary_key: [id]
"""


def test_a_landing_file_rejected_by_the_sensor_leaves_no_raw_value(tmp_path: Path) -> None:
    """The sensor's reason (ledger in the warehouse, `.reason.txt`, Dagster's sensor log) quotes no raw line."""
    from pipelines.landing import check_landing

    root = tmp_path / "project"
    (root / "dataset_specs").mkdir(parents=True)
    (root / "dataset_specs/press.yaml").write_text(LANDING_SPEC, encoding="utf-8")
    landing = root / "landing/press"
    landing.mkdir(parents=True)
    (landing / "a.csv").write_text('id,operator,force_kn\n1,"OP-1001,10.5\n2,OP-1001,11.0\n', encoding="utf-8")
    spec = load_project(root).datasets["press"].spec
    ledger = tmp_path / "wh/landing/press.json"
    tick = check_landing(spec, root, ledger, {}, now=2e9)  # written long before `now`: complete
    (why,) = tick.rejected.values()
    assert "a.csv" in why and "line 2, field 2 (`operator`)" in why and "OP-1001" not in why
    holding = _files_holding(tmp_path, SECRET)
    assert holding and all(name.endswith(".csv") for name in holding)  # only the raw file itself, set aside
