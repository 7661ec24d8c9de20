"""Governance tampering replayed on the seeds' warehouse: `moshu verify` reports each one, never with a traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.catalog.db import writer
from pipelines.cli import app
from pipelines.governance.audit import TAIL_FILE
from pipelines.governance.verify import AUDIT_LOG, Problem, verify
from pipelines.ingest.fingerprint import sha256_file
from pipelines.models.stage import curate_for_models, split_path
from pipelines.report.card import write_cards
from pipelines.report.model_page import write_model_pages
from pipelines.warehouse import Warehouse
from tests.conftest import Built

CNC, AI4I = "cnc_line", "ai4i2020"
runner = CliRunner()


@pytest.fixture(scope="module")
def decorated(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The seeds' warehouse with splits, dataset cards and model pages, as a full `moshu run` leaves it; never modified."""
    wh = Warehouse(Path(shutil.copytree(built.warehouse.root, tmp_path_factory.mktemp("tamper") / "warehouse")))
    for name in (AI4I, CNC):
        curate_for_models(built.project.datasets[name], wh, built.project.root)
    for name in (AI4I, CNC):  # after every catalog write, as a run writes them last (a card links its model page)
        write_model_pages(wh, name)
        write_cards(wh, name)
    yield wh


@pytest.fixture
def wh(decorated: Warehouse, tmp_path: Path) -> Warehouse:
    """A private copy of the decorated warehouse, free to tamper with."""
    return Warehouse(Path(shutil.copytree(decorated.root, tmp_path / "warehouse")))


