"""The built-in detector: likely label errors found by confident learning, proposed as feedback.

For every classification demand, on the dataset's latest published version: out-of-fold predicted
probabilities of the baseline model (`learn.find_label_issues`, cleanlab's confident learning) name the
rows whose given class the model doubts. Each becomes a `proposed` `label_error` finding with the
suggested class and a confidence of 1 - p(given class), from the model run of kind `detector`. Rows
that already have a finding on the same column are not proposed again, so a rejected proposal stays
rejected.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

from pipelines.catalog.client import CatalogClient
from pipelines.models.demand import Demand, demand_hash
from pipelines.models.feedback import ONE_HOT_SEPARATOR, register_model_run, submit
from pipelines.models.keys import ROW_KEY, row_key_expr
from pipelines.spec.loader import LoadedDataset
from pipelines.warehouse import Warehouse

PROTOCOL = "moshu-detector-1"
DETECTOR_BY = "moshu-detector"
MAX_PROPOSALS = 100


@dataclass
class DetectorOutcome:
    """What the detector did for one demand."""

    version: int
    demand: str
    issues: int
    proposed: int
    run_id: str | None = None
    skipped: str | None = None


def protocol_id(demand: Demand) -> str:
    """Identifies protocol + demand: the detector runs again on a version when either changes."""
    from pipelines.models.learn import protocol_fingerprint

    return hashlib.sha256(f"{PROTOCOL}:{protocol_fingerprint()}:{demand_hash(demand)}".encode()).hexdigest()[:16]


def label_target(demand: Demand) -> str:
    """The feedback `column` of a demand's label: the column, or its one-hot group `a|b|c`."""
    return ONE_HOT_SEPARATOR.join(demand.label_columns)


def _already(warehouse: Warehouse, name: str, version: int, demand: Demand) -> tuple[bool, set[str]]:
    with CatalogClient(warehouse.root) as c:
        ran = c.rows(
            "SELECT count(*) FROM model_runs WHERE dataset = ? AND version = ? AND kind = 'detector' "
            "AND json_extract_string(params, '$.protocol') = ?",
            [name, version, protocol_id(demand)],
        )[0][0]
        keys = c.rows("SELECT DISTINCT row_key FROM feedback WHERE dataset = ? AND column_name = ?", [name, label_target(demand)])
    return bool(ran), {k for (k,) in keys}


def detect(warehouse: Warehouse, loaded: LoadedDataset, demand: Demand, max_proposals: int = MAX_PROPOSALS) -> DetectorOutcome:
    """Run the detector for one demand on the latest published version and propose what it finds."""
    from pipelines.models.learn import find_label_issues

    name = loaded.name
    version = warehouse.latest(name)
    if version is None:
        return DetectorOutcome(0, demand.name, 0, 0, skipped="no published version")
    ran, seen = _already(warehouse, name, version, demand)
    if ran:
        return DetectorOutcome(version, demand.name, 0, 0, skipped=f"already run on v{version}")
    pk = list(warehouse.manifest(name, version)["primary_key"])
    published = pl.scan_parquet(warehouse.data_glob(name, version))
    df = published.with_columns(row_key_expr(pk, published.collect_schema())).collect()
    groups = demand.split.by if demand.split.method == "group" else ()
    try:
        issues = find_label_issues(df, demand, seed=demand.split.seed, groups=groups)
    except ValueError as e:
        return DetectorOutcome(version, demand.name, 0, 0, skipped=str(e))
    keys = df.get_column(ROW_KEY)
    rows = []
    for i in issues:
        key = keys[i.index]
        if key in seen:
            continue
        rows.append(
            {
                "row_key": key,
                "kind": "label_error",
                "column": label_target(demand),
                "suggested_value": i.suggested,
                "confidence": round(1 - i.self_confidence, 4),
                "note": f"labelled {i.given}; out-of-fold p({i.given}) = {i.self_confidence:.3f}, p({i.suggested}) = {i.confidence:.3f}",
            }
        )
        if len(rows) >= max_proposals:
            break
    run_id = register_model_run(
        warehouse,
        model="HistGradientBoostingClassifier + cleanlab confident learning",
        ref=f"{name}@{version}",
        demand=demand.name,
        metrics={"label_issues": float(len(issues)), "proposed": float(len(rows))},
        by=DETECTOR_BY,
        kind="detector",
        params={"protocol": protocol_id(demand), "seed": demand.split.seed, "max_proposals": max_proposals},
        notes="out-of-fold probabilities, cleanlab.filter.find_label_issues ranked by self-confidence",
    )
    if rows:
        submit(warehouse, f"{name}@{version}", rows, by=DETECTOR_BY, source="detector", model_run=run_id)
    return DetectorOutcome(version, demand.name, len(issues), len(rows), run_id)


def run_detector(loaded: LoadedDataset, warehouse: Warehouse) -> list[DetectorOutcome]:
    """The detector for every classification demand of a dataset."""
    return [detect(warehouse, loaded, d) for d in loaded.demands if d.task == "classification"]
