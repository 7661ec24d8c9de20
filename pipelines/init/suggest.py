"""Suggested quality rules from a profile, in the existing rule kinds, each citing its guide clause and what it saw."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from pipelines.init.profile import ColumnProfile
from pipelines.init.structure import Structure
from pipelines.quality.guide import clause

MARGIN = 0.10  # widening of the p0.5..p99.5 span on each side
# Units and name parts whose values cannot be negative: absolute temperatures, speeds in rpm, counts.
NON_NEGATIVE_UNITS = frozenset({"K", "degR", "rpm"})
NON_NEGATIVE_WORDS = ("count", "qty", "quantity")


@dataclass
class Suggestion:
    """One suggested rule: its keys in order, the guide clause it implements and what the sample showed."""

    rule: dict[str, Any]
    clause: str
    seen: str
    notes: list[str] = field(default_factory=list)

    @property
    def cite(self) -> str:
        """`A-1 Values lie in the instrument's span (docs/guide.md)`."""
        return f"{self.clause} {clause(self.clause).title} (docs/guide.md)"


def n(x: int) -> str:
    """An integer with thousands separators."""
    return f"{x:,}"


def fmt_num(x: float) -> str:
    """A number as short as it can be while keeping 6 significant digits."""
    return f"{x:.6g}"


def _rounded(x: float, span: float, up: bool, integer: bool) -> float | int:
    """`x` rounded outward to a precision that suits the span (two digits below its order of magnitude)."""
    if integer:
        return int(math.ceil(x) if up else math.floor(x))
    digits = 2 - math.floor(math.log10(span)) if span > 0 else 2
    scale = 10.0**digits
    value = (math.ceil(x * scale) if up else math.floor(x * scale)) / scale
    return round(value, max(digits, 0))


def _non_negative(c: ColumnProfile) -> bool:
    return (c.unit in NON_NEGATIVE_UNITS or any(w in c.name for w in NON_NEGATIVE_WORDS)) and (c.vmin or 0) >= 0


def span_rules(dataset: str, c: ColumnProfile) -> list[Suggestion]:
    """A warn `in_range` over the robust span with a margin; an error `min: 0` where negative values are physically impossible."""
    out: list[Suggestion] = []
    if c.lo is None or c.hi is None or c.vmin == c.vmax or (set(c.classes) <= {0, 1} and c.classes):
        return out
    span = c.hi - c.lo or abs(c.hi) or 1.0
    integer = c.dtype == "int64"
    lo = _rounded(c.lo - MARGIN * span, span, up=False, integer=integer)
    hi = _rounded(c.hi + MARGIN * span, span, up=True, integer=integer)
    if (c.vmin or 0) >= 0:
        lo = max(lo, 0)  # never negative in the sample: the margin does not invent negative values
    if _non_negative(c):
        out.append(
            Suggestion(
                {
                    "id": f"{dataset}.{c.name}.non_negative",
                    "kind": "in_range",
                    "column": c.name,
                    "min": 0,
                    "description": f"`{c.name}` cannot be negative ({c.unit or 'a count'}).",
                },
                "A-1",
                f"min={fmt_num(c.vmin or 0)}; negative values are physically impossible",
            )
        )
    out.append(
        Suggestion(
            {
                "id": f"{dataset}.{c.name}.span",
                "kind": "in_range",
                "column": c.name,
                "min": lo,
                "max": hi,
                "severity": "warn",
                "description": f"`{c.name}` inside the span seen when the spec was written, widened by {MARGIN:.0%} each side.",
            },
            "A-1",
            f"p0.5={fmt_num(c.lo)}, p99.5={fmt_num(c.hi)}, min={fmt_num(c.vmin or 0)}, max={fmt_num(c.vmax or 0)}, "
            f"margin {MARGIN:.0%}",
            ["REVIEW: replace with the instrument's span (error) and the operating span (`suspect_min`/`suspect_max`)"],
        )
    )
    return out


def set_rule(dataset: str, c: ColumnProfile, rows: int, complete: bool) -> Suggestion | None:
    """An `in_set` of the few values a text, entity or label column takes (never for a personal column)."""
    if c.personal or not c.classes or c.distinct > 20 or c.from_path or c.role in ("timestamp", "measurement"):
        return None
    if c.dtype not in ("string", "int64", "bool") or (c.role != "label" and c.dtype != "string"):
        return None
    if c.distinct * 10 > rows:
        return None
    rule: dict[str, Any] = {"id": f"{dataset}.{c.name}.allowed", "kind": "in_set", "column": c.name, "values": list(c.classes)}
    if not complete:
        rule["severity"] = "warn"
    rule["description"] = f"`{c.name}` takes one of the {c.distinct} values seen when the spec was written."
    where = "all rows" if complete else "the sampled rows"
    notes = [] if complete else ["REVIEW: only a sample was read; make it an error once the list is complete"]
    return Suggestion(rule, "L-1" if c.role == "label" else "A-3", f"{c.distinct} distinct values in {where}", notes)


def time_rules(dataset: str, s: Structure, rows: int) -> list[Suggestion]:
    """`increasing` and, with a regular period, `gap` per entity on the timestamp."""
    if s.timestamp is None:
        return []
    out = []
    inc: dict[str, Any] = {
        "id": f"{dataset}.{s.timestamp}.increasing",
        "kind": "increasing",
        "timestamp": s.timestamp,
        "entity": list(s.entity),
    }
    if s.backwards:
        inc["severity"] = "warn"
    inc["description"] = "Each series' timestamps increase strictly in file order."
    out.append(Suggestion(inc, "T-3", f"{n(s.backwards)} intervals not moving forward in {n(rows)} rows"))
    if s.period:
        period = round(s.period, 6)
        unit = "s" if s.time_unit == "s" else "counter steps"
        out.append(
            Suggestion(
                {
                    "id": f"{dataset}.{s.timestamp}.gap",
                    "kind": "gap",
                    "timestamp": s.timestamp,
                    "entity": list(s.entity),
                    "period_s": period,
                    "severity": "warn",
                    "description": f"A series reports every {fmt_num(period)} {unit}; a longer interval is a gap.",
                },
                "S-1",
                f"{s.period_share:.1%} of the intervals are {fmt_num(period)}",
            )
        )
    return out


def label_rules(dataset: str, cols: list[ColumnProfile], s: Structure) -> list[Suggestion]:
    """`class_balance` and `label_coverage` for a one-hot group or a single label column (warn: dataset-level errors block)."""
    out: list[Suggestion] = []
    if s.one_hot:
        target: dict[str, Any] = {"one_hot": list(s.one_hot)}
        seen = f"one-hot group of {len(s.one_hot)} columns, exactly one 1 per row"
        extra: dict[str, Any] = {}
        stem = "classes"
    else:
        labels = [c for c in cols if c.role == "label" and c.classes and len(c.classes) >= 2]
        if not labels:
            return out
        c = labels[0]
        target, seen, extra, stem = (
            {"column": c.name},
            f"{len(c.classes)} classes in `{c.name}`",
            {"taxonomy": list(c.classes)},
            c.name,
        )
    out.append(
        Suggestion(
            {
                "id": f"{dataset}.{stem}.balance",
                "kind": "class_balance",
                **target,
                "severity": "warn",
                "description": "Smallest class against the largest.",
            },
            "B-1",
            seen,
        )
    )
    out.append(
        Suggestion(
            {
                "id": f"{dataset}.{stem}.present",
                "kind": "label_coverage",
                **target,
                **extra,
                "severity": "warn",
                "description": "Every class occurs.",
            },
            "D-1",
            seen,
        )
    )
    return out


def feature_rules(dataset: str, cols: list[ColumnProfile], s: Structure, *, selector: bool = False) -> list[Suggestion]:
    """`informative_features` over the measurements (listed, or `{role: measurement}` with wide groups), noting constant
    and duplicated columns seen."""
    names = [c.name for c in cols if c.role == "measurement"]
    if len(names) < 2:
        return []
    feats: list[str] | dict[str, str] = {"role": "measurement"} if selector else names
    seen = f"{len(s.constant)} constant ({', '.join(s.constant[:8]) or 'none'}), {len(s.duplicated)} duplicated"
    if s.duplicated:
        seen += f" ({', '.join(f'{a} = {b}' for a, b in s.duplicated[:5])})"
    rule: dict[str, Any] = {"id": f"{dataset}.features.informative", "kind": "informative_features", "columns": feats}
    group = [e for e in s.entity if next((c for c in cols if c.name == e and c.from_path), None)]
    if group:
        rule["group_by"] = group
    rule |= {"severity": "warn", "description": "No feature is constant or a copy of another."}
    return [Suggestion(rule, "D-3", seen)]


def unit_rules(dataset: str, cols: list[ColumnProfile]) -> list[Suggestion]:
    """`unit_consistency` for each physical quantity two or more columns measure (e.g. temperatures in `K`)."""
    from pipelines.quality.units import registry

    by_dimension: dict[str, list[ColumnProfile]] = {}
    for c in cols:
        if c.unit and c.numeric:
            dim = str(registry().Unit(c.unit).dimensionality)
            if dim != "dimensionless":
                by_dimension.setdefault(dim, []).append(c)
    out = []
    for dim, group in by_dimension.items():
        if len(group) < 2:
            continue
        stem = re.sub(r"[^a-z0-9]+", "_", dim.lower()).strip("_") or "quantity"
        units = ", ".join(f"{c.name} [{c.unit}]" for c in group)
        out.append(
            Suggestion(
                {"id": f"{dataset}.units.{stem}", "kind": "unit_consistency", "columns": [c.name for c in group],
                 "unit": group[0].unit, "description": f"These columns all measure {dim}: their units convert to `{group[0].unit}`."},
                "K-5",
                f"units from the headers: {units}",
            )
        )  # fmt: skip
    return out


def suggest(
    dataset: str, cols: list[ColumnProfile], s: Structure, rows: int, complete: bool, members: dict[str, str] | None = None
) -> list[Suggestion]:
    """Every suggested rule, in the order they are written.

    Args:
        dataset: The dataset name (prefix of rule ids).
        cols: The profiled columns, with their roles.
        s: The dataset-level inference.
        rows: Rows sampled.
        complete: Whether the sample holds every row.
        members: Columns of wide groups (`columns_from`) -> group id: they get no rule of their own (hundreds of
            per-column rules would bury the rest); multi-column rules select them with `{role: measurement}`.
    """
    members = members or {}
    single = [c for c in cols if c.name not in members]
    out: list[Suggestion] = []
    for c in single:
        rule = set_rule(dataset, c, rows, complete)
        if rule:
            out.append(rule)
    for c in single:
        if c.role == "measurement" and c.numeric and not c.personal:
            out += span_rules(dataset, c)
    out += time_rules(dataset, s, rows)
    out += label_rules(dataset, cols, s)
    out += feature_rules(dataset, cols, s, selector=bool(members))
    out += unit_rules(dataset, cols)
    out.append(
        Suggestion(
            {
                "id": f"{dataset}.records.unique",
                "kind": "duplicate_records",
                "severity": "warn",
                "description": "No record repeats an earlier one.",
            },
            "K-2",
            f"{n(s.duplicate_rows)} repeated records in {n(rows)} rows",
        )
    )
    return out