def _found(wh: Warehouse, dataset: str | None = None) -> list[Problem]:
    report = verify(wh, dataset)
    assert not report.ok
    return report.problems


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _cli(wh: Warehouse, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["verify", *args, "--warehouse", str(wh.root)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception  # a report, not a traceback
    return res.exit_code, res.output


def test_the_decorated_warehouse_verifies(decorated: Warehouse) -> None:
    report = verify(decorated)
    assert report.ok, [p.render() for p in report.problems]
    assert report.audit_tail is not None and report.audit_tail[0] > 0  # every publish sealed the tail
    assert split_path(decorated, AI4I, 1, "ai4i_failure_classifier").is_file()
    assert (decorated.dataset_dir(CNC) / "models" / "v1.html").is_file()


def test_a_personal_column_made_public_is_reported(wh: Warehouse) -> None:
    with writer(wh) as con:
        con.execute("UPDATE columns SET sensitivity = 'public' WHERE column_name = 'operator_id'")
    [p] = _found(wh)
    assert (p.dataset, p.version, p.path) == (CNC, 1, f"datasets/{CNC}/v1/manifest.json")
    assert "`columns.sensitivity`" in p.problem and "`operator_id`" in p.problem
    assert (p.expected, p.actual) == ("personal", "public")
    code, output = _cli(wh, CNC)
    assert code == 1 and "operator_id" in output


def test_a_sensitivity_lowered_in_the_catalog_opens_nothing_to_a_role(wh: Warehouse) -> None:
    """The guard takes the stricter of the catalog's and the manifest's sensitivity: the edit is reported, not obeyed."""
    from pipelines.errors import PolicyError
    from pipelines.governance.guard import GuardedClient
    from pipelines.governance.policy import default_policy_path, load_policy

    policy = load_policy(default_policy_path(Path(__file__).resolve().parents[2]))
    with writer(wh) as con:
        con.execute("UPDATE columns SET sensitivity = 'public' WHERE column_name = 'operator_id'")
    with GuardedClient(wh.root, "model-team", policy) as g:
        assert "operator_id" not in g.sql(f"SELECT * FROM {CNC} LIMIT 1").columns
        with pytest.raises(PolicyError, match="operator_id"):
            g.sql(f"SELECT operator_id FROM {CNC}")


def test_a_grade_lowered_in_the_catalog_opens_nothing_to_a_role(wh: Warehouse, tmp_path: Path) -> None:
    """The guard takes the stricter of the catalog's grade and every version manifest's: `cnc_line` stays important."""
    from pipelines.errors import PolicyError
    from pipelines.governance.guard import GuardedClient
    from pipelines.governance.policy import load_policy

    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(
        "roles:\n  viewer:\n    description: general data only\n    grades: [general]\n"
        "    sensitivities: [public, confidential]\n    catalog_tables: [datasets]\n",
        encoding="utf-8",
    )
    policy = load_policy(policy_file)
    with writer(wh) as con:
        con.execute(f"UPDATE datasets SET grade = 'general' WHERE name = '{CNC}'")
    with GuardedClient(wh.root, "viewer", policy) as g:
        with pytest.raises(PolicyError, match=CNC):
            g.sql(f"SELECT count(*) FROM {CNC}")
        assert g.sql(f"SELECT count(*) FROM {AI4I}").rows == [(10_000,)]


def test_edited_rule_results_and_measures_are_reported(wh: Warehouse) -> None:
    with writer(wh) as con:
        con.execute("UPDATE rule_results SET failed = 0, passed = true WHERE name = ? AND NOT passed", [CNC])
        con.execute("UPDATE measures SET x = 0.5 WHERE name = ? AND clause = 'I-1'", [CNC])  # identifiability
    problems = _found(wh)
    tables = {p.problem.split("`")[1].split(".")[0] for p in problems}
    assert tables == {"rule_results", "measures"}, [p.render() for p in problems]
    assert all(p.dataset == CNC for p in problems)
    assert any("rule_results.failed" in p.problem for p in problems)


def test_deleted_quarantine_summary_and_runs_rows_are_reported(wh: Warehouse) -> None:
    with writer(wh) as con:
        con.execute("DELETE FROM quarantine_summary WHERE name = ?", [CNC])
        con.execute("DELETE FROM runs WHERE name = ?", [AI4I])
    problems = _found(wh)
    summary = [p for p in problems if "quarantine_summary" in p.problem]
    assert summary and all(p.dataset == CNC and "missing (deleted)" in p.problem for p in summary)
    [run] = [p for p in problems if "`runs`" in p.problem]
    assert run.dataset == AI4I and run.actual == "no row"
    assert len(problems) == len(summary) + 1


def test_a_flipped_byte_in_a_card_or_a_model_page_is_reported(wh: Warehouse) -> None:
    html = wh.dataset_dir(AI4I) / "cards" / "v1.html"
    page = wh.dataset_dir(CNC) / "models" / "v1.html"
    _flip(html, html.stat().st_size // 2)
    _flip(page, page.stat().st_size // 2)
    assert {(p.path, p.problem) for p in _found(wh)} == {
        (f"datasets/{AI4I}/cards/v1.html", "dataset card (HTML) differs from the one generated from the catalog"),
        (f"datasets/{CNC}/models/v1.html", "model page differs from the one generated from the catalog"),
    }


def test_deleting_the_last_audit_row_is_reported_and_stays_reported(wh: Warehouse) -> None:
    with writer(wh) as con:
        con.execute("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
    [p] = _found(wh)
    assert (p.dataset, p.path) == (AUDIT_LOG, TAIL_FILE) and "missing" in p.problem
    code, _ = _cli(wh)  # it appends (and seals) its own record
    assert code == 1
    [p] = _found(wh)  # the append did not launder the deletion
    assert "did not end at its sealed tail" in p.problem


def test_a_deleted_audit_tail_is_reported_and_stays_reported(wh: Warehouse) -> None:
    with writer(wh) as con:
        con.execute("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
    (wh.root / TAIL_FILE).unlink()  # the seal goes too
    [p] = _found(wh)
    assert (p.dataset, p.path) == (AUDIT_LOG, TAIL_FILE) and "missing" in p.problem and "deleted" in p.problem
    assert _cli(wh)[0] == 1  # its record writes a new tail file, which keeps that the old one was gone
    [p] = _found(wh)
    assert "was missing when" in p.problem


def test_a_manifest_re_registered_in_the_catalog_is_caught_by_the_audit_log(wh: Warehouse) -> None:
    """The attacker edits a manifest, then writes its new sha256 into `versions`: the publish record still differs."""
    path = wh.version_dir(AI4I, 1) / "manifest.json"
    m = json.loads(path.read_text())
    m["quality"]["min_level"] = "bronze"
    path.write_text(json.dumps(m, indent=2))
    with writer(wh) as con:
        con.execute("UPDATE versions SET manifest_sha256 = ?, min_level = 'bronze' WHERE name = ?", [sha256_file(path), AI4I])
    problems = _found(wh, AI4I)
    [p] = [p for p in problems if "audit log" in p.problem]
    assert "not the one the audit log recorded at publish" in p.problem and p.actual == sha256_file(path)
    assert {q.path for q in problems} - {p.path} == {f"datasets/{AI4I}/cards/v1.md", f"datasets/{AI4I}/cards/v1.html"}


def test_a_corrupted_parquet_footer_is_a_finding_not_a_traceback(wh: Warehouse) -> None:
    [file] = wh.data_files(AI4I, 1)
    data, rel = Path(file), Path(file).relative_to(wh.root).as_posix()
    assert rel.startswith(f"datasets/{AI4I}/published/v1/part-00000-")
    _flip(data, data.stat().st_size - 20)  # inside the footer: "File out of specification"
    problems = _found(wh)
    assert {p.path for p in problems} >= {rel}
    assert any("split" in p.problem and "failed" in p.problem for p in problems), [p.render() for p in problems]
    code, output = _cli(wh)
    # the table column cuts the path after `part-0000` (the file's token follows)
    assert code == 1 and "Traceback" not in output and f"datasets/{AI4I}/published/v1/part-0000" in output
