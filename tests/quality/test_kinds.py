"""Every rule kind, pass and fail, on tiny frames, through the engine that runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import TypeAdapter

from pipelines.quality import ge_engine, pandera_engine
from pipelines.quality.kinds import POLARS_DTYPES, Context, DType
from pipelines.quality.registry import EXECUTORS, executor_for
from pipelines.quality.results import RuleOutcome
from pipelines.spec.models import DatasetSpec
from pipelines.spec.rules import RULE_KINDS, Rule, RuleBase
from tests.ingest.plant import CLASSIFICATION

SPEC = DatasetSpec.model_validate(
    {
        "name": "tiny",
        "title": "t",
        "description": "d",
        "owner": "o",
        "classification": CLASSIFICATION,
        "source": {"format": "csv", "path": "x.csv"},
        "columns": [
            {"name": "machine", "dtype": "string"},
            {"name": "ts", "dtype": "int64"},
            {"name": "temp", "dtype": "float64"},
            {"name": "status", "dtype": "string"},
            {"name": "total", "dtype": "int64"},
            {"name": "good", "dtype": "int64"},
            {"name": "scrap", "dtype": "int64"},
        ],
    }
)
CTX = Context(SPEC)
GOOD = {
    "machine": ["CNC-01", "CNC-01", "CNC-02"],
    "ts": [1, 2, 1],
    "temp": [20.0, 21.5, None],
    "status": ["RUN", "IDLE", "RUN"],
    "total": [3, 2, 0],
    "good": [3, 1, 0],
    "scrap": [0, 1, 0],
}


def _rule(**kw: Any) -> RuleBase:
    rule: RuleBase = TypeAdapter(Rule).validate_python({"id": "r", **kw})
    return rule


def _failing_rows(rule: RuleBase, data: dict[str, list[Any]]) -> list[int]:
    dtypes = {c.name: POLARS_DTYPES[c.dtype] for c in SPEC.columns}
    lf = pl.DataFrame(data).cast(dtypes).with_row_index("_row_id").lazy()  # type: ignore[arg-type]
    fails = pandera_engine.run(lf, [rule], CTX)
    assert set(fails["rule_id"].to_list()) <= {rule.id}
    return sorted(fails["_row_id"].to_list())


def _with(**changes: list[Any]) -> dict[str, list[Any]]:
    return {**GOOD, **changes}


CASES = [
    # (rule, bad data, failing rows)
    ({"kind": "not_null", "column": "status"}, _with(status=["RUN", None, "RUN"]), [1]),
    ({"kind": "in_range", "column": "temp", "min": 0, "max": 25}, _with(temp=[20.0, 30.0, -1.0]), [1, 2]),
    ({"kind": "in_range", "column": "temp", "min": 19.9, "strict_min": True}, _with(temp=[19.9, 20.0, None]), [0]),
    ({"kind": "in_set", "column": "status", "values": ["RUN", "IDLE"]}, _with(status=["RUN", "RUNN", "OFF"]), [1, 2]),
    ({"kind": "in_set", "column": "ts", "values": [1, 2]}, _with(ts=[1, 3, 2]), [1]),
    ({"kind": "unique", "columns": ["machine", "ts"]}, _with(ts=[1, 1, 1]), [0, 1]),
    ({"kind": "unique", "columns": ["machine"]}, GOOD, [0, 1]),
    ({"kind": "regex", "column": "machine", "pattern": "CNC-[0-9]{2}"}, _with(machine=["CNC-01", "CNC_01", "xCNC-02"]), [1, 2]),
    ({"kind": "expression", "expr": "total = good + scrap"}, _with(total=[3, 5, 0]), [1]),
    ({"kind": "expression", "expr": "temp < 21 OR status = 'IDLE'"}, _with(temp=[20.0, 22.0, 30.0]), [2]),
]


@pytest.mark.parametrize(("spec", "bad", "expected"), CASES, ids=[f"{c[0]['kind']}-{i}" for i, c in enumerate(CASES)])
def test_row_kind_passes_clean_data_and_catches_bad_rows(
    spec: dict[str, Any], bad: dict[str, list[Any]], expected: list[int]
) -> None:
    rule = _rule(**spec)
    clean = GOOD if spec.get("columns") != ["machine"] else _with(machine=["A", "B", "C"])
    assert _failing_rows(rule, clean) == []
    assert _failing_rows(rule, bad) == expected


def test_nulls_are_left_to_not_null() -> None:
    data = _with(temp=[None, None, None], status=[None, None, None])
    for spec in (
        {"kind": "in_range", "column": "temp", "min": 0, "max": 1},
        {"kind": "in_set", "column": "status", "values": ["RUN"]},
        {"kind": "regex", "column": "status", "pattern": "R.*"},
        {"kind": "expression", "expr": "temp > 100"},
    ):
        assert _failing_rows(_rule(**spec), data) == []


def test_unique_ignores_keys_with_a_null_part() -> None:
    assert _failing_rows(_rule(kind="unique", columns=["machine", "ts"]), _with(ts=[None, None, 1])) == []


def test_dtype_rule_fails_only_values_that_did_not_convert() -> None:
    rule = DType(kind="dtype", id="schema.dtype.temp", column="temp", dtype="float64")
    data = {**GOOD, "temp": [20.0, None, None], "__raw__temp": ["20.0", "n/a", None]}
    assert _failing_rows(rule, data) == [1]
    lf = pl.DataFrame(data)
    reason = lf.slice(1, 1).select(executor_for(rule).reason(rule, CTX)).item()
    assert reason == "`temp` = 'n/a' is not a valid float64"


def test_every_declared_kind_has_an_executor_and_an_expectation() -> None:
    kinds = {m.model_fields["kind"].annotation.__args__[0] for m in RULE_KINDS}  # type: ignore[union-attr]
    assert kinds | {"dtype", "enrich_match", "field_count"} == set(EXECUTORS)  # internal kinds: generated, never declared


def _row_count_outcome(tmp_path: Path, rows: int, minimum: int) -> RuleOutcome:
    staged = tmp_path / "staged.parquet"
    pl.DataFrame({"ts": list(range(rows))}).write_parquet(staged)
    rule = _rule(kind="row_count", min=minimum)
    assert executor_for(rule).engine == "great_expectations"
    _, result, outcomes = ge_engine.validate([rule], CTX, staged, tmp_path, {}, rows)
    assert result["results"][0]["expectation_config"]["type"] == "expect_table_row_count_to_be_between"
    (o,) = outcomes
    assert o.observed == str(rows)
    assert not list(tmp_path.glob("*.duckdb")), "GE's scratch database is removed"
    return o


def test_row_count_runs_in_great_expectations_pass(tmp_path: Path) -> None:
    assert _row_count_outcome(tmp_path, 5, 3).passed


def test_row_count_runs_in_great_expectations_fail(tmp_path: Path) -> None:
    o = _row_count_outcome(tmp_path, 2, 3)
    assert not o.passed and o.failed == 1


def test_suite_holds_every_rule_with_its_id(tmp_path: Path) -> None:
    rules = [_rule(**c[0]) for c in CASES]
    rules = [r.model_copy(update={"id": f"r{i}"}) for i, r in enumerate(rules)]
    suite = ge_engine.build_suite(rules, CTX).to_json_dict()
    assert [e["meta"]["rule_id"] for e in suite["expectations"]] == [r.id for r in rules]
    warn = ge_engine.build_suite([rules[0].model_copy(update={"severity": "warn"})], CTX).to_json_dict()
    assert warn["expectations"][0]["severity"] == "warning"
    types = {e["type"] for e in suite["expectations"]}
    assert {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_match_regex",
        "unexpected_rows_expectation",
    } <= types


def test_failing_rows_are_exact_on_a_large_scanned_file(tmp_path: Path) -> None:
    """Regression: polars 2.1 misorders a lazy `select` of when/then on a scanned file; row ids must still be exact."""
    n = 300_000
    bad = [7, 123_457, 299_998]
    machines = pl.Series(["CNC-01"] * n)
    machines = machines.scatter(bad, "CNC_01")
    path = tmp_path / "big.parquet"
    pl.DataFrame({"machine": machines}).with_row_index("_row_id").write_parquet(path, row_group_size=50_000)
    spec = SPEC.model_copy(update={"columns": (SPEC.column("machine"),)})
    rule = _rule(kind="regex", column="machine", pattern="CNC-[0-9]{2}")
    fails = pandera_engine.run(pl.scan_parquet(path), [rule], Context(spec))
    assert sorted(fails["_row_id"].to_list()) == bad
