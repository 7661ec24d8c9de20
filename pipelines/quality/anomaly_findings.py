"""Anomaly findings (clause K-6) as the manifest stores them: their measure, the flagged ones, each in words.

Dicts only, no polars, so the report and the card read findings without loading the detector (`anomalies.py`).
"""

from __future__ import annotations

from typing import Any

from pipelines.quality.results import Measure, make_measure

CLAUSE = "K-6"
RULE_ID = "moshu.anomalies"


def measure(findings: list[dict[str, Any]]) -> Measure:
    """K-6: X = comparisons within their band / comparisons made (n/a when there was no history to compare with)."""
    return make_measure(CLAUSE, sum(not f["flagged"] for f in findings), len(findings), None, None)


def anomalies_of(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flagged findings."""
    return [f for f in findings if f["flagged"]]


def describe(f: dict[str, Any]) -> str:
    """One finding in words, e.g. `volume: 1,200 rows against a median of 2,400 (v1..v3); change 0.50 > 0.25`."""
    where = f" partition {f['partition']}" if f.get("partition") else ""
    what = f"`{f['column']}` {f['metric']}" if f.get("column") else f["metric"]
    if f["metric"] in ("psi", "share_shift"):
        body = f"{f['observed']:.3g} against {f['reference']}"
    else:
        body = f"{f['observed']:,.4g} against {f['baseline']:,.4g} in {f['reference']}"
    return f"{what}{where}: {body}; change {f['score']:.3g} {'>' if f['flagged'] else '<='} {f['threshold']:.3g}"
