"""The built-in detector: likely label errors found by confident learning, proposed as feedback within guardrails.

For every classification demand, on the dataset's latest published version, `label_issues.find_label_issues`
ranks the rows whose given class an out-of-fold model (reading the demand's features and the dataset's
other label columns) doubts. The first `max_proposals` of the ranking are shown for review: proposed as
`label_error` findings (source `detector`) until proposals would move more than `max_class_share` of a
class, held back after that. Every shown row, with its evidence (calibrated probabilities of the given
and the candidate class, nearest rows of the candidate class), is stored beside the version in
`datasets/<name>/label_issues/v<N>/<demand>.parquet` (`moshu feedback list DATASET --held`).

A row is not proposed again while a finding on its label is pending, nor with a value a finding already
suggested (a rejected proposal stays rejected), nor with the value an accepted correction replaced; a
third value may be proposed, so a wrong accepted class can be superseded. Rules on label columns are turned into findings first (`rule_findings`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.catalog.client import CatalogClient
from pipelines.models.demand import Demand, demand_hash
from pipelines.models.feedback import ONE_HOT_SEPARATOR, register_model_run, submit
from pipelines.models.keys import ROW_KEY, row_key_expr
from pipelines.spec.loader import LoadedDataset
from pipelines.warehouse import Warehouse

PROTOCOL = "moshu-detector-2"
DETECTOR_BY = "moshu-detector"
LABEL_ISSUES_DIR = "label_issues"


@dataclass
class DetectorOutcome:
    """What the detector did for one demand."""

    version: int
    demand: str
    issues: int
    proposed: int
    run_id: str | None = None
    skipped: str | None = None
    held: int = 0


def protocol_id(demand: Demand) -> str:
    """Identifies protocol + demand: the detector runs again on a version when either changes."""
    from pipelines.models.label_issues import detector_fingerprint

    return hashlib.sha256(f"{PROTOCOL}:{detector_fingerprint()}:{demand_hash(demand)}".encode()).hexdigest()[:16]


def label_target(demand: Demand) -> str:
    """The feedback `column` of a demand's label: the column, or its one-hot group `a|b|c`."""
    return ONE_HOT_SEPARATOR.join(demand.label_columns)


def candidates_path(warehouse: Warehouse, name: str, version: int, demand: str) -> Path:
    """Where the rows a detector run showed for review (proposed and held back) are kept, with their evidence."""
    return warehouse.dataset_dir(name) / LABEL_ISSUES_DIR / f"v{version}" / f"{demand}.parquet"


def label_related(loaded: LoadedDataset, demand: Demand) -> list[str]:
    """The dataset's other label columns (e.g. failure-mode flags beside a failure label), not personal."""
    own = set(demand.label_columns)
    return [
        c.name
        for c in loaded.spec.columns
        if c.role == "label" and c.name not in own and loaded.spec.sensitivity(c.name) != "personal"
    ]


def _class_of(old_value: str | None) -> str | None:
    """The class a correction's `old_value` names: the value, or the `a=1` of a one-hot group's `a=1, b=0`."""
    if old_value is None or "=" not in old_value:
        return old_value
    hot = [part.split("=", 1)[0] for part in old_value.split(", ") if part.endswith("=1")]
    return hot[0] if len(hot) == 1 else None


def _already(warehouse: Warehouse, name: str, version: int, demand: Demand) -> tuple[bool, set[str], set[tuple[str, str | None]]]:
    """Whether this protocol ran on the version; rows with a pending finding; (row, value) pairs not to propose.

    Not to propose: every value a finding already suggested, and the value an applied correction replaced
    (a reviewer judged it wrong; the detector may propose a third class, not the old one back).
    """
    with CatalogClient(warehouse.root) as c:
        ran = c.rows(
            "SELECT count(*) FROM model_runs WHERE dataset = ? AND version = ? AND kind = 'detector' "
            "AND json_extract_string(params, '$.protocol') = ?",
            [name, version, protocol_id(demand)],
        )[0][0]
        found = c.rows(
            "SELECT row_key, suggested_value, status FROM feedback_status WHERE dataset = ? AND column_name = ?",
            [name, label_target(demand)],
        )
        replaced = c.rows(
            "SELECT DISTINCT row_key, old_value FROM corrections WHERE dataset = ? AND column_name = ? AND action = 'relabel'",
            [name, label_target(demand)],
        )
    pending = {k for k, _, status in found if status == "proposed"}
    return bool(ran), pending, {(k, v) for k, v, _ in found} | {(k, _class_of(v)) for k, v in replaced}


def _note(i: Any, keys: pl.Series) -> str:
    near = ", ".join(str(keys[j]) for j in i.neighbours)
    suggestion = "" if i.suggested else f"; no class suggested (p({i.candidate}) below the demand's threshold)"
    return (
        f"labelled {i.given}; calibrated out-of-fold p({i.given}) = {i.p_given:.3f}, p({i.candidate}) = {i.p_candidate:.3f}"
        f"{suggestion}; nearest rows labelled {i.candidate}: {near or 'none'}"
    )


