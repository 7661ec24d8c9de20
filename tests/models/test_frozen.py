"""Frozen evaluation on the steel plates: relabelling test rows to the model's own predictions lifts nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.catalog.client import CatalogClient
from pipelines.ingest.fingerprint import sha256_file
from pipelines.models.demand import Demand
from pipelines.models.detector import label_target
from pipelines.models.feedback import review, submit
from pipelines.models.frozen import frozen_path, load_frozen
from pipelines.models.keys import ROW_KEY, row_key_expr
from pipelines.models.learn import class_labels, feature_matrix
from pipelines.models.stage import curate_for_models
from pipelines.models.trial import run_trials, version_frame
from pipelines.runner import run_dataset
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.conftest import copy_project

pytestmark = pytest.mark.slow  # two runs of the steel seed

NAME = "steel_plates_faults"
RELABELLED = 30


def _cycle(root: Path, wh: Warehouse) -> int:
    loaded = load_project(root, only=[NAME]).datasets[NAME]
    pub = run_dataset(loaded, root, wh)
    curate_for_models(loaded, wh, root)
    run_trials(loaded, wh)
    return pub.version


def _predicted(wh: Warehouse, demand: Demand) -> pl.DataFrame:
    """The row key, given class and predicted class of every frozen row, from a model fitted on v1's train split."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rows = version_frame(wh, NAME, 1, demand.name).with_columns(row_key_expr([]))
    train = rows.filter(pl.col("split") == "train")
    frozen = load_frozen(wh, NAME, demand)
    assert frozen is not None
    test = rows.join(frozen, left_on=ROW_KEY, right_on="row_key")
    model = HistGradientBoostingClassifier(random_state=0).fit(
        feature_matrix(train, demand.features), class_labels(train, demand).to_numpy()
    )
    predicted = model.predict(feature_matrix(test, demand.features))
    return test.select(ROW_KEY, "label").with_columns(pl.Series("predicted", np.asarray(predicted, dtype=str)))


@pytest.fixture(scope="module")
def relabelled(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = copy_project(tmp_path_factory.mktemp("frozen") / "project")
    wh = Warehouse(root / "warehouse")
    assert _cycle(root, wh) == 1
    (demand,) = load_project(root, only=[NAME]).datasets[NAME].demands
    frozen_sha = sha256_file(frozen_path(wh, NAME, demand.name))
    doubted = _predicted(wh, demand).filter(pl.col("label") != pl.col("predicted")).sort(ROW_KEY).head(RELABELLED)
    findings = [
        {"row_key": k, "kind": "label_error", "column": label_target(demand), "suggested_value": p, "confidence": 0.9}
        for k, p in doubted.select(ROW_KEY, "predicted").iter_rows()
    ]
    ids = submit(wh, f"{NAME}@1", findings, by="vision-models", source="test")
    review(wh, ids, "accepted", by="qa-lead", reason="accepted as the model proposed")
    assert _cycle(root, wh) == 2
    return {"root": root, "wh": wh, "demand": demand, "doubted": doubted, "frozen_sha": frozen_sha}


def test_relabelled_test_rows_leave_the_verdict_within_noise(relabelled: dict) -> None:
    assert relabelled["doubted"].height == RELABELLED
    with CatalogClient(relabelled["wh"].root) as c:
        (v1, v2) = c.rows(
            "SELECT version, value, current_value, lift, current_lift, noise, relabelled, missing, verdict "
            "FROM trial_trend WHERE dataset = ? ORDER BY version",
            [NAME],
        )
    assert v1[-1] == "baseline" and v1[6:8] == (0, 0)
    _, value, current, lift, current_lift, noise, n_relabelled, missing, verdict = v2
    assert value == v1[1] and lift == 0  # the training rows did not change, nor did the yardstick
    assert verdict == "within noise" and noise > 0
    assert (n_relabelled, missing) == (RELABELLED, 0)  # the corrections to frozen rows, reported apart
    assert current_lift > 0 and current > v1[2]  # the labels agreeing with the model score higher by construction


def test_the_frozen_set_is_kept_and_never_trained_on(relabelled: dict) -> None:
    wh: Warehouse = relabelled["wh"]
    demand: Demand = relabelled["demand"]
    assert sha256_file(frozen_path(wh, NAME, demand.name)) == relabelled["frozen_sha"]
    frozen = load_frozen(wh, NAME, demand)
    assert frozen is not None and set(relabelled["doubted"][ROW_KEY]) <= set(frozen["row_key"])
    with CatalogClient(wh.root) as c:
        record = c.rows("SELECT version, rows, rows_path FROM frozen_evals WHERE dataset = ?", [NAME])
        sql_rows = c.rows(f"SELECT count(*) FROM frozen_eval('{NAME}', '{demand.name}')")
        runs = c.rows(
            "SELECT version, json_extract(params, '$.n_train')::INT, json_extract(params, '$.frozen_relabelled') "
            "FROM model_runs WHERE dataset = ? AND kind = 'trial' ORDER BY version",
            [NAME],
        )
    assert record == [(1, frozen.height, f"datasets/{NAME}/splits/frozen/{demand.name}.parquet")]
    assert sql_rows == [(frozen.height,)]
    v2 = version_frame(wh, NAME, 2, demand.name).with_columns(row_key_expr([]))
    train = v2.filter((pl.col("split") == "train") & ~pl.col(ROW_KEY).is_in(frozen["row_key"].implode()))
    assert [r[1] for r in runs] == [train.height, train.height]
    assert sorted(json.loads(runs[1][2])) == sorted(relabelled["doubted"][ROW_KEY])


def test_an_edit_that_keeps_split_and_label_keeps_the_frozen_set(relabelled: dict) -> None:
    root: Path = relabelled["root"]
    wh: Warehouse = relabelled["wh"]
    path = root / "dataset_specs/demands/steel_fault_classifier.yaml"
    path.write_text(path.read_text().replace("min_per_class: 100", "min_per_class: 50"))
    curate_for_models(load_project(root, only=[NAME]).datasets[NAME], wh, root)
    assert sha256_file(frozen_path(wh, NAME, relabelled["demand"].name)) == relabelled["frozen_sha"]
    path.write_text(path.read_text().replace("seed: 7", "seed: 8"))  # another split: another frozen set
    curate_for_models(load_project(root, only=[NAME]).datasets[NAME], wh, root)
    assert sha256_file(frozen_path(wh, NAME, relabelled["demand"].name)) != relabelled["frozen_sha"]
