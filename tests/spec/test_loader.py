"""Spec and rule files: the seeds load; every kind of mistake is reported with file, line and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import SpecError
from pipelines.spec.loader import load_project
from pipelines.spec.rules import InSet


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def _error(project_dir: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_project(project_dir)
    return info.value


def test_seed_specs_load_with_implied_rules(project_dir: Path) -> None:
    proj = load_project(project_dir)
    assert sorted(proj.datasets) == ["ai4i2020", "cmapss", "cnc_line", "steel_plates_faults"]
    cnc = proj.datasets["cnc_line"]
    ids = [r.id for r in cnc.rules]
    assert "schema.primary_key" in ids
    assert "schema.not_null.ts" in ids and "schema.not_null.machine_id" in ids
    assert cnc.spec.synthetic is not None and cnc.spec.synthetic.generator == "moshu.synthetic.cnc_line"


def test_yaml_1_2_booleans_keep_status_codes_as_strings(project_dir: Path) -> None:
    rule = next(r for r in load_project(project_dir).datasets["cnc_line"].rules if r.id == "cnc.status.allowed")
    assert isinstance(rule, InSet)
    assert rule.values == ("RUN", "IDLE", "SETUP", "ALARM", "OFF")


def test_misspelt_key_names_file_line_and_suggests(project_dir: Path) -> None:
    spec = project_dir / "dataset_specs" / "cnc_line.yaml"
    _edit(spec, "primary_key:", "primary_keys:")
    err = _error(project_dir)
    assert len(err.issues) == 1
    issue = err.issues[0]
    assert issue.file == "dataset_specs/cnc_line.yaml"
    assert issue.line == _line_of(spec, "primary_keys:")
    assert "unknown key `primary_keys`" in issue.message
    assert issue.hint == "did you mean `primary_key`?"


def test_misspelt_nested_key_in_a_rule(project_dir: Path) -> None:
    rules = project_dir / "quality_rules" / "cnc_line.yaml"
    _edit(rules, "    min: 0\n    max: 24000", "    mni: 0\n    max: 24000")
    issue = _error(project_dir).issues[0]
    assert issue.file == "quality_rules/cnc_line.yaml"
    assert issue.line == _line_of(rules, "mni: 0")
    assert issue.key_path == "rules[3].mni"
    assert issue.hint == "did you mean `min`?"


def test_missing_required_field(project_dir: Path) -> None:
    spec = project_dir / "dataset_specs" / "ai4i2020.yaml"
    _edit(spec, "owner: maintenance-analytics\n", "")
    issue = _error(project_dir).issues[0]
    assert issue.message == "required key `owner` is missing"
    assert issue.line == _line_of(spec, "name: ai4i2020")  # the mapping that lacks the key
    assert issue.hint is not None and issue.hint.startswith("add `owner:`")


def test_wrong_type_says_expected_and_got(project_dir: Path) -> None:
    rules = project_dir / "quality_rules" / "ai4i2020.yaml"
    _edit(rules, "    min: 1000", "    min: lots")
    issue = _error(project_dir).issues[0]
    assert issue.key_path == "rules[11].min"
    assert issue.line == _line_of(rules, "min: lots")
    assert "expected" in issue.message and '"lots"' in issue.message


def test_unknown_rule_kind_suggests_the_closest(project_dir: Path) -> None:
    rules = project_dir / "quality_rules" / "cnc_line.yaml"
    _edit(rules, "kind: in_range", "kind: in_rnage")
    issue = _error(project_dir).issues[0]
    assert issue.message == "unknown rule kind `in_rnage`"
    assert issue.hint == "did you mean `in_range`?"
    assert issue.line == _line_of(rules, "in_rnage")


def test_rule_on_a_column_the_spec_lacks(project_dir: Path) -> None:
    rules = project_dir / "quality_rules" / "cnc_line.yaml"
    _edit(rules, "column: coolant_temp_c\n    description: Every", "column: coolant_tmp_c\n    description: Every")
    issue = _error(project_dir).issues[0]
    assert "does not have" in issue.message and "`coolant_tmp_c`" in issue.message
    assert issue.hint == "did you mean `coolant_temp_c`?"


def test_invalid_expression_and_bad_threshold(project_dir: Path) -> None:
    rules = project_dir / "quality_rules" / "cnc_line.yaml"
    _edit(rules, 'expr: "total_count = good_count + scrap_count"', 'expr: "total_count = = good_count"')
    _edit(rules, "    min: -10\n    max: 90", "    min: 90\n    max: -10")
    issues = _error(project_dir).issues
    messages = " | ".join(i.message for i in issues)
    assert "is not a valid SQL expression" in messages
    assert "`min` (90.0) is greater than `max` (-10.0)" in messages


def test_yaml_syntax_error_has_a_position(project_dir: Path) -> None:
    spec = project_dir / "dataset_specs" / "ai4i2020.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "\n  bad: [unclosed\n", encoding="utf-8")
    issue = _error(project_dir).issues[0]
    assert issue.file == "dataset_specs/ai4i2020.yaml"
    assert issue.line is not None and "not valid YAML" in issue.message


def test_all_problems_are_reported_together(project_dir: Path) -> None:
    _edit(project_dir / "dataset_specs" / "cnc_line.yaml", "owner:", "ownr:")
    _edit(project_dir / "quality_rules" / "ai4i2020.yaml", "kind: regex", "kind: regexp")
    err = _error(project_dir)
    files = {i.file for i in err.issues}
    assert files == {"dataset_specs/cnc_line.yaml", "quality_rules/ai4i2020.yaml"}
    text = str(err)
    assert "dataset_specs/cnc_line.yaml:" in text and "did you mean `owner`?" in text


def test_reserved_name_and_file_name_mismatch(project_dir: Path) -> None:
    spec = project_dir / "dataset_specs" / "cnc_line.yaml"
    _edit(spec, "name: cnc_line", "name: versions")
    messages = [i.message for i in _error(project_dir).issues]
    assert any("reserved" in m for m in messages)


def test_metadata_edit_keeps_data_hash(project_dir: Path) -> None:
    before = load_project(project_dir).datasets["ai4i2020"]
    _edit(project_dir / "dataset_specs" / "ai4i2020.yaml", "owner: maintenance-analytics", "owner: someone-else")
    _edit(project_dir / "quality_rules" / "ai4i2020.yaml", "Quality variant is L, M or H.", "Variant letter.")
    after = load_project(project_dir).datasets["ai4i2020"]
    assert after.spec_data_hash == before.spec_data_hash
    assert after.rules_hash == before.rules_hash
    assert after.spec_metadata_hash != before.spec_metadata_hash


def test_rule_files_of_a_broken_spec_are_still_checked(project_dir: Path) -> None:
    _edit(project_dir / "dataset_specs" / "cnc_line.yaml", "primary_key:", "primary_kye:")
    _edit(project_dir / "quality_rules" / "cnc_line.yaml", "    pattern: ", "    patern: ")
    hints = {i.hint for i in _error(project_dir).issues}
    assert {"did you mean `primary_key`?", "did you mean `pattern`?"} <= hints


def _append_rule(project_dir: Path, text: str) -> Path:
    rules = project_dir / "quality_rules" / "cnc_line.yaml"
    rules.write_text(rules.read_text() + text)
    return rules


def test_missing_parameter_of_a_time_series_rule(project_dir: Path) -> None:
    rules = _append_rule(
        project_dir, "  - {id: x.spike, kind: spike, column: coolant_temp_c, timestamp: ts, suspect_threshold: 1}\n"
    )
    issue = _error(project_dir).issues[0]
    assert issue.message == "required key `fail_threshold` is missing"
    assert issue.line == _line_of(rules, "x.spike")


def test_threshold_outside_zero_one(project_dir: Path) -> None:
    _append_rule(project_dir, "  - {id: x.nn, kind: not_null, column: status, threshold: 1.5}\n")
    issue = _error(project_dir).issues[0]
    assert issue.key_path.endswith(".threshold") and "less than or equal to 1" in issue.message


def test_time_series_rule_on_a_missing_timestamp_column(project_dir: Path) -> None:
    rules = _append_rule(project_dir, "  - {id: x.gap, kind: gap, timestamp: tstamp, entity: [machine_id], period_s: 10}\n")
    issue = _error(project_dir).issues[0]
    assert issue.key_path.endswith(".timestamp") and issue.hint == "did you mean `ts`?"
    assert issue.line == _line_of(rules, "x.gap")


def test_reference_to_a_missing_master_file_and_unit_problems(project_dir: Path) -> None:
    _append_rule(
        project_dir,
        "  - {id: x.ref, kind: reference, column: machine_id, master: seeds/master/nope.csv, master_column: machine_id}\n"
        "  - {id: x.units, kind: unit_consistency, columns: [coolant_temp_c, status], unit: degC}\n"
        "  - {id: x.units2, kind: unit_consistency, columns: [spindle_speed_rpm], unit: degC}\n"
        "  - {id: x.spike2, kind: spike, column: status, timestamp: ts, suspect_threshold: 1, fail_threshold: 2}\n"
        "  - {id: x.clause, kind: not_null, column: status, clause: C-9}\n",
    )
    messages = " | ".join(i.message for i in _error(project_dir).issues)
    assert "master data `seeds/master/nope.csv` does not exist" in messages
    assert "column `status` declares no `unit:`" in messages
    assert "declared in `rpm`, which does not convert to `degC`" in messages
    assert "needs a numeric column; `status` is string" in messages
    assert "`C-9` is not a clause of the guide" in messages


def test_rules_that_would_fail_at_run_time_are_caught_at_load(project_dir: Path) -> None:
    rules = project_dir / "quality_rules" / "cnc_line.yaml"
    original = rules.read_text()
    _append_rule(project_dir, "  - {id: x.look, kind: regex, column: machine_id, pattern: '(?!X)CNC-[0-9]+'}\n")
    assert "not a valid regular expression in Rust regex syntax" in _error(project_dir).issues[0].message
    rules.write_text(original)
    _append_rule(
        project_dir,
        "  - {id: x.types, kind: expression, expr: 'machine_id > 5'}\n"
        "  - {id: x.set, kind: in_set, column: total_count, values: [1, 2, three]}\n"
        "  - {id: schema.mine, kind: not_null, column: status}\n"
        "  - {id: x.a-b, kind: not_null, column: status}\n"
        "  - {id: x.a_b, kind: not_null, column: status}\n",
    )
    messages = " | ".join(i.message for i in _error(project_dir).issues)
    assert "`machine_id > 5` does not fit the columns' types" in messages
    assert "`values` are not all valid int32 values" in messages
    assert "starting with `schema.` are reserved" in messages
    assert "are the same Dagster check name `x__a_b`" in messages
