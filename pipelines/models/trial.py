"""Trial training: the guide's model-validation step, the same protocol on every version of a dataset.

For each demand with a label and each published version, the baseline model of `learn.trial_train` is
trained on the version's `train` split and scored on its `test` split (the splits of
`splits.make_split`: a seeded hash, so the same entities are held out in every version). The result
is a model run of kind `trial`; `trial_trend` in the catalog sets each version beside the previous one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

from pipelines.catalog.client import CatalogClient
from pipelines.models.demand import Demand, demand_hash
from pipelines.models.feedback import register_model_run
from pipelines.models.stage import split_path
from pipelines.spec.loader import LoadedDataset
from pipelines.warehouse import Warehouse

PROTOCOL = "moshu-trial-1"
TRIAL_BY = "moshu-trial"


@dataclass
class TrialOutcome:
    """One trial: which version and demand, the primary metric, or why none was trained."""

    version: int
    demand: str
    metric: str
    value: float | None
    cv_std: float | None
    run_id: str | None = None
    skipped: str | None = None


def protocol_id(demand: Demand) -> str:
    """Identifies protocol + demand: a trial is trained again when either changes."""
    from pipelines.models.learn import protocol_fingerprint

    return hashlib.sha256(f"{PROTOCOL}:{protocol_fingerprint()}:{demand_hash(demand)}".encode()).hexdigest()[:16]


def trained(warehouse: Warehouse, name: str) -> set[tuple[int, str, str]]:
    """(version, demand, protocol id) of the trials already recorded."""
    with CatalogClient(warehouse.root) as c:
        rows = c.rows(
            "SELECT version, demand, json_extract_string(params, '$.protocol') FROM model_runs WHERE dataset = ? AND kind = 'trial'",
            [name],
        )
    return {(int(v), str(d), str(p)) for v, d, p in rows}


def version_frame(warehouse: Warehouse, name: str, version: int, demand: str) -> pl.DataFrame:
    """A version's published rows with their split for a demand."""
    split = pl.scan_parquet(split_path(warehouse, name, version, demand))
    rows = pl.scan_parquet(warehouse.data_glob(name, version))
    return rows.join(split, on=["_source_file", "_source_row"], how="inner", maintain_order="left").collect()


def trial_one(warehouse: Warehouse, name: str, version: int, demand: Demand) -> TrialOutcome:
    """Train and record one trial."""
    from pipelines.models.learn import trial_train

    df = version_frame(warehouse, name, version, demand.name)
    train, test = df.filter(pl.col("split") == "train"), df.filter(pl.col("split") == "test")
    groups = demand.split.by if demand.split.method == "group" else ()
    try:
        res = trial_train(train, test, demand, groups=groups)
    except ValueError as e:
        return TrialOutcome(version, demand.name, demand.primary_metric, None, None, skipped=str(e))
    run_id = register_model_run(
        warehouse,
        model=res.model,
        ref=f"{name}@{version}",
        demand=demand.name,
        metrics=res.metrics,
        by=TRIAL_BY,
        kind="trial",
        params={
            **res.params,
            "protocol": protocol_id(demand),
            "demand_hash": demand_hash(demand),
            "n_train": res.n_train,
            "n_test": res.n_test,
        },
        notes=f"{PROTOCOL}: train on `train`, score on `test`; cv on train",
        extra=[(res.metric, "cv_mean", res.cv_mean), (res.metric, "cv_std", res.cv_std)],
    )
    return TrialOutcome(version, demand.name, res.metric, res.value, res.cv_std, run_id)


def run_trials(loaded: LoadedDataset, warehouse: Warehouse) -> list[TrialOutcome]:
    """Train every (published version, demand) pair that has no trial under the current protocol."""
    done = trained(warehouse, loaded.name)
    out = []
    for v in warehouse.versions(loaded.name):
        if warehouse.manifest(loaded.name, v).get("status", "published") != "published":
            continue
        for d in loaded.demands:
            if not d.label_columns:
                continue  # an unlabelled anomaly-detection demand has nothing to score against
            if (v, d.name, protocol_id(d)) not in done:
                out.append(trial_one(warehouse, loaded.name, v, d))
    return out
