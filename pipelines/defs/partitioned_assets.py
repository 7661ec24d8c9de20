"""Assets of a time-partitioned dataset: raw -> validated -> published -> catalog, partitioned by day or hour.

A run covers one partition or a range of them (a backfill runs as one run per range, so a backfill of
a week makes one version). Each stage hands its result to the next through the run's staging folder,
not an IO manager: Dagster's IO managers do not store one value for several partitions. The catalog
step removes the folder. Partitions of the range without raw files are skipped and listed.
"""

import pickle
import warnings
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.defs.assets import GROUP_PREFIX, MoshuResource, check_results, check_specs
from pipelines.defs.progress import report
from pipelines.defs.run_ids import PARTITIONS_TAG, staging_run_id
from pipelines.spec.loader import LoadedDataset
from pipelines.spec.models import DatasetSpec
from pipelines.stages.validate import all_rules
from pipelines.warehouse import Warehouse


def partitions_def(spec: DatasetSpec) -> dg.TimeWindowPartitionsDefinition:
    """The Dagster partitions of a partitioned spec (keys as `pipelines.partitions` writes them)."""
    p = spec.partitions
    assert p is not None
    if p.granularity == "daily":
        return dg.DailyPartitionsDefinition(start_date=p.start, end_date=p.end)
    return dg.HourlyPartitionsDefinition(start_date=p.start, end_date=p.end)


def _handoff(wh: Warehouse, name: str, context: dg.AssetExecutionContext, stage: str) -> Path:
    return wh.staging_dir(name, staging_run_id(context.run.run_id, name)) / f"{stage}.pickle"


def _save(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(value))


def _load(path: Path, stage: str) -> Any:
    if not path.is_file():
        from pipelines.errors import IntegrityError

        raise IntegrityError(f"the `{stage}` result of this run is gone; materialize the dataset's stages together in one run")
    return pickle.loads(path.read_bytes())


def _outcomes(loaded: LoadedDataset, wh: Warehouse, vals: list[Any]) -> dict[str, dict[str, Any]]:
    """Each rule's outcome over the run's partitions (a partition the run did not change: from the version holding it)."""
    from pipelines.stages.publish_partitions import combine_outcomes

    parts = []
    for v in vals:
        ing = v.ingested
        if ing.unchanged:
            m = wh.manifest(loaded.name, ing.unchanged_version)
            parts.append(next(p for p in m["partitions"] if p["key"] == ing.partition))
        else:
            parts.append({"key": ing.partition, "rules": [o.as_dict() for o in v.outcomes]})
    return {o.rule_id: o.as_dict() for o in combine_outcomes(loaded, parts)}


def partitioned_dataset_assets(loaded: LoadedDataset) -> list[dg.AssetsDefinition]:
    """Assets and checks of one partitioned dataset."""
    with warnings.catch_warnings():  # `backfill_policy` is marked beta; a single-run backfill is what makes one version
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _assets(loaded)


