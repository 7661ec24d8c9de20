"""A minimal dataset spec for reader tests: one plant dataset reading `raw/`."""

from __future__ import annotations

from typing import Any

CLASSIFICATION = {"grade": "general", "domain": "production", "cdo": "c", "retention": "P1Y", "default_sensitivity": "public"}


def spec_dict(source: dict[str, Any], columns: list[dict[str, Any]]) -> dict[str, Any]:
    """The spec of dataset `plant` with `source` and `columns`."""
    return {
        "name": "plant",
        "title": "t",
        "description": "d",
        "owner": "o",
        "classification": CLASSIFICATION,
        "source": source,
        "columns": columns,
    }
