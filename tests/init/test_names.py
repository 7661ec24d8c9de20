"""Names, units and hints read from raw headers."""

from __future__ import annotations

import pytest

from pipelines.init.names import column_names, is_label, is_person, snake, split_unit


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Air temperature [K]", "air_temperature"),
        ("TypeOfSteel_A300", "type_of_steel_a300"),
        ("LogOfAreas", "log_of_areas"),
        ("UDI", "udi"),
        ("Product ID", "product_id"),
        ("Pressure (bar)", "pressure"),
    ],
)
def test_header_becomes_snake_case_without_its_unit(header: str, name: str) -> None:
    assert column_names([header])[0][0] == name


def test_units_in_brackets_are_read_by_pint_and_bad_ones_stay_in_the_name() -> None:
    assert split_unit("Air temperature [K]")[1] == "K"
    assert split_unit("Pressure (bar)")[1] == "bar"
    assert split_unit("Torque [Nm]")[1:] == ("N*m", "Nm")  # pint reads `Nm` as something else
    assert split_unit("Coolant （℃）")[1] == "degC"
    assert split_unit("Count (pieces of work)") == ("Count (pieces of work)", None, None)
    assert column_names(["spindle_speed_rpm"]) == [("spindle_speed_rpm", "rpm")]


def test_names_are_unique_and_never_empty() -> None:
    assert [n for n, _ in column_names(["Temp [K]", "Temp [degC]", "★", "1"])] == ["temp", "temp_2", "col_03", "c_1"]
    assert [n for n, _ in column_names(["设备编号", "主轴转速[rpm]", "操作员", "Härte"])] == [
        "machine_id",
        "spindle_speed",
        "operator",
        "harte",
    ]
    assert snake("Machine failure") == "machine_failure"


def test_person_and_label_hints() -> None:
    assert is_person("operator_id", "operator_id") and is_person("col_03", "操作员") and is_person("worker", "Worker")
    assert not is_person("machine_id", "machine_id")
    assert is_label("machine_failure") and is_label("other_faults") and is_label("class") and not is_label("classic")
