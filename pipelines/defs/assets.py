"""One factory per dataset spec: raw -> validated (one check per rule) -> published -> catalog."""

from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.defs.anomaly_checks import anomaly_check_result, anomaly_check_specs
from pipelines.defs.progress import report
from pipelines.defs.run_ids import staging_run_id
from pipelines.spec.loader import LoadedDataset
from pipelines.stages.validate import all_rules
from pipelines.warehouse import Warehouse

GROUP_PREFIX = "dataset_"


class MoshuResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where the project and warehouse are, for the assets."""

    project: str
    warehouse: str
    remote: str = ""  # the remote store of record (`s3://bucket/prefix`), or "" for none

    def wh(self) -> Warehouse:
        """The warehouse."""
        return Warehouse(Path(self.warehouse), self.remote or None)


def check_name(rule_id: str) -> str:
    """Dagster check name of a rule id (Dagster names allow letters, digits and `_`)."""
    return rule_id.replace(".", "__").replace("-", "_")


def _check_severity(severity: str) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if severity == "error" else dg.AssetCheckSeverity.WARN


def counted(o: dict[str, Any]) -> str:
    """What a rule counted, for a check's description: failed and suspect rows of those evaluated, or for a
    dataset-level rule what it measured (X = A / B against its threshold)."""
    from pipelines.quality.explain import explain, measured

    if o["engine"] != "pandera":
        return measured(o) if o["passed"] else explain(o)
    return f"{int(o['failed']):,} failed + {int(o.get('suspect', 0)):,} suspect of {int(o['evaluated']):,} rows"


def check_results(rules: list[Any], outcomes: dict[str, dict[str, Any]], key: dg.AssetKey) -> list[dg.AssetCheckResult]:
    """One asset check result per rule that has an outcome (outcomes as in the manifest, by rule id)."""
    out = []
    for r in rules:
        o = outcomes.get(r.id)
        if o is None:
            continue
        out.append(
            dg.AssetCheckResult(
                check_name=check_name(r.id),
                asset_key=key,
                passed=bool(o["passed"]),
                severity=_check_severity(r.severity),
                description=counted(o),
                metadata={
                    "rule_id": r.id,
                    "kind": o["kind"],
                    "engine": o["engine"],
                    "failed_rows": int(o["failed"]),
                    "evaluated_rows": int(o["evaluated"]),
                    "suspect_rows": int(o.get("suspect", 0)),
                    "measures": dg.MetadataValue.json(o.get("measures", [])),
                    "x": float(o["measures"][0]["x"])
                    if o.get("measures") and o["measures"][0]["x"] is not None
                    else float("nan"),
                    "threshold": float(o["measures"][0]["threshold"]) if o.get("measures") else float("nan"),
                    "clause": o["measures"][0]["clause"] if o.get("measures") else "",
                    "samples": dg.MetadataValue.json(list(o["samples"])),
                    "sample_rows": dg.MetadataValue.json(list(o.get("sample_rows", []))),
                },
            )
        )
    return out


def check_specs(rules: list[Any], key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """One asset check per rule. None blocks the run in Dagster: a failing dataset-level error rule makes the
    publish stage write a rejected candidate (with its report) and the catalog stage then fails the run with
    the rule's explanation (`pipelines.quality.explain`), so the reason is never lost in a stopped run."""
    return [dg.AssetCheckSpec(name=check_name(r.id), asset=key, description=r.description or r.id) for r in rules]


def published_metadata(pub: Any) -> dict[str, Any]:
    """Materialization metadata of a `published` asset (a `Published`).

    Numbers are numbers, so Dagster plots them over the asset's materializations: `score`, `level_rank`
    (0 uncertified .. 3 gold) and one `dimension/<name>` per quality dimension. The version folder and its
    quality report are `version_folder` and `report` (Dagster's IO manager writes its own `path`).
    """
    import json

    from pipelines.quality.guide import LEVEL_ORDER
    from pipelines.stages.publish import REPORT

    dims: dict[str, float] = {}
    manifest = Path(pub.path) / "manifest.json"
    if manifest.is_file():
        quality = json.loads(manifest.read_text(encoding="utf-8")).get("quality") or {}
        dims = {f"dimension/{k}": float(v) for k, v in sorted((quality.get("dimensions") or {}).items()) if v is not None}
    return {
        "version": pub.version,
        "new_version": pub.created,
        "status": pub.status,
        "level": pub.level,
        "level_rank": LEVEL_ORDER.index(pub.level) if pub.level in LEVEL_ORDER else 0,
        "score": float(pub.score) if pub.score is not None else float("nan"),
        **dims,
        "level_reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in pub.reasons) or "-"),
        "rows_in": pub.rows_in,
        "rows_published": pub.rows_published,
        "rows_quarantined": pub.rows_quarantined,
        "version_folder": dg.MetadataValue.path(str(pub.path)),
        "report": dg.MetadataValue.url(Path(pub.path, REPORT).resolve().as_uri()),
    }


