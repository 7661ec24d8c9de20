"""Certification end to end: a version below its publish gate is kept as a rejected candidate; reports and views."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl

from pipelines.catalog.client import CatalogClient
from pipelines.warehouse import Warehouse
from tests.conftest import Built, build


def _set(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


# What `make run` shows for each seed, as README.md states it: (rows in, published, quarantined, warned, rules
# passed, rules failed), and the verdict, first of the reasons.
SEED_FIGURES = {
    "ai4i2020": (
        (10_000, 10_000, 0, 27, 27, 1),
        "silver: all 16 gates hold, score 0.9999; not gold: 1 of 23 scored measures fail",
    ),
    "cmapss": (
        (160_359, 160_359, 0, 0, 42, 1),
        "bronze: all 31 gates hold, score 0.9910; not silver: 1 scored measures miss their threshold by more than 0.05",
    ),
    "cnc_line": (
        (2_385, 2_355, 30, 39, 28, 9),
        "silver: all 15 gates hold, score 0.9985; not gold: 7 of 29 scored measures fail",
    ),
    "steel_plates_faults": (
        (1_941, 1_941, 0, 7, 83, 0),
        "gold: all 38 gates hold, all 47 scored measures pass, score 0.9998",
    ),
}
README = Path(__file__).resolve().parents[2] / "README.md"

# The honest level of each seed: gold only when every gate holds and every scored measure passes.
SEED_LEVELS = {
    "ai4i2020": ("silver", "K-3 ai4i.labels.consistent X = 0.9973 < 0.999"),  # 27 failures without a failure mode
    "cmapss": ("bronze", "D-3 cmapss.features.informative X = 0.8646 < 1"),  # sensors constant in FD001 and FD003
    "cnc_line": ("silver", "A-1 cnc.spindle_speed.span X = 0.9987 < 0.999"),  # the synthetic line's seeded defects
    "steel_plates_faults": ("gold", None),
}


def test_every_version_has_scores_a_level_and_reports(built: Built) -> None:
    for name in built.project.datasets:
        m = built.warehouse.manifest(name, 1)
        q = m["quality"]
        level, reason = SEED_LEVELS[name]
        assert q["level"] == level and 0 <= q["overall"] <= 1, (name, q["reasons"])
        assert q["reasons"][0].startswith(f"{level}: ") and (reason is None or any(r.startswith(reason) for r in q["reasons"]))
        assert m["status"] == "published" and m["profile"]["rows"] == m["counts"]["rows_published"]
        assert q["dimensions"] and q["measures"]
        vdir = built.warehouse.version_dir(name, 1)
        report = (vdir / m["report"]).read_text()
        assert "Score per dimension" in report and "<svg" in report and "Rules by impact" in report
        assert "<h2>Baseline profile</h2>" in report and f"<b>Why this level:</b> {level}: " in report
        docs = (vdir / m["ge"]["data_docs"]).read_text()
        assert "<html" in docs.lower() and m["ge"]["data_docs"] in {f["path"] for f in m["files"]}


def test_each_seed_reaches_the_level_and_counts_the_readme_states(built: Built) -> None:
    assert sorted(built.results) == sorted(SEED_FIGURES)
    for name, (counts, verdict) in SEED_FIGURES.items():
        p = built.results[name]
        got = (p.rows_in, p.rows_published, p.rows_quarantined, p.rows_warned, p.rules_passed, p.rules_failed)
        assert (got, p.reasons[0], p.level, p.status) == (counts, verdict, SEED_LEVELS[name][0], "published"), name


def test_the_readme_summary_is_the_one_pinned_here() -> None:
    """The README's `make run` table and verdicts say what SEED_FIGURES pins (so a changed figure changes both)."""
    text = README.read_text(encoding="utf-8")
    for name, (counts, verdict) in SEED_FIGURES.items():
        tables = [[c.strip() for c in line.strip("│").split("│")] for line in text.splitlines() if line.startswith(f"│ {name} ")]
        (cells,) = [t for t in tables if t[1:3] == ["v1", "new"]]  # the run summary, not the model table
        assert cells[3] == SEED_LEVELS[name][0], cells
        assert tuple(int(c.replace(",", "")) for c in cells[5:]) == counts, cells
        assert f"\n{name} v1 {verdict}\n" in text, name


