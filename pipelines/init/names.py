"""What a raw header says: a snake_case name, a unit in brackets, and hints of a role or of a person."""

from __future__ import annotations

import re

from pipelines.quality.units import valid

# Unit spellings pint reads as something else (`Nm` is nano-metre to pint) or not at all.
UNIT_ALIASES = {
    "Nm": "N*m",
    "kNm": "kN*m",
    "°C": "degC",
    "℃": "degC",
    "°F": "degF",
    "°": "deg",
    "pct": "percent",
    "%": "percent",
    "mm/min": "mm/min",
    "m/s2": "m/s**2",
    "m/s²": "m/s**2",
}
# Name endings that name a unit without doubt (`spindle_speed_rpm`).
UNIT_SUFFIXES = {"rpm": "rpm", "pct": "percent", "mm_s": "mm/s", "mm_min": "mm/min", "kw": "kW", "kpa": "kPa", "mpa": "MPa",
                 "bar": "bar", "hz": "Hz", "degc": "degC", "kn": "kN", "nm": "N*m"}  # fmt: skip
_UNIT_IN_HEADER = re.compile(r"^(?P<name>.*?)\s*[\[(（](?P<unit>[^\])）]{1,20})[\])）]\s*$")

PERSON = re.compile(
    r"(^|_)(operator|operators|worker|employee|staff|inspector|technician|person|user|name|op_name)(_|$)|操作员|操作工|工人|员工|姓名|作业员|检验员"
)
LABEL = re.compile(r"(^|_)(label|labels|fault|faults|failure|failures|class|target|quality|defect|defects|anomaly|y)(_|$)")
ENTITY = re.compile(
    r"^(machine|unit|engine|device|asset|equipment|station|press|robot|spindle|sensor|tool|line|cell)(_?(id|no|number|name|code))?$"
    r"|^(machine|engine|device|asset|equipment|station|press|robot|sensor)_"
)
TIMESTAMP = re.compile(r"(^|_)(ts|time|timestamp|datetime|date|time_stamp|event_time|recorded_at|created_at)(_|$)|时间|日期")
COUNTER = re.compile(r"^(cycle|cycles|step|counter|seq|sequence|time_cycles|cycle_no|cycle_number)$")
ID_LIKE = re.compile(r"(^|_)(id|uid|udi|key|no|number|index|idx|serial|code)$")


def snake(text: str) -> str:
    """A snake_case column name for a raw header (`TypeOfSteel_A300` -> `type_of_steel_a300`); empty if nothing is left."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", text.strip())
    s = re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")
    return s[:63].rstrip("_")


def canonical_unit(text: str) -> str | None:
    """The unit as pint reads it (`Nm` -> `N*m`), or None when pint does not know it."""
    unit = UNIT_ALIASES.get(text.strip(), text.strip())
    return unit if unit and valid(unit) else None


def split_unit(header: str) -> tuple[str, str | None, str | None]:
    """(header without its unit, unit for the spec, unit as written) from `Temp [K]` or `Pressure (bar)`.

    A bracket that pint does not read as a unit stays part of the name (the third value is then None too).
    """
    m = _UNIT_IN_HEADER.match(header.strip())
    if m and m.group("name"):
        unit = canonical_unit(m.group("unit"))
        if unit is not None:
            return m.group("name"), unit, m.group("unit")
    return header, None, None


def suffix_unit(name: str) -> str | None:
    """A unit named by the end of a snake_case name (`coolant_flow_rpm` -> `rpm`), or None."""
    for suffix, unit in UNIT_SUFFIXES.items():
        if name.endswith("_" + suffix):
            return unit
    return None


def column_names(headers: list[str]) -> list[tuple[str, str | None]]:
    """(spec name, unit) for each raw header: snake_case, unit taken out of the name, unique, never empty.

    Args:
        headers: The raw column names in file order.
    """
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for i, header in enumerate(headers):
        bare, unit, _ = split_unit(header)
        name = snake(bare) or f"col_{i + 1:02d}"
        if not name[0].isalpha():
            name = f"c_{name}"[:63]
        unit = unit or suffix_unit(name)
        base, n = name, 2
        while name in seen:
            name, n = f"{base[:59]}_{n}", n + 1
        seen.add(name)
        out.append((name, unit))
    return out


def is_person(name: str, header: str) -> bool:
    """Whether a column's name or raw header suggests it identifies a person (operator, worker, 操作员, ...)."""
    return bool(PERSON.search(name) or PERSON.search(header))


def is_label(name: str) -> bool:
    """Whether a name suggests a label (label, fault, failure, class, target, quality, ...)."""
    return bool(LABEL.search(name))
