"""The committed JSON Schemas for editors are exactly what the models produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.spec.jsonschema import TARGETS, render

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("rel", sorted(TARGETS))
def test_committed_schema_is_current(rel: str) -> None:
    committed = (REPO / rel).read_text(encoding="utf-8")
    assert committed == render(TARGETS[rel]), f"{rel} is stale: run `make schema`"


def test_schema_documents_every_field() -> None:
    import json

    schema = json.loads(render(TARGETS["dataset_specs/dataset_spec.schema.json"]))
    defs = schema["$defs"]
    for name, prop in schema["properties"].items():
        ref = prop.get("$ref", "").rsplit("/", 1)[-1]
        assert prop.get("description") or defs.get(ref, {}).get("description"), f"spec field `{name}` has no description"
    for model, body in defs.items():
        for name, prop in body.get("properties", {}).items():
            assert prop.get("description") or "$ref" in prop, f"`{model}.{name}` has no description"
