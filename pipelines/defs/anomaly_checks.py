"""The `anomalies` asset check of a dataset whose spec has an `anomalies` block (clause K-6, on `published`)."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg

from pipelines.quality.anomaly_findings import anomalies_of, describe
from pipelines.spec.models import DatasetSpec
from pipelines.warehouse import MANIFEST

CHECK = "anomalies"


def anomaly_check_specs(spec: DatasetSpec, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The check, for a spec with `anomalies`; none otherwise (so the graph of other datasets is unchanged)."""
    if spec.anomalies is None:
        return []
    return [
        dg.AssetCheckSpec(
            name=CHECK,
            asset=key,
            description=f"Each new version against its history (K-6: volume, null shares, distinct counts, distributions; "
            f"sensitivity {spec.anomalies.sensitivity}).",
        )
    ]


def anomaly_check_result(pub: Any, key: dg.AssetKey) -> dg.AssetCheckResult:
    """The check's result for a publish result (`Published`): failed (WARN) when any comparison is flagged."""
    m = json.loads((pub.path / MANIFEST).read_text(encoding="utf-8"))
    found = m.get("anomalies") or []
    flagged = anomalies_of(found)
    what = f"{len(flagged)} of {len(found)} comparisons flagged" if found else "not enough history yet: nothing compared"
    return dg.AssetCheckResult(
        check_name=CHECK,
        asset_key=key,
        passed=not flagged,
        severity=dg.AssetCheckSeverity.WARN,
        description=what,
        metadata={
            "version": pub.version,
            "compared": len(found),
            "flagged": len(flagged),
            "anomalies": dg.MetadataValue.json([describe(f) for f in flagged[:50]]),
        },
    )
