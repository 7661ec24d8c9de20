"""Anomalies across versions (K-6) on the seeds: a steady history raises no alarm, a volume drop and a null jump do."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.errors import SpecError
from pipelines.quality.anomalies import detect, measure, watched_columns
from pipelines.spec.anomalies import Anomalies
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.conftest import REPO, build


def _ai4i() -> tuple[pl.DataFrame, dict[str, str]]:
    spec = load_project(REPO).datasets["ai4i2020"].spec
    df = pl.read_csv(REPO / "seeds" / "ai4i2020" / "ai4i2020.csv").rename({c.source_name: c.name for c in spec.columns})
    return df, watched_columns(spec, Anomalies())


def _half(df: pl.DataFrame, parity: int) -> pl.DataFrame:
    return df.filter(pl.int_range(pl.len()) % 2 == parity)


def _flagged(batch: pl.DataFrame, history: pl.DataFrame, columns: dict[str, str], **cfg: object) -> set[tuple[str, str | None]]:
    found = detect(batch.lazy(), [history.lazy()], columns, Anomalies.model_validate(cfg), "v1")
    return {(f.metric, f.column) for f in found if f.flagged}


def test_the_other_half_of_the_same_process_is_steady() -> None:
    df, cols = _ai4i()
    assert "udi" not in cols and "product_id" not in cols, "keys and entities are not compared"
    for sensitivity in ("low", "medium", "high"):
        assert _flagged(_half(df, 1), _half(df, 0), cols, sensitivity=sensitivity) == set()


def test_a_volume_drop_and_a_null_jump_are_flagged() -> None:
    df, cols = _ai4i()
    before, after = _half(df, 0), _half(df, 1)
    dropped = after.sample(fraction=0.5, seed=7)  # the same distribution, half the rows
    assert _flagged(dropped, before, cols) == {("volume", None)}
    blanked = after.with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0).then(None).otherwise(pl.col("torque_nm")).alias("torque_nm")
    )
    assert _flagged(blanked, before, cols) == {("null_rate", "torque_nm")}
    # a low sensitivity tolerates the 10-point null jump, a high one still sees a 20% drop in volume
    assert _flagged(blanked, before, cols, sensitivity="low") == set()
    assert _flagged(after.sample(fraction=0.8, seed=7), before, cols, sensitivity="high") == {("volume", None)}


def test_a_shifted_distribution_is_flagged_by_psi_and_share() -> None:
    df, cols = _ai4i()
    before, after = _half(df, 0), _half(df, 1)
    hot = after.with_columns(pl.col("air_temperature_k") + 2.0, pl.lit("H").alias("type"))
    assert _flagged(hot, before, cols) == {("psi", "air_temperature_k"), ("share_shift", "type"), ("distinct", "type")}


def test_too_little_history_is_not_applicable() -> None:
    df, cols = _ai4i()
    assert detect(df.lazy(), [], cols, Anomalies(), "-") == []
    assert detect(df.lazy(), [df.lazy()], cols, Anomalies(min_history=2), "v1") == []
    m = measure([])
    assert not m.applicable and m.passed


def test_unknown_column_fails_at_load_time_with_a_suggestion(project_dir: Path) -> None:
    spec = project_dir / "dataset_specs" / "ai4i2020.yaml"
    spec.write_text(spec.read_text() + "anomalies: {columns: [torque_n]}\n")
    with pytest.raises(SpecError, match=r"did you mean `torque_nm`\?"):
        load_project(project_dir)


@pytest.mark.slow
def test_versions_are_compared_with_the_previous_one(project_dir: Path, warehouse: Warehouse) -> None:
    spec = project_dir / "dataset_specs" / "ai4i2020.yaml"
    spec.write_text(spec.read_text() + "anomalies: {sensitivity: medium}\n")
    seed = project_dir / "seeds" / "ai4i2020" / "ai4i2020.csv"
    full = seed.read_text()
    lines = full.splitlines(keepends=True)
    seed.write_text("".join(lines[:5001]))  # v1: the first 5,000 processes
    v1 = build(project_dir, warehouse, ["ai4i2020"])["ai4i2020"]
    assert warehouse.manifest("ai4i2020", 1)["anomalies"] == [], "no history yet: nothing compared"
    # v2: the next 2,000 processes, 12% without torque: less volume, more nulls
    torque = lines[0].split(",").index("Torque [Nm]")
    body = [(",".join("" if i == torque else v for i, v in enumerate(ln.split(","))) if n % 8 == 0 else ln)
            for n, ln in enumerate(lines[5001:7001])]  # fmt: skip
    seed.write_text(lines[0] + "".join(body))
    v2 = build(project_dir, warehouse, ["ai4i2020"])["ai4i2020"]
    m = warehouse.manifest("ai4i2020", 2)
    flagged = {(f["metric"], f["column"]) for f in m["anomalies"] if f["flagged"]}
    assert {("volume", None), ("null_rate", "torque_nm")} <= flagged
    k6 = next(x for x in m["quality"]["measures"] if x["clause"] == "K-6")
    assert k6["x"] < 1 and not k6["passed"] and v2.score is not None and v1.score is not None
    con = duckdb.connect(str(warehouse.catalog_path), read_only=True)
    rows = con.execute(
        "select metric, column_name, baseline, observed, reference from anomalies where name = 'ai4i2020' and flagged "
        "and metric = 'volume'"
    ).fetchall()
    con.close()
    assert rows == [("volume", None, 5000.0, 2000.0, "v1")]
    from dagster import AssetKey

    from pipelines.defs.anomaly_checks import anomaly_check_result

    check = anomaly_check_result(v2, AssetKey(["ai4i2020", "published"]))
    assert not check.passed and check.metadata["flagged"].value >= 2  # type: ignore[attr-defined]
    report = (warehouse.version_dir("ai4i2020", 2) / "quality" / "report.html").read_text()
    assert "Anomalies against earlier versions" in report and "null_rate" in report


@pytest.mark.slow
def test_each_new_partition_is_compared_with_the_ones_before_it(tmp_path: Path) -> None:
    from pipelines.runner import run_dataset
    from tests.partitions.daily import NAME, daily_project, day_file

    root = daily_project(tmp_path / "project", days=4)  # 2026-03-02 (from 06:00) .. 2026-03-05 whole days
    spec = root / "dataset_specs" / f"{NAME}.yaml"
    spec.write_text(spec.read_text() + "anomalies: {sensitivity: medium, window: 3}\n")
    wh = Warehouse(tmp_path / "wh")
    days = ["2026-03-03", "2026-03-04", "2026-03-05"]
    last = day_file(root, days[-1])
    text = last.read_text().splitlines(keepends=True)
    kept = [ln for ln in text[1:] if ",CNC-01," in ln or ",CNC-02," in ln]
    last.write_text(text[0] + "".join(kept))  # the last day only two machines of six report
    run_dataset(load_project(root).datasets[NAME], root, wh, partitions=["2026-03-02", *days])
    found = wh.manifest(NAME, 1)["anomalies"]
    flagged = {(f["partition"], f["metric"], f["column"]) for f in found if f["flagged"]}
    assert ("2026-03-05", "volume", None) in flagged
    assert not [f for f in flagged if f[0] == "2026-03-04"], "a whole day like the one before raises no alarm"
    ref = {f["partition"]: f["reference"] for f in found}
    assert ref["2026-03-05"] == "2026-03-02..2026-03-04" and "2026-03-02" not in ref, "the first day has no history"