def test_known_quirks_are_measured_by_their_rules(built: Built) -> None:
    with CatalogClient(built.warehouse.root) as c:
        informative = c.rows(
            "select a, b, observed from measures join rule_results using (name, version, rule_id) where rule_id = 'cmapss.features.informative'"
        )
        balance = c.rows("select x from measures where rule_id = 'steel.classes.balance'")
        outliers = c.rows(
            "select _source_row from steel_plates_faults where list_contains(_warn_rules, 'steel.area.outliers') order by 1"
        )
        labels = c.rows("select count(*) from ai4i2020 where list_contains(_warn_rules, 'ai4i.labels.consistent')")
    a, b, observed = informative[0]
    assert (a, b) == (96 - 13, 96)  # 7 constant columns in FD001 and 6 in FD003, of 24 features x 4 sub-datasets
    assert "FD001: constant: op_setting_3, s1, s5, s10, s16, s18, s19" in observed and "FD003: constant:" in observed
    assert balance[0][0] == 55 / 673  # Dirtiness against Other_Faults
    assert 392 in [r[0] for r in outliers]  # the extreme defect of the provenance notes
    assert labels == [(27,)]


def test_score_trend_and_worst_rules_views(built: Built) -> None:
    with CatalogClient(built.warehouse.root) as c:
        trend = c.rows("select name, version, level, score from score_trend order by name")
        worst = c.rows("select name, rule_id, margin from worst_rules limit 3")
        dims = c.rows("select count(distinct dimension) from dimension_trend where name = 'cnc_line'")
    assert [t[0] for t in trend] == ["ai4i2020", "cmapss", "cnc_line", "steel_plates_faults"]
    assert worst[0][2] == min(w[2] for w in worst) and worst[0][2] < 0
    assert dims[0][0] >= 5


def test_a_version_below_its_gate_is_a_rejected_candidate(project_dir: Path, warehouse: Warehouse) -> None:
    v1 = build(project_dir, warehouse, ["ai4i2020"])["ai4i2020"]
    assert v1.status == "published"
    spec = project_dir / "dataset_specs" / "ai4i2020.yaml"
    _set(spec, "schedule:", "min_level: gold\nschedule:")
    rules = project_dir / "quality_rules" / "ai4i2020.yaml"
    # A key that is not unique, as a warn rule: its rows are published, so the K-1 gate fails.
    rules.write_text(rules.read_text() + "  - {id: ai4i.product.unique, kind: unique, columns: [type], severity: warn}\n")
    v2 = build(project_dir, warehouse, ["ai4i2020"])["ai4i2020"]
    assert (v2.version, v2.status, v2.level) == (2, "rejected", "uncertified")
    assert v2.failed_gates == ("ai4i.product.unique (K-1)",)
    assert warehouse.latest("ai4i2020") == 1 and warehouse.latest_candidate("ai4i2020") == 2
    m2 = warehouse.manifest("ai4i2020", 2)
    assert (
        m2["status"] == "rejected"
        and m2["parent_version"] == 1
        and (warehouse.version_dir("ai4i2020", 2) / m2["report"]).is_file()
    )
    con = duckdb.connect(str(warehouse.catalog_path), read_only=True)
    con.execute(f"SET file_search_path = '{warehouse.root}'")
    assert con.execute("select version from latest_versions where name = 'ai4i2020'").fetchall() == [(1,)]
    assert con.execute("select count(*) from ai4i2020").fetchall() == [(10000,)]  # latest view still on v1
    assert con.execute("select status from versions where name = 'ai4i2020' order by version").fetchall() == [
        ("published",),
        ("rejected",),
    ]
    assert con.execute(
        "select count(*) from dataset('ai4i2020', 2) where list_contains(_warn_rules, 'ai4i.product.unique')"
    ).fetchall() == [(10000,)]
    con.close()
    again = build(project_dir, warehouse, ["ai4i2020"])["ai4i2020"]
    assert not again.created and again.version == 2  # the same inputs are not re-judged
    with CatalogClient(warehouse.root) as c:
        assert c.resolve("ai4i2020") == ("ai4i2020", 1)
    assert pl.read_parquet(warehouse.quarantine_files("ai4i2020", 2)).height == 0
    assert json.loads((warehouse.version_dir("ai4i2020", 2) / "manifest.json").read_text())["quality"]["min_level"] == "gold"
