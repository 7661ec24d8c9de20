"""The whole loop on real AI4I data: v1 -> the label rule and the detector propose -> reviews -> v2 with exactly the accepted
corrections -> trial training on both -> diff shows exactly those changes -> v1 untouched."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.catalog.client import CatalogClient
from pipelines.ingest.fingerprint import sha256_file
from pipelines.models.detector import run_detector
from pipelines.models.diff import diff_versions
from pipelines.models.feedback import review, submit
from pipelines.models.frozen import frozen_path
from pipelines.models.stage import curate_for_models
from pipelines.models.trial import run_trials
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.conftest import copy_project

NAME = "ai4i2020"


def _hashes(wh: Warehouse, version: int) -> dict[str, str]:
    """Digests of every file of a version: its folder (manifest, quality) and its files in the Delta tables."""
    in_tables = [Path(f) for f in wh.data_files(NAME, version) + wh.quarantine_files(NAME, version)]
    assert len(in_tables) == 2, in_tables
    files = [p for p in wh.version_dir(NAME, version).rglob("*") if p.is_file()] + in_tables
    return {str(p): sha256_file(p) for p in sorted(files)}


def _cycle(root: Path, wh: Warehouse) -> int:
    """One scheduled run of the dataset's assets, without Dagster: publish, then the model-side stages."""
    loaded = load_project(root, only=[NAME]).datasets[NAME]
    pub = run_dataset(loaded, root, wh)
    curate_for_models(loaded, wh, root)
    run_trials(loaded, wh)
    run_detector(loaded, wh)
    return pub.version


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = copy_project(tmp_path_factory.mktemp("loop") / "project")
    wh = Warehouse(root / "warehouse")
    assert _cycle(root, wh) == 1
    v1_files = _hashes(wh, 1)
    with CatalogClient(wh.root) as c:
        proposed = c.rows(
            "SELECT feedback_id, row_key, column_name, suggested_value, source FROM feedback_status "
            "WHERE dataset = ? AND status = 'proposed' ORDER BY feedback_id",
            [NAME],
        )
        v1_labels = dict(c.rows("SELECT CAST(udi AS VARCHAR), machine_failure FROM dataset('ai4i2020', 1)"))
        v1_modes = dict(c.rows("SELECT CAST(udi AS VARCHAR), greatest(twf, hdf, pwf, osf, rnf) FROM dataset('ai4i2020', 1)"))
    suggesting = [r for r in proposed if r[3] is not None]
    accepted, rejected = suggesting[:3], suggesting[3:5]
    review(wh, [r[0] for r in accepted], "accepted", by="qa-lead", reason="random failure: the process did stop")
    review(wh, [r[0] for r in rejected], "rejected", by="qa-lead", reason="caught before the process failed")
    # A model team reports an outlier from a file-free submission; accepted, it excludes the row.
    outlier = submit(wh, f"{NAME}@1", [{"row_key": "77", "kind": "outlier", "confidence": 0.9}], by="vision-team", source="test")
    review(wh, outlier, "accepted", by="qa-lead", reason="sensor glitch during calibration")
    assert _cycle(root, wh) == 2
    return {"root": root, "wh": wh, "proposed": proposed, "accepted": accepted, "rejected": rejected,
            "outlier": outlier[0], "v1_files": v1_files, "v1_labels": v1_labels, "v1_modes": v1_modes}  # fmt: skip


def test_the_label_rule_proposes_every_inconsistency_and_the_detector_does_not_repeat_them(loop: dict) -> None:
    proposed = loop["proposed"]
    labels, modes = loop["v1_labels"], loop["v1_modes"]
    inconsistent = {k for k in labels if labels[k] != modes[k]}
    assert len(inconsistent) == 27
    assert {r[1] for r in proposed} == inconsistent
    for _, key, column, suggested, source in proposed:
        assert (column, source) == ("machine_failure", "rule:ai4i.labels.consistent")
        # a flagged failure mode implies a failure; a failure without a mode implies nothing: review only
        assert suggested == ("1" if modes[key] == 1 else None)
    with CatalogClient(loop["wh"].root) as c:
        metrics = dict(
            c.rows("SELECT metric, value FROM model_scores WHERE dataset = ? AND version = 1 AND kind = 'detector'", [NAME])
        )
    assert metrics["proposed"] == 0  # the rows it doubts already have the rule's findings


def test_v2_applies_exactly_the_accepted_corrections(loop: dict) -> None:
    wh: Warehouse = loop["wh"]
    m = wh.manifest(NAME, 2)
    added = [e for e in m["changelog"] if e["change"] == "correction_added"]
    want = {r[0] for r in loop["accepted"]} | {loop["outlier"]}
    assert {e["feedback_id"] for e in added} == want
    assert [e["change"] for e in m["changelog"]] == ["correction_added"] * 4  # raw data, spec and rules unchanged
    relabels = {c["row_key"]: c for c in m["corrections"] if c["action"] == "relabel"}
    assert set(relabels) == {r[1] for r in loop["accepted"]}
    for _, key, _, suggested, _ in loop["accepted"]:
        assert relabels[key]["old_value"] == str(loop["v1_labels"][key]) and relabels[key]["new_value"] == suggested
    with CatalogClient(wh.root) as c:
        v2 = dict(c.rows("SELECT CAST(udi AS VARCHAR), machine_failure FROM dataset('ai4i2020', 2)"))
        q = c.rows("SELECT udi, _failed_rules, _reasons FROM quarantine('ai4i2020', 2)")
        logged = c.rows("SELECT feedback_id FROM changelog WHERE dataset = ? AND version = 2 ORDER BY seq", [NAME])
    for _, key, _, suggested, _ in loop["accepted"]:
        assert str(v2[key]) == suggested
    for _, key, _, _, _ in loop["rejected"]:
        assert v2[key] == loop["v1_labels"][key]
    assert "77" not in v2 and len(q) == 1 and q[0][0] == 77 and q[0][1] == ["feedback.exclude"]
    assert "sensor glitch" in q[0][2][0]
    assert m["counts"]["rows_in"] == m["counts"]["rows_published"] + m["counts"]["rows_quarantined"] == 10_000
    assert {r[0] for r in logged} == want