def _store(path: Path, shown: list[tuple[str, Any]], keys: pl.Series, target: str, run_id: str) -> None:
    rows = [
        {
            "rank": rank, "row_key": keys[i.index], "column_name": target, "given_value": i.given,
            "candidate_value": i.candidate, "suggested_value": i.suggested, "p_given": i.p_given,
            "p_candidate": i.p_candidate, "self_confidence": i.self_confidence,
            "neighbours": [str(keys[j]) for j in i.neighbours], "status": status, "run_id": run_id,
        }
        for rank, (status, i) in enumerate(shown, start=1)
    ]  # fmt: skip
    schema: dict[str, pl.DataType] = {
        "rank": pl.Int32(), "row_key": pl.String(), "column_name": pl.String(), "given_value": pl.String(),
        "candidate_value": pl.String(), "suggested_value": pl.String(), "p_given": pl.Float64(), "p_candidate": pl.Float64(),
        "self_confidence": pl.Float64(), "neighbours": pl.List(pl.String), "status": pl.String(), "run_id": pl.String(),
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pl.DataFrame(rows, schema=schema).write_parquet(tmp)
    tmp.replace(path)


def detect(warehouse: Warehouse, loaded: LoadedDataset, demand: Demand) -> DetectorOutcome:
    """Run the detector for one demand on the latest published version and propose what it finds."""
    from pipelines.models.label_issues import find_label_issues, select

    name = loaded.name
    version = warehouse.latest(name)
    if version is None:
        return DetectorOutcome(0, demand.name, 0, 0, skipped="no published version")
    ran, pending, suggested = _already(warehouse, name, version, demand)
    if ran:
        return DetectorOutcome(version, demand.name, 0, 0, skipped=f"already run on v{version}")
    settings = demand.detector_settings
    pk = list(warehouse.manifest(name, version)["primary_key"])
    published = pl.scan_parquet(warehouse.data_files(name, version))
    df = published.with_columns(row_key_expr(pk, published.collect_schema())).collect()
    groups = demand.split.by if demand.split.method == "group" else ()
    try:
        found = find_label_issues(df, demand, seed=demand.split.seed, groups=groups, extra_features=label_related(loaded, demand))
    except ValueError as e:
        return DetectorOutcome(version, demand.name, 0, 0, skipped=str(e))
    keys = df.get_column(ROW_KEY)
    skip = {i.index for i in found.issues if keys[i.index] in pending or (keys[i.index], i.suggested) in suggested}
    chosen = select(found, settings, skip)
    target = label_target(demand)
    rows = [
        {
            "row_key": keys[i.index],
            "kind": "label_error",
            "column": target,
            "suggested_value": i.suggested,
            "confidence": round(1 - i.p_given, 4),
            "note": _note(i, keys),
        }
        for i in chosen.proposed
    ]
    run_id = register_model_run(
        warehouse,
        model="HistGradientBoostingClassifier + isotonic calibration + cleanlab confident learning",
        ref=f"{name}@{version}",
        demand=demand.name,
        metrics={"label_issues": float(len(found.issues)), "proposed": float(len(rows)), "held": float(len(chosen.held))},
        by=DETECTOR_BY,
        kind="detector",
        params={"protocol": protocol_id(demand), "seed": demand.split.seed, **settings.model_dump(), "caps": chosen.caps},
        notes="out-of-fold probabilities calibrated per class, cleanlab.filter.find_label_issues ranked by "
        f"self-confidence; {found.unjudged} rows of classes a fold never saw were not judged",
    )
    shown = [("proposed", i) for i in chosen.proposed] + [("held: class cap", i) for i in chosen.held]
    rank = {i.index: r for r, i in enumerate(found.issues)}
    shown.sort(key=lambda s: rank[s[1].index])
    _store(candidates_path(warehouse, name, version, demand.name), shown, keys, target, run_id)
    if rows:
        submit(warehouse, f"{name}@{version}", rows, by=DETECTOR_BY, source="detector", model_run=run_id)
    return DetectorOutcome(version, demand.name, len(found.issues), len(rows), run_id, held=len(chosen.held))


def held_candidates(warehouse: Warehouse, name: str) -> pl.DataFrame:
    """The rows the latest detector runs of a dataset held back by the class cap, with their evidence."""
    files = sorted((warehouse.dataset_dir(name) / LABEL_ISSUES_DIR).glob("v*/*.parquet"))
    if not files:
        return pl.DataFrame()
    frames = [
        pl.read_parquet(f).with_columns(pl.lit(f.stem).alias("demand"), pl.lit(int(f.parent.name[1:])).alias("version"))
        for f in files
    ]
    return pl.concat(frames, how="diagonal_relaxed").filter(pl.col("status") != "proposed")


def run_detector(loaded: LoadedDataset, warehouse: Warehouse) -> list[DetectorOutcome]:
    """Rule findings on label columns, then the detector for every classification demand of a dataset."""
    from pipelines.models.rule_findings import propose_rule_findings

    propose_rule_findings(warehouse, loaded)
    return [detect(warehouse, loaded, d) for d in loaded.demands if d.task == "classification"]
