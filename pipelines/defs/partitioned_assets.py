"""Assets of a time-partitioned dataset: raw -> validated -> published -> catalog, partitioned by day or hour.

A run covers one partition or a range of them (a backfill is one run per range, so a backfill of a
week makes one version). Inside a run, each partition is ingested and validated by its own step
(dynamic mapping), so Dagster's multiprocess executor builds partitions in parallel; `raw` and
`validated` are one graph-backed multi-asset, and its rule checks are evaluated from the run's
combined outcomes. Values pass between steps through `RunStagingIOManager`, which keeps them in the
run's staging folder whatever partitions they cover (Dagster's own IO managers store one value per
partition); the catalog step removes the folder. Partitions of the range without raw files are
skipped and listed.
"""

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.defs.anomaly_checks import anomaly_check_result, anomaly_check_specs
from pipelines.defs.assets import (
    GROUP_PREFIX,
    MoshuResource,
    check_results,
    check_specs,
    published_metadata,
    register_with_cards,
)
from pipelines.defs.progress import report
from pipelines.defs.run_ids import PARTITIONS_TAG, staging_run_id
from pipelines.spec.loader import LoadedDataset
from pipelines.spec.models import DatasetSpec
from pipelines.stages.validate import all_rules
from pipelines.warehouse import Warehouse

IO_MANAGER = "moshu_run_io"


def partitions_def(spec: DatasetSpec) -> dg.TimeWindowPartitionsDefinition:
    """The Dagster partitions of a partitioned spec (keys as `pipelines.partitions` writes them)."""
    p = spec.partitions
    assert p is not None
    if p.granularity == "daily":
        return dg.DailyPartitionsDefinition(start_date=p.start, end_date=p.end)
    return dg.HourlyPartitionsDefinition(start_date=p.start, end_date=p.end)


