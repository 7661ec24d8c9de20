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
LABEL = re.compile(
    r"(^|_)(label|labels|fault|faults|failure|failures|class|target|quality|defect|defects|anomaly|verdict|pass_fail|passfail|ok_nok|y)(_|$)"
)
ENTITY = re.compile(
    r"^(machine|unit|engine|device|asset|equipment|station|press|robot|spindle|sensor|tool|line|cell)(_?(id|no|number|name|code))?$"
    r"|^(machine|engine|device|asset|equipment|station|press|robot|sensor)_"
)
TIMESTAMP = re.compile(
    r"(^|_)(ts|time|timestamp|datetime|date|time_stamp|event_time|recorded_at|created_at|datum|zeit|zeitstempel)(_|$)|时间|日期"
)
COUNTER = re.compile(r"^(cycle|cycles|step|counter|seq|sequence|time_cycles|cycle_no|cycle_number)$")
ID_LIKE = re.compile(r"(^|_)(id|uid|udi|key|no|number|index|idx|serial|code)$")


# Chinese terms of plant exports, longest first when translated (`设备编号` -> `machine_id`, not `machine_id` + `id`).
GLOSSARY = {
    "设备编号": "machine_id", "机台号": "machine_id", "设备": "machine", "机台": "machine", "产线": "line", "工位": "station",
    "时间": "time", "日期": "date", "时间戳": "timestamp", "温度": "temperature", "压力": "pressure", "主轴转速": "spindle_speed",
    "转速": "speed", "电流": "current", "电压": "voltage", "功率": "power", "振动": "vibration", "扭矩": "torque",
    "流量": "flow", "产量": "output", "数量": "quantity", "批次": "batch", "班组": "shift", "班次": "shift", "备注": "remark",
    "状态": "status", "报警": "alarm", "故障": "fault", "缺陷": "defect", "标签": "label", "结果": "result", "类别": "class",
    "操作员": "operator", "操作工": "operator", "作业员": "operator", "检验员": "inspector", "工人": "worker", "员工": "employee",
    "姓名": "name", "物料": "material", "材料": "material", "编号": "id", "型号": "model", "程序": "program", "速度": "speed",
}  # fmt: skip
_GLOSSARY = re.compile("|".join(sorted(GLOSSARY, key=len, reverse=True)))


def snake(text: str) -> str:
    """A snake_case column name for a raw header (`TypeOfSteel_A300` -> `type_of_steel_a300`, `设备编号` -> `machine_id`).

    Accents are dropped (`Härte` -> `harte`); Chinese plant terms are translated (`GLOSSARY`); empty if nothing is left.
    """
    import unicodedata

    text = _GLOSSARY.sub(lambda m: f" {GLOSSARY[m.group(0)]} ", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
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
