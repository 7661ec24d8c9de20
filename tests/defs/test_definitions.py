"""The Dagster definitions load, and their graph matches the committed snapshot (graph changes show as diffs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from pipelines.defs.build import build_definitions
from pipelines.settings import Settings
from pipelines.spec.loader import load_project

SNAPSHOT = Path(__file__).with_name("asset_graph.snapshot.json")
REPO = Path(__file__).resolve().parents[2]


def _graph(defs: dg.Definitions) -> dict[str, object]:
    g = defs.resolve_asset_graph()
    return {
        "assets": sorted(k.to_user_string() for k in g.get_all_asset_keys()),
        "deps": {
            k.to_user_string(): sorted(p.to_user_string() for p in g.get(k).parent_keys) for k in sorted(g.get_all_asset_keys())
        },
        "checks": sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in g.asset_check_keys),
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": sorted(f"{s.name} {s.cron_schedule}" for s in (defs.schedules or [])),  # type: ignore[union-attr]
    }


def test_definitions_load_from_the_entry_point(tmp_path: Path) -> None:
    from pipelines.definitions import defs

    loaded = defs()
    assert isinstance(loaded, dg.Definitions)
    assert dg.AssetKey(["cnc_line", "published"]) in loaded.resolve_asset_graph().get_all_asset_keys()


def test_asset_graph_snapshot(tmp_path: Path) -> None:
    settings = Settings.resolve(REPO, tmp_path / "wh")
    graph = _graph(build_definitions(load_project(REPO), settings))
    if os.environ.get("MOSHU_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(graph, indent=2) + "\n")
    assert graph == json.loads(SNAPSHOT.read_text()), (
        "asset graph changed: rerun with MOSHU_UPDATE_SNAPSHOTS=1 and review the diff"
    )


def test_each_dataset_job_carries_the_dataset_tag_a_deployment_limits_runs_by(tmp_path: Path) -> None:
    from pipelines.defs.build import DATASET_TAG, job_name

    proj = load_project(REPO)
    defs = build_definitions(proj, Settings.resolve(REPO, tmp_path / "wh", "s3://bucket/warehouse"))
    for name in proj.datasets:
        assert defs.resolve_job_def(job_name(name)).tags[DATASET_TAG] == name
    assert defs.resources["moshu"].remote == "s3://bucket/warehouse"  # type: ignore[union-attr]


def test_a_spec_with_anomalies_gets_an_anomalies_check_on_published(project_dir: Path, tmp_path: Path) -> None:
    spec = project_dir / "dataset_specs" / "ai4i2020.yaml"
    spec.write_text(spec.read_text() + "anomalies: {sensitivity: high}\n")
    graph = _graph(build_definitions(load_project(project_dir), Settings.resolve(project_dir, tmp_path / "wh")))
    checks = [c for c in graph["checks"] if c.endswith(":anomalies")]  # type: ignore[union-attr]
    assert checks == ["ai4i2020/published:anomalies"]


def test_every_asset_carries_its_dataset_owners_and_tags(tmp_path: Path) -> None:
    from pipelines.defs.build import build_definitions
    from pipelines.settings import Settings
    from pipelines.spec.loader import load_project

    settings = Settings.resolve(None, tmp_path / "wh")
    project = load_project(settings.project)
    graph = build_definitions(project, settings).resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        loaded = project.datasets[key.path[0]]
        assert node.owners == ["team:" + loaded.spec.owner, "team:Li-Wei-CDO-plant-data-office"], key
        assert node.tags["moshu/dataset"] == loaded.name and node.tags["moshu/grade"] == loaded.spec.classification.grade
        assert set(loaded.spec.tags) <= set(node.tags)
