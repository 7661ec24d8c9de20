"""The clauses of moshu's dataset construction guide (docs/guide.md), as data the engine scores with.

Each clause names its dimension, its measure (an ISO/IEC 5259-2 or 25024 id where one exists), the
default threshold on X = A/B (higher is better; not applicable when B = 0) and whether it is a hard
gate (reported apart, never averaged) or scored. docs/guide.md gives each the reason; a test keeps
the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

# GB/T 36344 dimensions, then the ISO/IEC 5259-2 ML characteristics.
DIMENSIONS: dict[str, str] = {
    "normativity": "规范性 Normativity",
    "completeness": "完整性 Completeness",
    "accuracy": "准确性 Accuracy",
    "consistency": "一致性 Consistency",
    "timeliness": "时效性 Timeliness",
    "accessibility": "可访问性 Accessibility",
    "balance": "Balance",
    "diversity": "Diversity",
    "representativeness": "Representativeness",
    "label_quality": "Label quality",
    "identifiability": "Identifiability",
    "auditability": "Auditability",
}

# Weight of each dimension in the overall score (renormalised over the dimensions a version has).
DIMENSION_WEIGHTS: dict[str, float] = {
    "normativity": 1.0,
    "completeness": 1.5,
    "accuracy": 2.0,
    "consistency": 1.5,
    "timeliness": 1.0,
    "accessibility": 0.5,
    "balance": 1.0,
    "diversity": 0.5,
    "representativeness": 1.0,
    "label_quality": 1.5,
    "identifiability": 1.0,
    "auditability": 0.5,
}


@dataclass(frozen=True)
class Clause:
    """One clause of the guide."""

    id: str
    dimension: str
    title: str
    measure_id: str | None  # ISO/IEC 5259-2 (xxx-ML-n) or 25024 (xxx-I-n / xxx-D-n) id, else None
    formula: str  # X = A / B, in words
    threshold: float  # default minimum X
    gate: bool  # hard gate (True) or scored (False)
    weight: float = 1.0  # weight inside its dimension
    # How a scored measure enters its dimension score: "x" uses X itself; "attainment" uses
    # min(1, X / threshold), for distribution measures whose X is far from 1 by nature (balance).
    scoring: str = "x"


CLAUSES: tuple[Clause, ...] = (
    Clause(
        "N-1",
        "normativity",
        "Values conform to the declared data type",
        "Con-ML-3",
        "rows whose raw values convert to the declared dtypes / rows",
        1.0,
        True,
    ),
    Clause(
        "N-2",
        "normativity",
        "Values follow the declared format",
        "Con-ML-3",
        "non-null values matching the pattern / non-null values",
        0.99,
        False,
    ),
    Clause("C-1", "completeness", "Required values are present", "Com-ML-3", "non-null values of the column / rows", 0.99, False),
    Clause(
        "C-2",
        "completeness",
        "Records are complete",
        "Com-ML-4",
        "rows with no empty cell in the listed columns / rows",
        0.95,
        False,
    ),
    Clause("C-3", "completeness", "The expected number of rows arrived", None, "1 if min <= rows <= max else 0", 1.0, True),
    Clause(
        "C-4",
        "completeness",
        "Each entity covers the required time range",
        None,
        "samples present per entity / samples expected from the period over the range",
        0.95,
        False,
    ),
    Clause(
        "C-5",
        "completeness",
        "Every column is filled",
        "Com-ML-1",
        "non-null cells / cells, over the columns no completeness rule measures",
        0.99,
        False,
    ),
    Clause(
        "A-1",
        "accuracy",
        "Values lie inside the instrument span",
        "Acc-ML-6",
        "non-null values inside [min, max] / non-null values",
        0.999,
        False,
    ),
    Clause(
        "A-2",
        "accuracy",
        "Values lie inside the operating span",
        "Acc-ML-6",
        "non-null values inside the suspect span / non-null values",
        0.98,
        False,
    ),
    Clause(
        "A-3",
        "accuracy",
        "Values belong to the admissible domain",
        "Acc-ML-1",
        "non-null values in the allowed set / non-null values",
        0.999,
        False,
    ),
    Clause(
        "A-4",
        "accuracy",
        "Outliers are rare",
        "Acc-ML-4",
        "non-null values with robust z-score <= k / non-null values",
        0.99,
        False,
    ),
    Clause("K-1", "consistency", "Keys are unique", None, "rows whose key appears once / rows with a complete key", 1.0, True),
    Clause("K-2", "consistency", "Records are not duplicated", "Con-ML-1", "1 - duplicated records / records", 0.999, False),
    Clause(
        "K-3",
        "consistency",
        "In-record logic holds (balance equations, cross-field rules)",
        "Con-ML-4",
        "rows satisfying the expression / rows where it is defined",
        0.999,
        False,
    ),
    Clause(
        "K-4",
        "consistency",
        "References resolve in the master data",
        "Con-I-1",
        "rows whose reference is in the master table / rows with a reference",
        1.0,
        False,
    ),
    Clause(
        "K-5",
        "consistency",
        "Units are consistent",
        None,
        "columns whose declared unit converts to the required unit / listed columns",
        1.0,
        True,
    ),
    Clause(
        "K-6",
        "consistency",
        "The data is consistent with its history",
        None,
        "comparisons with the previous versions or partitions within their band / comparisons made",
        1.0,
        False,
    ),
    Clause(
        "T-1", "timeliness", "Data is fresh", "Cur-ML-1", "1 if the newest timestamp is within the maximum age else 0", 1.0, False
    ),
    Clause(
        "T-2",
        "timeliness",
        "Data arrives within the allowed latency",
        "Tml-ML-1",
        "rows with available - event <= max latency / rows with both times",
        0.99,
        False,
    ),
    Clause(
        "T-3",
        "timeliness",
        "Timestamps strictly increase per entity",
        None,
        "rows later than their predecessor of the same entity / rows with a predecessor",
        1.0,
        False,
    ),
    Clause(
        "S-1", "completeness", "No sampling gaps", None, "intervals <= the expected period x tolerance / intervals", 0.99, False
    ),
    Clause(
        "S-2",
        "accuracy",
        "No spikes",
        None,
        "samples not flagged fail by the QARTOD spike test / evaluated samples",
        0.999,
        False,
    ),
    Clause(
        "S-3",
        "accuracy",
        "Plausible rate of change",
        None,
        "samples whose rate of change is within the limit / evaluated samples",
        0.999,
        False,
    ),
    Clause(
        "S-4",
        "accuracy",
        "No stuck sensors (flat line)",
        None,
        "samples not flagged fail by the QARTOD flat-line test / evaluated samples",
        0.99,
        False,
    ),
    Clause(
        "S-5",
        "accuracy",
        "No attenuated signal",
        None,
        "samples not flagged fail by the attenuated-signal test / evaluated samples",
        0.99,
        False,
    ),
    Clause(
        "X-1",
        "accessibility",
        "Published version is readable through the catalog",
        None,
        "published files readable with the recorded hash / published files",
        1.0,
        True,
    ),
    Clause(
        "B-1",
        "balance",
        "Class sizes are balanced",
        "Bal-ML-3",
        "size of the smallest class / size of the largest class",
        0.05,
        False,
        scoring="attainment",
    ),
    Clause(
        "B-2",
        "balance",
        "Label distribution is close to uniform",
        "Bal-ML-8",
        "normalised entropy H(p) / log(k) of the label distribution",
        0.5,
        False,
        scoring="attainment",
    ),
    Clause(
        "D-1",
        "diversity",
        "Every class of the taxonomy is present",
        "Div-ML-1",
        "classes present / classes in the taxonomy",
        1.0,
        False,
    ),
    Clause(
        "D-2",
        "diversity",
        "Classes reach a minimum size",
        "Div-ML-3",
        "1 - classes below the minimum count / classes present",
        1.0,
        False,
    ),
    Clause(
        "D-3",
        "diversity",
        "Features carry information",
        None,
        "1 - constant or duplicated feature columns / feature columns",
        1.0,
        False,
    ),
    Clause(
        "L-1",
        "label_quality",
        "Labels belong to the taxonomy",
        "Eft-ML-3",
        "labelled rows whose label is in the taxonomy / labelled rows",
        1.0,
        True,
    ),
    Clause("L-2", "label_quality", "Samples are labelled", "Com-ML-5", "1 - unlabelled samples / samples", 0.999, False),
    Clause(
        "I-1",
        "identifiability",
        "Personal data is pseudonymised",
        "Idn-ML-1",
        "1 - values of declared personal columns that are not pseudonyms / values of declared personal columns",
        1.0,
        True,
    ),
    Clause(
        "U-1",
        "auditability",
        "Every record has full lineage",
        "Aud-ML-2",
        "published rows with source file, source row and version / published rows",
        1.0,
        True,
    ),
)

BY_ID: dict[str, Clause] = {c.id: c for c in CLAUSES}

# Certification levels of our own (standards set none): the overall score a version needs, with
# every hard gate passed. Highest first.
LEVELS: tuple[tuple[str, float], ...] = (("gold", 0.95), ("silver", 0.90), ("bronze", 0.80))
UNCERTIFIED = "uncertified"
LEVEL_ORDER: tuple[str, ...] = (UNCERTIFIED, "bronze", "silver", "gold")


def clause(clause_id: str) -> Clause:
    """The clause with this id."""
    return BY_ID[clause_id]
