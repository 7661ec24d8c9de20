"""The fast, bounded-memory row path gives the same flags as the plain one, on the real seeds.

moshu computes row flags in passes (rules a row decides alone, streamed; then each windowed rule
over its own columns), writes them to Parquet and has pandera validate them a slice at a time.
Here the result is compared with the plainest oracle: every rule's flag expression evaluated over
the whole frame at once, rows flagged 3 or 4 listed, no pandera, no passes, no slices.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.quality import pandera_engine
from pipelines.quality.kinds import FAIL, SUSPECT
from pipelines.quality.registry import executor_for
from pipelines.spec.loader import load_project
from pipelines.stages import ingest
from pipelines.stages.validate import all_rules, context
from pipelines.warehouse import Warehouse
from tests.conftest import REPO

SORT = [pandera_engine.ROW_ID, "rule_id", "flag"]


def _oracle(lf: pl.LazyFrame, rules: list, ctx: object) -> pl.DataFrame:  # type: ignore[type-arg]
    flags = lf.with_columns([executor_for(r).flags(r, ctx).cast(pl.UInt8).alias(r.id) for r in rules]).collect()  # type: ignore[arg-type]
    return (
        flags.select(pandera_engine.ROW_ID, *[r.id for r in rules])
        .unpivot(index=pandera_engine.ROW_ID, variable_name="rule_id", value_name="flag")
        .filter(pl.col("flag").is_in([FAIL, SUSPECT]))
        .select(pl.col(pandera_engine.ROW_ID).cast(pl.UInt32), "rule_id", pl.col("flag").cast(pl.UInt8))
        .sort(SORT)
    )


@pytest.mark.parametrize("name", ["cnc_line", "ai4i2020"])
def test_passes_and_slices_flag_exactly_what_one_plain_pass_flags(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_project(REPO).datasets[name]
    ing = ingest(loaded, REPO, Warehouse(tmp_path / "wh"))
    assert ing.staged is not None
    ctx = context(loaded)
    rules = [r for r in all_rules(loaded) if executor_for(r).engine == "pandera"]
    assert any(executor_for(r).windowed for r in rules) and any(not executor_for(r).windowed for r in rules)
    staged = pl.scan_parquet(ing.staged)
    expected = _oracle(staged, rules, ctx)
    assert expected.height > 0
    # slices and buckets far smaller than the data, so failures fall in many slices and at their borders,
    # and every windowed rule runs on several buckets of whole series, keys or groups
    monkeypatch.setattr(pandera_engine, "CHUNK_ROWS", 997)
    monkeypatch.setattr(pandera_engine, "BUCKET_ROWS", 700)
    got = pandera_engine.run(staged, rules, ctx, tmp_path).sort(SORT)
    assert got.equals(expected)
    windowed = sum(executor_for(r).windowed for r in rules)
    assert len(pandera_engine.flag_files(tmp_path)) > 1 + windowed
    counts = pandera_engine.evaluated_counts([pl.scan_parquet(f) for f in pandera_engine.flag_files(tmp_path)], rules)
    anchor = pl.col(pandera_engine.ROW_ID).is_not_null()  # broadcasts literal predicates to every row
    plain = (
        staged.with_columns([(anchor & executor_for(r).evaluated(r, ctx)).alias(r.id) for r in rules])
        .select([pl.col(r.id).sum() for r in rules])
        .collect()
        .row(0, named=True)
    )
    assert counts == {k: int(v) for k, v in plain.items()}
