"""Per dataset with demands: demands (coverage, splits, diffs) -> trial training, and the label-issue detector."""

from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.defs.assets import GROUP_PREFIX, MoshuResource
from pipelines.defs.progress import report
from pipelines.spec.loader import LoadedDataset

MODEL_STAGES = ("demands", "trial_training", "label_issues")


def model_stages(loaded: LoadedDataset) -> list[str]:
    """The model-side asset names a dataset gets (none without demands)."""
    if not loaded.demands:
        return []
    stages = ["demands", "trial_training"]
    if any(d.task == "classification" for d in loaded.demands):
        stages.append("label_issues")
    return stages


def model_assets(loaded: LoadedDataset) -> list[dg.AssetsDefinition]:
    """Assets that close the loop between what models need and what the dataset holds."""
    stages = model_stages(loaded)
    if not stages:
        return []
    name = loaded.name
    group = GROUP_PREFIX + name
    demands_key = dg.AssetKey([name, "demands"])
    names = ", ".join(d.name for d in loaded.demands)

    @dg.asset(
        key=demands_key,
        group_name=group,
        kinds={"duckdb", "polars"},
        deps=[dg.AssetKey([name, "catalog"])],
        description=f"Demands on `{name}` ({names}) measured on every version: strata, classes, time, gaps; "
        "reproducible splits; diffs between versions.",
    )
    def demands(context: dg.AssetExecutionContext, moshu: MoshuResource) -> dg.MaterializeResult:
        from pipelines.models.stage import curate_for_models

        report(name, "demands")
        out = curate_for_models(loaded, moshu.wh(), Path(moshu.project))
        return dg.MaterializeResult(metadata={"measured": len(out.measured), "splits": len(out.split), "diffs": len(out.diffed)})

    @dg.asset(
        key=dg.AssetKey([name, "trial_training"]),
        group_name=group,
        kinds={"scikitlearn"},
        deps=[demands_key],
        description=f"The baseline model trained on every new version of `{name}` by a fixed protocol, per demand; "
        "the metric is recorded beside the previous version's (catalog view `trial_trend`).",
    )
    def trial_training(context: dg.AssetExecutionContext, moshu: MoshuResource) -> dg.MaterializeResult:
        from pipelines.models.trial import run_trials
        from pipelines.report.model_page import write_model_pages

        report(name, "trial training")
        out = run_trials(loaded, moshu.wh())
        write_model_pages(moshu.wh(), name)
        from pipelines.report.card import write_cards
        from pipelines.report.site import refresh_site

        write_cards(moshu.wh(), name)  # with this version's splits and trial results
        refresh_site(moshu.wh())  # the catalog site; a failure is logged, never fails the run
        return dg.MaterializeResult(
            metadata={
                "trained": sum(t.value is not None for t in out),
                "results": dg.MetadataValue.json([t.__dict__ for t in out]),
            }
        )

    assets = [demands, trial_training]
    if "label_issues" in stages:

        @dg.asset(
            key=dg.AssetKey([name, "label_issues"]),
            group_name=group,
            kinds={"scikitlearn"},
            deps=[demands_key],
            description=f"Likely label errors in the latest version of `{name}` by confident learning on out-of-fold "
            "probabilities, proposed as feedback for review (`moshu feedback list`).",
        )
        def label_issues(context: dg.AssetExecutionContext, moshu: MoshuResource) -> Any:
            from pipelines.models.detector import run_detector
            from pipelines.report.model_page import write_model_pages
            from pipelines.report.site import refresh_site

            report(name, "label issues")
            out = run_detector(loaded, moshu.wh())
            write_model_pages(moshu.wh(), name)
            refresh_site(moshu.wh())  # its findings to review; a failure is logged, never fails the run
            return dg.MaterializeResult(
                metadata={"proposed": sum(o.proposed for o in out), "results": dg.MetadataValue.json([o.__dict__ for o in out])}
            )

        assets.append(label_issues)
    return assets
