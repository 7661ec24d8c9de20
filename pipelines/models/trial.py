"""Trial training: the guide's model-validation step, the same protocol on every version of a dataset.

For each demand with a label and each published version, the baseline protocol of `trial_fit.trial_train`
is trained on the version's `train` split, never on a row of the demand's frozen evaluation set
(`frozen`), and scored on the frozen rows the version still has, with their frozen labels (the verdict's
yardstick) and with the version's own labels (reported apart, with how many frozen rows the version
relabelled or lost). The result is a model run of kind `trial`; `trial_trend` in the catalog sets each
version beside the previous one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

from pipelines.catalog.client import CatalogClient
from pipelines.models.demand import Demand, demand_hash
from pipelines.models.feedback import register_model_run
from pipelines.models.frozen import LABEL, ROW, label_values, load_frozen
from pipelines.models.keys import ROW_KEY, row_key_expr
from pipelines.models.splits import SPLIT
from pipelines.models.stage import split_path
from pipelines.spec.loader import LoadedDataset
from pipelines.warehouse import Warehouse

PROTOCOL = "moshu-trial-2"  # 2: scored on the frozen evaluation set, one fit per fold
LISTED = 50  # relabelled or missing frozen row keys named in a trial's parameters
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
    from pipelines.models.trial_fit import trial_fingerprint

    return hashlib.sha256(f"{PROTOCOL}:{trial_fingerprint()}:{demand_hash(demand)}".encode()).hexdigest()[:16]


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
    rows = pl.scan_parquet(warehouse.data_files(name, version))
    return rows.join(split, on=["_source_file", "_source_row"], how="inner", maintain_order="left").collect()


@dataclass
class EvalRows:
    """A version's rows cut for a trial: training rows, evaluation rows and their frozen labels."""

    train: pl.DataFrame
    test: pl.DataFrame
    frozen_labels: pl.Series | None
    relabelled: list[str]
    missing: list[str]


def eval_rows(df: pl.DataFrame, frozen: pl.DataFrame | None, demand: Demand, primary_key: list[str]) -> EvalRows:
    """Cut a version's rows (with `split`) for a trial on the frozen set (or, without one, its `test` split).

    Args:
        df: The version's rows with their split.
        frozen: The demand's frozen set (`row_key`, `label`), or None.
        demand: The demand.
        primary_key: The version's primary key.

    Returns:
        Training rows (`train` split minus any frozen row), the frozen rows the version has with their
        frozen labels, and the keys of frozen rows it relabelled or no longer has.
    """
    train = df.filter(pl.col(SPLIT) == "train")
    if frozen is None:
        return EvalRows(train, df.filter(pl.col(SPLIT) == "test"), None, [], [])
    keyed = df.with_columns(row_key_expr(primary_key, df.schema))
    pinned = frozen.select(pl.col(ROW).alias(ROW_KEY), pl.col(LABEL).alias("_frozen_label"))
    test = keyed.join(pinned, on=ROW_KEY, how="inner", maintain_order="left")
    train = keyed.filter((pl.col(SPLIT) == "train") & ~pl.col(ROW_KEY).is_in(pinned.get_column(ROW_KEY).implode()))
    now = label_values(test, demand)
    changed = test.filter((now != test.get_column("_frozen_label")).fill_null(True)).get_column(ROW_KEY).sort()
    gone = pinned.join(keyed.select(ROW_KEY), on=ROW_KEY, how="anti").get_column(ROW_KEY).sort()
    return EvalRows(train.drop(ROW_KEY), test.drop(ROW_KEY, "_frozen_label"), test.get_column("_frozen_label"),
                    changed.to_list(), gone.to_list())  # fmt: skip


def trial_one(warehouse: Warehouse, name: str, version: int, demand: Demand) -> TrialOutcome:
    """Train and record one trial."""
    from pipelines.models.trial_fit import trial_train

    df = version_frame(warehouse, name, version, demand.name)
    rows = eval_rows(df, load_frozen(warehouse, name, demand), demand, list(warehouse.manifest(name, version)["primary_key"]))
    groups = demand.split.by if demand.split.method == "group" else ()
    try:
        res = trial_train(rows.train, rows.test, demand, groups=groups, frozen_labels=rows.frozen_labels)
    except ValueError as e:
        return TrialOutcome(version, demand.name, demand.primary_metric, None, None, skipped=str(e))
    m = res.metric
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
            "frozen": rows.frozen_labels is not None,
            "frozen_relabelled": rows.relabelled[:LISTED],
            "frozen_missing": rows.missing[:LISTED],
        },
        notes=f"{PROTOCOL}: one model per fold of `train`, scored on the frozen evaluation set (`test`: frozen "
        "labels, `current`: this version's labels)",
        extra=[(k, "current", v) for k, v in res.current_metrics.items()]
        + [(m, "cv_mean", res.cv_mean), (m, "cv_std", res.cv_std), (m, "noise", res.noise)]
        + [(m, "relabelled", float(len(rows.relabelled))), (m, "missing", float(len(rows.missing)))],
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
