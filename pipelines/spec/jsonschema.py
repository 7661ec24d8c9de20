"""JSON Schemas of the spec and rule-file models, for editors (a test keeps the committed copies current)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.models.demand import Demand
from pipelines.spec.models import DatasetSpec, RuleFile

TARGETS = {
    "dataset_specs/dataset_spec.schema.json": DatasetSpec,
    "dataset_specs/demands/demand.schema.json": Demand,
    "quality_rules/rule_file.schema.json": RuleFile,
}


def render(model: Any) -> str:
    """The JSON Schema of a model, as stable pretty JSON."""
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(root: Path) -> list[Path]:
    """Write every schema under `root`; returns the paths written."""
    out = []
    for rel, model in TARGETS.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(render(model), encoding="utf-8")
        out.append(p)
    return out
