"""Cutting a version for a trial on AI4I rows: frozen rows are never trained on; relabelled and lost ones are named."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.models.demand import Demand, SplitSpec
from pipelines.models.frozen import freeze
from pipelines.models.trial import eval_rows

REPO = Path(__file__).resolve().parents[2]


def test_frozen_rows_are_scored_with_their_frozen_labels_and_never_trained_on() -> None:
    rows = pl.read_csv(REPO / "seeds/ai4i2020/ai4i2020.csv").head(300).rename({"UDI": "udi", "Machine failure": "failure"})
    d = Demand(
        name="failure",
        dataset="ai4i2020",
        title="Machine failure",
        team="tests",
        task="classification",
        label="failure",
        features=("Torque [Nm]", "Tool wear [min]"),
        split=SplitSpec(method="random", seed=1),
    )
    v1 = rows.with_columns(pl.when(pl.col("udi") % 5 == 0).then(pl.lit("test")).otherwise(pl.lit("train")).alias("split"))
    frozen = freeze(v1, d, ["udi"])
    assert frozen.height == 60 and frozen.columns == ["row_key", "label"]
    # v2: udi 5 relabelled, udi 10 gone, and a later split that would train on udi 15
    v2 = v1.filter(pl.col("udi") != 10).with_columns(
        pl.when(pl.col("udi") == 5).then(1 - pl.col("failure")).otherwise(pl.col("failure")).alias("failure"),
        pl.when(pl.col("udi") == 15).then(pl.lit("train")).otherwise(pl.col("split")).alias("split"),
    )
    cut = eval_rows(v2, frozen, d, ["udi"])
    assert cut.relabelled == ["5"] and cut.missing == ["10"]
    assert 15 not in cut.train["udi"].to_list() and cut.train.height == 240
    assert cut.test.height == 59 and cut.frozen_labels is not None
    by_key = dict(zip(cut.test["udi"].to_list(), cut.frozen_labels.to_list(), strict=True))
    assert by_key[5] == str(rows.filter(pl.col("udi") == 5)["failure"][0])  # the frozen label, not the new one
    assert cut.test.columns == v2.columns  # nothing of the cut leaks into the rows a model reads
