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
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"spec field `{name}` has no description"