class RunStagingIOManager(dg.ConfigurableIOManager):  # type: ignore[type-arg]
    """Pickles a step's output into its run's staging folder, one file per step output (and mapping key).

    The folder is `<warehouse>/_staging/<dataset>/<run>/io/`, on the same storage as the staged data
    the values point to; with a multi-machine executor it must be storage every worker sees.
    """

    warehouse: str

    def _path(self, run_id: str, step_key: str, name: str, mapping_key: str | None) -> Path:
        dataset = step_key.split("__", 1)[0]
        leaf = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{step_key}.{name}.{mapping_key or ''}")
        return Warehouse(Path(self.warehouse)).staging_dir(dataset, staging_run_id(run_id, dataset)) / "io" / f"{leaf}.pickle"

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Store one output of one step."""
        path = self._path(context.run_id, context.step_key, context.name, context.mapping_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(obj))

    def load_input(self, context: dg.InputContext) -> Any:
        """Load the upstream output of the same run."""
        up = context.upstream_output
        assert up is not None
        path = self._path(up.run_id, up.step_key, up.name, up.mapping_key)
        if not path.is_file():
            from pipelines.errors import IntegrityError

            raise IntegrityError(
                f"the output of step `{up.step_key}` is gone; materialize the dataset's stages together in one run"
            )
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
    out = {o.rule_id: o.as_dict() for o in combine_outcomes(loaded, parts)}
    newest = max(vals, key=lambda v: v.ingested.partition).ingested
    if newest.unchanged:  # freshness is its newest partition's, measured again now: a feed that stopped turns it red
        from pipelines.stages.validate import recheck_time_rules

        part = parts[[v.ingested.partition for v in vals].index(newest.partition)]
        data = wh.version_dir(loaded.name, newest.unchanged_version) / part["files"][0]["path"]
        out.update({o.rule_id: o.as_dict() for o in recheck_time_rules(loaded, data, part["counts"]["rows_published"])})
    return out


def partitioned_dataset_assets(loaded: LoadedDataset) -> list[Any]:
    """Assets and checks of one partitioned dataset."""
    with warnings.catch_warnings():  # `backfill_policy` is marked beta; a single-run backfill is what makes one version
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _assets(loaded)


def _assets(loaded: LoadedDataset) -> list[Any]:
    name = loaded.name
    spec = loaded.spec
    group = GROUP_PREFIX + name
    rules = all_rules(loaded)
    pdef = partitions_def(spec)
    policy = dg.BackfillPolicy.single_run()
    raw_key, validated_key = dg.AssetKey([name, "raw"]), dg.AssetKey([name, "validated"])
    published_key, catalog_key = dg.AssetKey([name, "published"]), dg.AssetKey([name, "catalog"])
    every: dict[str, Any] = {"group_name": group, "partitions_def": pdef, "backfill_policy": policy, "io_manager_key": IO_MANAGER}

    @dg.op(name=f"{name}__plan")
    def plan(context: dg.OpExecutionContext, moshu: MoshuResource) -> list[str]:
        """The partitions of the run's range that have raw files (and, with `moshu run --partition`, were asked)."""
        from pipelines.runner import partitions_to_build

        asked = list(context.partition_keys)
        picked = context.run.tags.get(PARTITIONS_TAG)
        if picked:
            asked = [k for k in asked if k in picked.split(",")]
        keys = partitions_to_build(loaded, Path(moshu.project), asked, skip_empty=True)
        skipped = [k for k in asked if k not in keys]
        if skipped:
            context.log.info(f"partitions without raw files, skipped: {', '.join(skipped)}")
        return keys

    @dg.op(name=f"{name}__fan", out=dg.DynamicOut(str))
    def fan(keys: list[str]) -> Any:
        """One step per partition."""
        for k in keys:
            yield dg.DynamicOutput(k, mapping_key=re.sub(r"[^A-Za-z0-9_]", "_", k))

    @dg.op(name=f"{name}__ingest")
    def ingest_one(context: dg.OpExecutionContext, moshu: MoshuResource, key: str) -> Any:
        """Fingerprint and stage one partition's raw files."""
        from pipelines.stages import ingest

        report(name, f"ingest {key}")
        return ingest(loaded, Path(moshu.project), moshu.wh(), run_id=staging_run_id(context.run.run_id, name), partition=key)

    @dg.op(name=f"{name}__validate")
    def validate_one(ing: Any) -> Any:
        """Run every rule on one partition."""
        from pipelines.stages import validate
        from pipelines.stages.prefetch import import_later_stages

        report(name, f"validate {ing.partition}")
        return validate(loaded, ing, meanwhile=import_later_stages)

    @dg.op(name=f"{name}__staged", out={"raw": dg.Out(io_manager_key=IO_MANAGER)})
    def staged(context: dg.OpExecutionContext, ings: list[Any]) -> Any:
        """The run's staged partitions, in key order."""
        ings = sorted(ings, key=lambda i: i.partition)
        context.add_output_metadata(
            {
                "partitions": dg.MetadataValue.json([i.partition for i in ings]),
                "unchanged": dg.MetadataValue.json([i.partition for i in ings if i.unchanged]),
                "rows_in": sum(i.rows_in for i in ings),
            },
            output_name="raw",
        )
        return ings

    @dg.op(name=f"{name}__gather", out={"validated": dg.Out(io_manager_key=IO_MANAGER)})
    def gather(context: dg.OpExecutionContext, moshu: MoshuResource, vals: list[Any]) -> Any:
        """The run's validated partitions, in key order."""
        vals = sorted(vals, key=lambda v: v.ingested.partition)
        outcomes = _outcomes(loaded, moshu.wh(), vals)
        context.add_output_metadata(
            {
                "rules_passed": sum(o["passed"] for o in outcomes.values()),
                "rules_failed": sum(not o["passed"] for o in outcomes.values()),
            },
            output_name="validated",
        )
        return vals

    @dg.graph_multi_asset(
        name=f"{name}__raw_validated",
        outs={
            "raw": dg.AssetOut(
                key=raw_key, io_manager_key=IO_MANAGER, description=f"Raw files of `{name}` ({spec.source.path}), "
                "one partition per file date, fingerprinted and staged as typed Parquet (one step per partition).",
            ),
            "validated": dg.AssetOut(
                key=validated_key, io_manager_key=IO_MANAGER,
                description=f"Each partition of `{name}` checked against its {len(rules)} rules (one step per partition).",
            ),
        },
        group_name=group,
        partitions_def=pdef,
        backfill_policy=policy,
    )  # fmt: skip
    def raw_validated() -> Any:
        ings = fan(plan()).map(ingest_one)
        vals = ings.map(validate_one)
        return {"raw": staged(ings.collect()), "validated": gather(vals.collect())}

    @dg.multi_asset_check(
        name=f"{name}__rule_checks",
        specs=check_specs(rules, validated_key),
        ins={"vals": dg.AssetIn(validated_key)},
    )
    def rule_checks(moshu: MoshuResource, vals: list[Any]) -> Any:
        """One check per rule over the run's partitions (a failing dataset-level error rule makes a rejected candidate)."""
        yield from check_results(rules, _outcomes(loaded, moshu.wh(), vals), validated_key)

    @dg.asset(
        key=published_key,
        kinds={"parquet"},
        ins={"vals": dg.AssetIn(validated_key)},
        check_specs=anomaly_check_specs(spec, published_key),
        description=f"Immutable versions of `{name}`: the run's partitions rebuilt, every other partition linked unchanged.",
        **every,
    )
    def published(context: dg.AssetExecutionContext, moshu: MoshuResource, vals: list[Any]) -> Any:
        from pipelines.stages.publish_partitions import publish_partitions

        report(name, "publish")
        pub = publish_partitions(loaded, vals, moshu.wh())
        yield dg.Output(pub, metadata=published_metadata(pub))
        if spec.anomalies is not None:
            yield anomaly_check_result(pub, published_key)

    @dg.asset(
        key=catalog_key,
        kinds={"duckdb"},
        ins={"pub": dg.AssetIn(published_key), "ings": dg.AssetIn(raw_key)},
        description=f"`{name}` registered in the DuckDB catalog: versions, the partitions each holds, rule results, lineage.",
        **every,
    )
    def catalog(context: dg.AssetExecutionContext, moshu: MoshuResource, pub: Any, ings: list[Any]) -> dg.MaterializeResult:
        from pipelines.runner import cleanup_staging

        report(name, "register")
        wh = moshu.wh()
        register_with_cards(loaded, pub, wh, ings[0].started_at if ings else None, context.run.run_id)
        cleanup_staging(wh, name, staging_run_id(context.run.run_id, name))  # staged data and step outputs of the run
        from pipelines.runner import raise_if_blocked

        raise_if_blocked(pub)  # after registering: the rejected candidate and its report are in the catalog
        report(name, "done")
        return dg.MaterializeResult(metadata={"version": pub.version, "created": pub.created})

    return [raw_validated, rule_checks, published, catalog]