def register_with_cards(loaded: LoadedDataset, pub: Any, wh: Warehouse, started_at: str | None, run_id: str) -> None:
    """Register the version; write the cards unless trial training will (it has their results)."""
    from pipelines.defs.model_assets import model_stages
    from pipelines.stages import register

    register(loaded, pub, wh, started_at=started_at, orchestrator=f"dagster:{run_id}")
    if not model_stages(loaded) or pub.blocked:  # a blocked version stops the run: no trial will write them
        from pipelines.report.card import write_cards
        from pipelines.report.site import refresh_site

        write_cards(wh, loaded.name)  # after the writer closed: cards read the catalog
        refresh_site(wh)  # the catalog site; a failure is logged, never fails the run


def dataset_assets(loaded: LoadedDataset) -> list[dg.AssetsDefinition]:
    """Assets and checks of one dataset."""
    name = loaded.name
    spec = loaded.spec
    group = GROUP_PREFIX + name
    rules = all_rules(loaded)
    raw_key = dg.AssetKey([name, "raw"])
    validated_key = dg.AssetKey([name, "validated"])
    published_key = dg.AssetKey([name, "published"])
    catalog_key = dg.AssetKey([name, "catalog"])
    kinds = {"polars"}

    @dg.asset(
        key=raw_key,
        group_name=group,
        kinds=kinds,
        description=f"Raw files of `{name}` ({spec.source.path}), fingerprinted and staged as typed Parquet.",
    )
    def raw(context: dg.AssetExecutionContext, moshu: MoshuResource) -> Any:
        from pipelines.stages import ingest

        report(name, "ingest")
        ing = ingest(loaded, Path(moshu.project), moshu.wh(), run_id=staging_run_id(context.run.run_id, name))
        context.add_output_metadata(
            {
                "files": len(ing.files),
                "files_set_aside": len(ing.quarantined_files),
                "rows_in": ing.rows_in,
                "data_hash": ing.data_hash,
                "unchanged_version": ing.unchanged_version or 0,
            }
        )
        return ing

    @dg.asset(
        key=validated_key,
        group_name=group,
        kinds={"pandera", "great_expectations"},
        ins={"ing": dg.AssetIn(raw_key)},
        check_specs=check_specs(rules, validated_key),
        description=f"`{name}` checked against its {len(rules)} rules: pandera for row rules, Great Expectations for dataset rules.",
    )
    def validated(context: dg.AssetExecutionContext, moshu: MoshuResource, ing: Any) -> Any:
        from pipelines.stages import validate
        from pipelines.stages.prefetch import import_later_stages

        report(name, "validate")
        val = validate(loaded, ing, meanwhile=import_later_stages)
        if ing.unchanged:
            from pipelines.stages.validate import recheck_time_rules

            wh = moshu.wh()
            m = wh.manifest(name, ing.unchanged_version)
            outcomes = {r["rule_id"]: r for r in m.get("rules", [])}
            data_file = Path(wh.data_files(name, ing.unchanged_version)[0])
            outcomes.update(
                {o.rule_id: o.as_dict() for o in recheck_time_rules(loaded, data_file, m["counts"]["rows_published"])}
            )
        else:
            outcomes = {o.rule_id: o.as_dict() for o in val.outcomes}
        yield dg.Output(
            val,
            metadata={
                "rules_passed": sum(o["passed"] for o in outcomes.values()),
                "rules_failed": sum(not o["passed"] for o in outcomes.values()),
                "unchanged_version": ing.unchanged_version or 0,
            },
        )
        yield from check_results(rules, outcomes, validated_key)

    @dg.asset(
        key=published_key,
        group_name=group,
        kinds={"parquet"},
        ins={"val": dg.AssetIn(validated_key)},
        check_specs=anomaly_check_specs(spec, published_key),
        description=f"Immutable versions of `{name}`: passing rows published, failing rows quarantined with reasons.",
    )
    def published(context: dg.AssetExecutionContext, moshu: MoshuResource, val: Any) -> Any:
        from pipelines.stages import publish

        report(name, "publish")
        pub = publish(loaded, val, moshu.wh())
        yield dg.Output(pub, metadata=published_metadata(pub))
        if spec.anomalies is not None:
            yield anomaly_check_result(pub, published_key)

    @dg.asset(
        key=catalog_key,
        group_name=group,
        kinds={"duckdb"},
        ins={"pub": dg.AssetIn(published_key), "ing": dg.AssetIn(raw_key)},
        description=f"`{name}` registered in the DuckDB catalog: versions, columns, rule results, lineage.",
    )
    def catalog(context: dg.AssetExecutionContext, moshu: MoshuResource, pub: Any, ing: Any) -> Any:
        report(name, "register")
        register_with_cards(loaded, pub, moshu.wh(), ing.started_at, context.run.run_id)
        from pipelines.runner import raise_if_blocked

        raise_if_blocked(pub)  # after registering: the rejected candidate and its report are in the catalog
        report(name, "done")
        return {"dataset": name, "version": pub.version, "created": pub.created}

    return [raw, validated, published, catalog]
