"""A new version's history for the anomaly detector: earlier published versions, or the partitions before each new one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipelines.quality.anomalies import detect, watched_columns
from pipelines.spec.loader import LoadedDataset
from pipelines.warehouse import Warehouse


def _label(names: list[str]) -> str:
    if not names:
        return "-"
    return names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"


def version_findings(loaded: LoadedDataset, warehouse: Warehouse, data: Path | str) -> list[dict[str, Any]] | None:
    """The new version's data (`data`, a file or glob) against the last `window` published versions; None when the
    spec has no `anomalies` block."""
    spec = loaded.spec
    cfg = spec.anomalies
    if cfg is None:
        return None
    past = [
        n for n in warehouse.versions(spec.name) if warehouse.manifest(spec.name, n).get("status", "published") == "published"
    ]
    past = past[-cfg.window :]
    history = [pl.scan_parquet(warehouse.data_files(spec.name, n)) for n in past]
    found = detect(pl.scan_parquet(data), history, watched_columns(spec, cfg), cfg, _label([f"v{n}" for n in past]))
    return [f.as_dict() for f in found]


def partition_findings(loaded: LoadedDataset, files: dict[str, Path], built: list[str]) -> list[dict[str, Any]] | None:
    """Each newly built partition against the `window` partitions before it; None when the spec has no `anomalies`.

    Args:
        loaded: The dataset.
        files: Every partition of the new version, key -> its published Parquet file.
        built: The keys this run built.
    """
    cfg = loaded.spec.anomalies
    if cfg is None:
        return None
    columns = watched_columns(loaded.spec, cfg)
    keys = sorted(files)
    out = []
    for k in sorted(built):
        before = [p for p in keys if p < k][-cfg.window :]
        history = [pl.scan_parquet(files[p]) for p in before]
        out += [f.as_dict() for f in detect(pl.scan_parquet(files[k]), history, columns, cfg, _label(before), partition=k)]
    return out
