"""Column groups (`columns_from`) and column selectors on a 520-sensor matrix: resolution, hashes, and every mistake."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipelines.errors import SpecError, SpecIssue
from pipelines.spec.groups import member_name, parse_positions
from pipelines.spec.loader import load_project
from tests.spec.wide import CASES, DEMAND, RULES, SPEC, headerless_project, wide_project

SENSORS = [f"s{i:03d}" for i in range(520)]


def _issues(root: Path) -> list[SpecIssue]:
    with pytest.raises(SpecError) as info:
        load_project(root)
    return info.value.issues


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text("utf-8").splitlines(), start=1) if needle in line)


def test_a_few_lines_declare_520_sensor_columns(tmp_path: Path) -> None:
    ld = load_project(wide_project(tmp_path)).datasets["fab"]
    spec = ld.spec
    assert spec.column_names == ["ts", "pass_fail", *SENSORS]  # explicit columns first, then members in file order
    s7 = spec.column("s007")
    assert (s7.source, s7.dtype, s7.role, s7.unit) == ("7", "float64", "measurement", None)
    assert spec.columns_from == ()  # resolved: downstream sees plain columns
    (g,) = ld.groups
    assert (g.index, g.id, g.how) == (0, "sensors", r"pattern `^\d+$`")
    assert list(g.members) == SENSORS and g.sources[:3] == ("0", "1", "2")


def test_selectors_resolve_to_plain_lists_in_rules_and_demands(tmp_path: Path) -> None:
    ld = load_project(wide_project(tmp_path)).datasets["fab"]
    columns = {r.id: r.columns_used() for r in ld.rules}
    without_dead = [s for s in SENSORS if s != "s007"]
    assert list(columns["fab.sensors.complete"]) == without_dead
    assert list(columns["fab.no_repeats"]) == SENSORS
    (demand,) = ld.demands
    assert list(demand.features) == without_dead
    shown = {(s.where, s.selector, len(s.columns)) for s in ld.selections}
    assert shown == {
        ("fab.sensors.complete.columns", "{role: measurement, exclude: [s007]}", 519),
        ("fab.no_repeats.columns", "{group: sensors}", 520),
        ("fab_yield.features", "{group: sensors, exclude: [s007]}", 519),
        ("fab.sensors.informative.columns", "{pattern: s*, dtype: float64}", 520),
    }


def test_grouped_spec_hashes_like_the_same_spec_spelled_out(tmp_path: Path) -> None:
    grouped = load_project(wide_project(tmp_path / "g")).datasets["fab"]
    members = "".join(f"  - {{name: {s}, source: '{int(s[1:])}', dtype: float64, role: measurement}}\n" for s in SENSORS)
    spelled_spec = SPEC[: SPEC.index("columns_from:")] + members + SPEC[SPEC.index("rules:") :]
    listed = "[" + ", ".join(s for s in SENSORS if s != "s007") + "]"
    spelled_rules = RULES.replace("{role: measurement, exclude: [s007]}", listed).replace(
        "{group: sensors}", f"[{', '.join(SENSORS)}]"
    )
    spelled_demand = DEMAND.replace("{group: sensors, exclude: [s007]}", listed)
    spelled = load_project(wide_project(tmp_path / "s", spec=spelled_spec, rules=spelled_rules, demand=spelled_demand))
    s = spelled.datasets["fab"]
    assert (grouped.spec_data_hash, grouped.spec_metadata_hash, grouped.rules_hash) == (
        s.spec_data_hash, s.spec_metadata_hash, s.rules_hash
    )  # fmt: skip
    assert grouped.demands == s.demands


def test_headerless_matrix_is_named_by_position(tmp_path: Path) -> None:
    spec = load_project(headerless_project(tmp_path)).datasets["fab_raw"].spec
    assert spec.column_names == [f"s{i:03d}" for i in range(1, 521)]
    assert spec.source.csv.column_names == tuple(str(i) for i in range(1, 521))  # fields named by position
    assert spec.column("s001").source == "1"


def test_explicit_columns_take_their_raw_column_from_a_group(tmp_path: Path) -> None:
    spec = SPEC.replace(
        "  - {name: pass_fail,", "  - {name: chamber_pressure, source: '0', dtype: float64, unit: Pa}\n  - {name: pass_fail,"
    )
    ld = load_project(wide_project(tmp_path, spec=spec)).datasets["fab"]
    assert ld.spec.column("chamber_pressure").unit == "Pa"
    assert ld.groups[0].members[0] == "s001" and len(ld.groups[0].members) == 519


def test_name_templates_and_positions() -> None:
    assert member_name("s{:03d}", "7") == "s007"
    assert member_name("{}", "temp_1") == "temp_1"
    assert member_name("p{:03d}", 12) == "p012"  # a `positions` member: the position is a number
    m = re.search(r"^Sensor_(\d+)_(?P<q>\w+)$", "Sensor_12_Temp")
    assert member_name("{q!s}_{1}", "Sensor_12_Temp", m).lower() == "temp_12"
    with pytest.raises(ValueError, match="formats a number, but the raw name is `abc`"):
        member_name("s{:03d}", "abc")
    assert parse_positions("1-3, 7") == [1, 2, 3, 7]
    for bad in ("0-3", "5-2", "1-3,2", "a"):
        with pytest.raises(ValueError):
            parse_positions(bad)


# ------------------------------------------------------------------------------------------------ mistakes


def test_a_group_that_matches_nothing(tmp_path: Path) -> None:
    root = wide_project(tmp_path, spec=SPEC.replace(r"pattern: '^\d+$'", r"pattern: '^sensor_\d+$'"))
    (issue,) = _issues(root)
    assert (issue.file, issue.key_path) == ("dataset_specs/fab.yaml", "columns_from[0].pattern")
    assert issue.line == _line_of(root / "dataset_specs" / "fab.yaml", "pattern:")
    assert r"`^sensor_\d+$` matches no column of `raw/wide_sensors.csv`" in issue.message
    assert "`timestamp`, `0`, `1`" in issue.message and "more" in issue.message
    assert issue.hint is not None and "regular expression" in issue.hint


def test_two_groups_claiming_the_same_raw_columns(tmp_path: Path) -> None:
    extra = "  - {pattern: '^5\\d\\d$', name: 'late_{}', dtype: float32}\nrules:"
    (issue,) = _issues(wide_project(tmp_path, spec=SPEC.replace("rules:", extra)))
    assert issue.key_path == "columns_from[1].pattern"
    assert "raw columns `500`, `501`" in issue.message and "claimed by both columns_from[0] and columns_from[1]" in issue.message
    assert issue.hint is not None and "narrow one of the patterns" in issue.hint


def test_files_whose_headers_disagree(tmp_path: Path) -> None:
    root = wide_project(tmp_path)
    lines = (CASES / "wide_sensors.csv").read_text("ascii").splitlines()[:3]
    cut = [",".join(line.split(",")[:-2] + line.split(",")[-1:]) for line in lines]  # sensor 519 dropped
    (root / "raw" / "wide_sensors_b.csv").write_text("\n".join(cut) + "\n", "ascii")
    (issue,) = _issues(root)
    assert issue.key_path == "columns_from[0].pattern"
    assert "against `raw/wide_sensors.csv`, `raw/wide_sensors_b.csv` lacks `519`" in issue.message


def test_a_selector_that_selects_nothing(tmp_path: Path) -> None:
    root = wide_project(tmp_path, rules=RULES.replace("{group: sensors}", "{pattern: 'x*', role: measurement}"))
    (issue,) = _issues(root)
    assert (issue.file, issue.key_path) == ("quality_rules/fab.yaml", "rules[2].columns")
    assert issue.line == _line_of(root / "quality_rules" / "fab.yaml", "{pattern: 'x*'")
    assert "selector {role: measurement, pattern: x*} selects no column of dataset `fab`" in issue.message
    assert (
        "its 522 columns are `ts`, `pass_fail`, `s000`" in issue.message
        and "roles: label, measurement, timestamp); widen the selector" in issue.message
    )


def test_selector_mistakes_in_demands_and_rules(tmp_path: Path) -> None:
    rules = RULES.replace("{group: sensors}", "{group: sensor}").replace("exclude: [s007]", "exclude: [s7]")
    demand = DEMAND.replace("{group: sensors, exclude: [s007]}", "{role: entity}")
    found = {(i.file, i.key_path): i.message for i in _issues(wide_project(tmp_path, rules=rules, demand=demand))}
    assert "no column group `sensor`; groups: `0`, `sensors`" in found["quality_rules/fab.yaml", "rules[2].columns"]
    assert "`exclude` entry `s7` matches no column of `fab`; did you mean" in found["quality_rules/fab.yaml", "rules[0].columns"]
    assert "selector {role: entity} selects no column" in found["dataset_specs/demands/fab_yield.yaml", "features"]


def test_groups_that_cannot_apply_to_the_source(tmp_path: Path) -> None:
    headerless = headerless_project(tmp_path / "h") / "dataset_specs" / "fab_raw.yaml"
    headerless.write_text(headerless.read_text("utf-8").replace("positions: '1-520'", r"pattern: '^\d+$'"), "utf-8")
    (issue,) = _issues(tmp_path / "h")  # no header, no names, no positions: nothing to match a pattern against
    assert "`source.csv.column_names` is required when `header` is false" in issue.message
    assert "columns_from: [{positions: '1-590'" in issue.message

    root = wide_project(tmp_path / "n")
    shutil.rmtree(root / "raw")
    (issue,) = _issues(root)
    assert issue.key_path == "source.path" and "no file matches `raw/*.csv`" in issue.message

    bad_name = SPEC.replace("name: 's{:03d}'", "name: 'Sensor {}'")
    (issue,) = _issues(wide_project(tmp_path / "t", spec=bad_name))
    assert issue.key_path == "columns_from[0].name" and "makes `Sensor 0` of raw column `0`" in issue.message


def test_check_prints_what_groups_and_selectors_resolved_to(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    res = CliRunner().invoke(app, ["check", "--project", str(wide_project(tmp_path))])
    assert res.exit_code == 0, res.output
    assert r"fab: columns_from[0] (sensors) pattern `^\d+$` -> 520 columns: s000, s001, s002, ..., s518, s519" in res.output
    assert "fab: fab_yield.features {group: sensors, exclude: [s007]} -> 519 columns" in res.output


def test_headerless_explicit_column_reads_a_field_by_position(tmp_path: Path) -> None:
    path = headerless_project(tmp_path) / "dataset_specs" / "fab_raw.yaml"
    text = path.read_text("utf-8").replace("positions: '1-520'", "positions: '2-520'")
    path.write_text(text + "columns:\n  - {name: first_sensor, source: '1', dtype: float64, unit: mbar}\n", "utf-8")
    spec = load_project(tmp_path).datasets["fab_raw"].spec
    assert spec.column_names[:3] == ["first_sensor", "s002", "s003"] and len(spec.columns) == 520
    assert spec.source.csv.column_names == tuple(str(i) for i in range(1, 521))
