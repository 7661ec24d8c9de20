"""Owners and tags of a dataset's assets, from its spec, in the forms Dagster accepts."""

from __future__ import annotations

import re
from typing import Any

import dagster as dg

from pipelines.spec.loader import LoadedDataset

_TAG = re.compile(r"[^A-Za-z0-9_.-]+")


def owner_ref(who: str) -> str:
    """An email stays an email; anything else becomes a Dagster team, `team:<slug>` (Dagster owners are one or the other)."""
    who = who.strip()
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", who):
        return who
    return "team:" + (_TAG.sub("-", who).strip("-")[:60] or "unknown")


def _tag_value(text: str) -> str:
    return _TAG.sub("-", text).strip("-")[:63]


def asset_owners(loaded: LoadedDataset) -> list[str]:
    """The dataset's owner and its CDO."""
    spec = loaded.spec
    return list(dict.fromkeys([owner_ref(spec.owner), owner_ref(spec.classification.cdo)]))


def asset_tags(loaded: LoadedDataset) -> dict[str, str]:
    """`moshu/dataset`, grade and domain, and each free-form spec tag as a key with an empty value (searchable in the UI)."""
    c = loaded.spec.classification
    tags = {"moshu/dataset": loaded.name, "moshu/grade": str(c.grade), "moshu/domain": str(c.domain)}
    for t in loaded.spec.tags:
        if key := _tag_value(t):
            tags.setdefault(key, "")
    return tags


def with_ownership(defn: Any, loaded: LoadedDataset) -> Any:
    """An assets definition with the dataset's owners and tags on every asset (checks are returned as they are)."""
    if isinstance(defn, dg.AssetChecksDefinition) or not isinstance(defn, dg.AssetsDefinition):
        return defn
    owners, tags = asset_owners(loaded), asset_tags(loaded)
    return defn.map_asset_specs(lambda s: s.replace_attributes(owners=owners, tags={**tags, **(s.tags or {})}))