def _assets(loaded: LoadedDataset) -> list[dg.AssetsDefinition]:
    name = loaded.name
    spec = loaded.spec
    group = GROUP_PREFIX + name
    rules = all_rules(loaded)
    pdef = partitions_def(spec)
    policy = dg.BackfillPolicy.single_run()
    raw_key, validated_key = dg.AssetKey([name, "raw"]), dg.AssetKey([name, "validated"])
    published_key, catalog_key = dg.AssetKey([name, "published"]), dg.AssetKey([name, "catalog"])
    common: dict[str, Any] = {"group_name": group, "partitions_def": pdef, "backfill_policy": policy}

    @dg.asset(
        key=raw_key,
        kinds={"polars"},
        description=f"Raw files of `{name}` ({spec.source.path}), one {spec.partitions.granularity} partition "  # type: ignore[union-attr]
        "per file date, fingerprinted and staged as typed Parquet.",
        **common,
    )
    def raw(context: dg.AssetExecutionContext, moshu: MoshuResource) -> dg.MaterializeResult:
        from pipelines.runner import partitions_to_build
        from pipelines.stages import ingest

        report(name, "ingest")
        wh, root = moshu.wh(), Path(moshu.project)
        asked = list(context.partition_keys)
        picked = context.run.tags.get(PARTITIONS_TAG)  # `moshu run --partition`: some keys of the range
        if picked:
            asked = [k for k in asked if k in picked.split(",")]
        keys = partitions_to_build(loaded, root, asked, skip_empty=True)
        run_id = staging_run_id(context.run.run_id, name)
        ings = [ingest(loaded, root, wh, run_id=run_id, partition=k) for k in keys]
        _save(_handoff(wh, name, context, "raw"), ings)
        return dg.MaterializeResult(
            metadata={
                "partitions": dg.MetadataValue.json(keys),
                "skipped_without_files": dg.MetadataValue.json([k for k in asked if k not in keys]),
                "unchanged": dg.MetadataValue.json([i.partition for i in ings if i.unchanged]),
                "rows_in": sum(i.rows_in for i in ings),
            }
        )

    @dg.asset(
        key=validated_key,
        kinds={"pandera", "great_expectations"},
        deps=[raw_key],
        check_specs=check_specs(rules, validated_key),
        description=f"Each partition of `{name}` checked against its {len(rules)} rules; the checks report all the run's partitions.",
        **common,
    )
    def validated(context: dg.AssetExecutionContext, moshu: MoshuResource) -> dg.MaterializeResult:
        from pipelines.stages import validate

        report(name, "validate")
        wh = moshu.wh()
        vals = [validate(loaded, i) for i in _load(_handoff(wh, name, context, "raw"), "raw")]
        _save(_handoff(wh, name, context, "validated"), vals)
        outcomes = _outcomes(loaded, wh, vals)
        return dg.MaterializeResult(
            metadata={
                "rules_passed": sum(o["passed"] for o in outcomes.values()),
                "rules_failed": sum(not o["passed"] for o in outcomes.values()),
            },
            check_results=check_results(rules, outcomes, validated_key),
        )

    @dg.asset(
        key=published_key,
        kinds={"parquet"},
        deps=[validated_key],
        description=f"Immutable versions of `{name}`: the run's partitions rebuilt, every other partition linked unchanged.",
        **common,
    )
    def published(context: dg.AssetExecutionContext, moshu: MoshuResource) -> dg.MaterializeResult:
        from pipelines.stages.publish_partitions import publish_partitions

        report(name, "publish")
        wh = moshu.wh()
        pub = publish_partitions(loaded, _load(_handoff(wh, name, context, "validated"), "validated"), wh)
        _save(_handoff(wh, name, context, "published"), pub)
        return dg.MaterializeResult(
            metadata={
                "version": pub.version,
                "new_version": pub.created,
                "status": pub.status,
                "level": pub.level,
                "score": float(pub.score) if pub.score is not None else float("nan"),
                "rows_in": pub.rows_in,
                "rows_published": pub.rows_published,
                "rows_quarantined": pub.rows_quarantined,
                "path": dg.MetadataValue.path(str(pub.path)),
            }
        )

    @dg.asset(
        key=catalog_key,
        kinds={"duckdb"},
        deps=[published_key],
        description=f"`{name}` registered in the DuckDB catalog: versions, the partitions each holds, rule results, lineage.",
        **common,
    )
    def catalog(context: dg.AssetExecutionContext, moshu: MoshuResource) -> dg.MaterializeResult:
        from pipelines.defs.model_assets import model_stages
        from pipelines.runner import cleanup_staging
        from pipelines.stages import register

        report(name, "register")
        wh = moshu.wh()
        pub = _load(_handoff(wh, name, context, "published"), "published")
        ings = _load(_handoff(wh, name, context, "raw"), "raw")
        register(loaded, pub, wh, started_at=ings[0].started_at if ings else None, orchestrator=f"dagster:{context.run.run_id}")
        if not model_stages(loaded):
            from pipelines.report.card import write_cards

            write_cards(wh, name)
        cleanup_staging(wh, name, staging_run_id(context.run.run_id, name))
        report(name, "done")
        return dg.MaterializeResult(metadata={"version": pub.version, "created": pub.created})

    return [raw, validated, published, catalog]