def test_trial_training_recorded_for_both_versions(loop: dict) -> None:
    with CatalogClient(loop["wh"].root) as c:
        rows = c.rows("SELECT version, metric, value, previous_value, verdict FROM trial_trend WHERE dataset = ?", [NAME])
    assert [r[0] for r in rows] == [1, 2]
    assert rows[0][1] == "balanced_accuracy" and 0.5 < rows[0][2] <= 1
    (_, _, v1), (_, _, v2) = [(r[0], r[1], r[2]) for r in rows]
    with CatalogClient(loop["wh"].root) as c:
        noise = [n for (n,) in c.rows("SELECT noise FROM trial_trend WHERE dataset = ? ORDER BY version", [NAME])]
        relabelled = c.rows("SELECT relabelled FROM trial_trend WHERE dataset = ? AND version = 2", [NAME])[0][0]
    expected = "within noise" if abs(v2 - v1) <= max(noise) else ("lifted" if v2 > v1 else "worse")
    assert rows[1][3] == v1 and rows[1][4] == expected  # on the frozen set, against the noise of both versions
    frozen = set(pl.read_parquet(frozen_path(loop["wh"], NAME, "ai4i_failure_classifier"))["row_key"])
    assert relabelled == len({r[1] for r in loop["accepted"]} & frozen)  # accepted relabels of frozen rows


def test_diff_shows_exactly_the_corrections(loop: dict) -> None:
    d = diff_versions(loop["wh"], NAME, 1, 2)
    keys = {r[1] for r in loop["accepted"]}
    assert (d.rows_added, d.rows_removed, d.rows_changed, d.labels_changed) == (0, 0, 3, 3)
    assert (d.quarantine_added, d.quarantine_removed) == (1, 0)
    assert set(d.rows.filter(pl.col("change") == "changed")["row_key"]) == keys
    assert d.rows.filter(pl.col("change") == "quarantined")["row_key"].to_list() == ["77"]
    assert {k: v for k, v in d.changed_by_column.items() if v} == {"machine_failure": 3}
    with CatalogClient(loop["wh"].root) as c:  # the same, stored by the run and queryable in SQL
        stored = c.rows("SELECT labels_changed, quarantine_added FROM version_diffs WHERE dataset = ? AND to_version = 2", [NAME])
        sql_rows = c.rows("SELECT row_key, change FROM diff_rows('ai4i2020', 1, 2) ORDER BY change, row_key")
    assert stored == [(3, 1)]
    assert sorted(sql_rows) == sorted([(k, "changed") for k in keys] + [("77", "quarantined")])


def test_v1_is_unchanged_and_queryable(loop: dict) -> None:
    wh: Warehouse = loop["wh"]
    assert _hashes(wh, 1) == loop["v1_files"]
    with CatalogClient(wh.root) as c:
        v1 = dict(c.rows("SELECT CAST(udi AS VARCHAR), machine_failure FROM dataset('ai4i2020', 1)"))
    assert v1 == loop["v1_labels"]


def test_an_unchanged_rerun_makes_no_version_and_no_new_proposals_for_reviewed_rows(loop: dict) -> None:
    wh: Warehouse = loop["wh"]
    assert _cycle(loop["root"], wh) == 2
    with CatalogClient(wh.root) as c:
        again = c.rows(
            "SELECT row_key, count(*) FROM feedback WHERE dataset = ? AND column_name = 'machine_failure' GROUP BY row_key HAVING count(*) > 1",
            [NAME],
        )
    assert again == []
    assert json.loads((wh.version_dir(NAME, 2) / "manifest.json").read_text())["version"] == 2


def test_withdrawing_an_accepted_correction_makes_a_version_without_it(loop: dict) -> None:
    wh: Warehouse = loop["wh"]
    fid, key = loop["accepted"][0][0], loop["accepted"][0][1]
    review(wh, [fid], "rejected", by="cdo", reason="second opinion: the failure was real")
    assert _cycle(loop["root"], wh) == 3
    log = wh.manifest(NAME, 3)["changelog"]
    assert [(e["change"], e.get("feedback_id")) for e in log] == [("correction_removed", fid)]
    with CatalogClient(wh.root) as c:
        (label,) = c.rows("SELECT machine_failure FROM dataset('ai4i2020', 3) WHERE udi = ?", [int(key)])[0]
    assert label == loop["v1_labels"][key]
