"""The guide measures a version's baseline profile yields, so that the level does not depend on which rules were written.

Each measure names its offending columns. A user rule that already measures the same clause on a
column takes precedence: a `not_null` or `record_completeness` rule on a column (the implied ones
included) removes it from C-5, an `informative_features` rule removes its columns from D-3, any
K-2 rule replaces the profile's duplicate rows, and an L-2 rule on a label column replaces its
profile L-2 measure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.quality.results import Measure, RuleOutcome, make_measure

if TYPE_CHECKING:
    from pipelines.spec.models import DatasetSpec

PREFIX = "moshu.profile"
FEATURE_ROLES = ("measurement", "attribute")
_NAMED = 12  # offending columns named in a detail


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMED])
    return shown + (f" and {len(names) - _NAMED} more" if len(names) > _NAMED else "")


def _covered(outcomes: list[RuleOutcome], clauses: tuple[str, ...]) -> set[str]:
    return {c for o in outcomes if any(m.clause in clauses for m in o.measures) for c in o.columns}


def profile_measures(
    profile: dict[str, Any], spec: DatasetSpec, outcomes: list[RuleOutcome]
) -> tuple[list[tuple[str, Measure]], dict[str, str]]:
    """(rule id, measure) pairs of the profile, and per rule id the offending columns (for the scorecard).

    Args:
        profile: The version's profile (`profile.profile`).
        spec: The dataset's spec (roles and sensitivity of its columns).
        outcomes: The rule outcomes of the version (user rules and implied ones).
    """
    cols = {c["name"]: c for c in profile["columns"]}
    roles = {c.name: c.role for c in spec.published_columns}
    measures: list[tuple[str, Measure]] = []
    details: dict[str, str] = {}
    rows = profile["rows"]

    # C-5: cells present in the columns no completeness rule measures (labels are L-2's business).
    filled = [
        c for name, c in cols.items() if name not in _covered(outcomes, ("C-1", "C-2", "L-2")) and roles.get(name) != "label"
    ]
    if filled:
        rid = f"{PREFIX}.completeness"
        cells = rows * len(filled)
        measures.append((rid, make_measure("C-5", cells - sum(c["nulls"] for c in filled), cells, None, None)))
        short = sorted((c for c in filled if (c["completeness"] or 0) < 0.99 and rows), key=lambda c: c["completeness"])
        if short:
            details[rid] = "below 0.99: " + _listed([f"{c['name']} {c['completeness']:.3f}" for c in short])

    # D-3: constant or duplicated feature columns, unless an informative_features rule examines them.
    features = [
        c
        for name, c in cols.items()
        if roles.get(name) in FEATURE_ROLES and name not in _covered(outcomes, ("D-3",)) and spec.sensitivity(name) != "personal"
    ]
    if features:
        rid = f"{PREFIX}.informative"
        names = {c["name"] for c in features}
        constant = [c["name"] for c in features if c["constant"]]
        copied = [c for c in features if not c["constant"] and c["duplicate_of"] in names]
        measures.append((rid, make_measure("D-3", len(features) - len(constant) - len(copied), len(features), None, None)))
        bits = []
        if constant:
            bits.append("constant: " + _listed(constant))
        if copied:
            bits.append("duplicated: " + _listed([f"{c['name']} = {c['duplicate_of']}" for c in copied]))
        if bits:
            details[rid] = "; ".join(bits)

    # K-2: duplicate rows over the published columns, unless a duplicate_records rule measures them.
    if not any(m.clause == "K-2" for o in outcomes for m in o.measures):
        rid = f"{PREFIX}.duplicates"
        measures.append((rid, make_measure("K-2", rows - profile["duplicate_rows"], rows, None, None)))
        if profile["duplicate_rows"]:
            details[rid] = f"{profile['duplicate_rows']} rows repeat an earlier row"

    # L-2: labelled rows of each label column no L-2 rule measures.
    labelled = _covered(outcomes, ("L-2",))
    for lab in profile["labels"]:
        if lab["column"] in labelled:
            continue
        rid = f"{PREFIX}.labelled.{lab['column']}"
        measures.append((rid, make_measure("L-2", lab["labelled"], lab["rows"], None, None)))
        if lab["labelled"] < lab["rows"]:
            details[rid] = f"{lab['column']}: {lab['rows'] - lab['labelled']} unlabelled rows"
    return measures, details


def baseline(
    spec: DatasetSpec, data: Any, outcomes: list[RuleOutcome]
) -> tuple[dict[str, Any], list[tuple[str, Measure]], dict[str, str]]:
    """Profile a version's published Parquet (a file or a glob) and derive its measures: (profile, measures, details)."""
    import polars as pl

    from pipelines.quality.profile import profile

    names = [c.name for c in spec.published_columns]
    labels = [c.name for c in spec.published_columns if c.role == "label"]
    prof = profile(pl.scan_parquet(data), names, labels=labels, personal=spec.personal_columns)
    measures, details = profile_measures(prof, spec, outcomes)
    return prof, measures, details
