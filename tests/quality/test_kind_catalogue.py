"""The catalogue of rule kinds: every registered kind, one passing and one failing case each, on tiny hand-made frames.

Row-level kinds run through pandera (`pandera_engine.run`); the test asserts the exact (`_row_id`, flag)
pairs it reports. Dataset-level kinds run through Great Expectations on DuckDB (`ge_engine.validate`,
and moshu's own measure for `unit_consistency`); the test asserts the exact measure A, B, X and
whether it passed. Importing GE is slow, so every GE case of one frame runs in one validation, once per
module.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import TypeAdapter

from pipelines.ingest.shape import SHORT_COLUMNS, SHORT_EXPECTED, SHORT_FIELDS, SHORT_LINE
from pipelines.quality import guide, pandera_engine
from pipelines.quality.enrich_kind import MATCHED_PREFIX, EnrichMatch
from pipelines.quality.field_count import FieldCount
from pipelines.quality.kinds import FAIL, POLARS_DTYPES, RAW_PREFIX, SUSPECT, Context, DType
from pipelines.quality.registry import EXECUTORS, executor_for
from pipelines.quality.results import RuleOutcome
from pipelines.spec.models import DatasetSpec
from pipelines.spec.rules import Rule, RuleBase
from tests.ingest.plant import CLASSIFICATION

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 6, 0, 0)


def _spec(name: str, columns: list[dict[str, Any]]) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": name,
            "title": "t",
            "description": "d",
            "owner": "o",
            "classification": CLASSIFICATION,
            "source": {"format": "csv", "path": "x.csv"},
            "columns": columns,
        }
    )


def _rule(spec: dict[str, Any]) -> RuleBase:
    body = {"id": f"r.{spec['kind']}", **spec}
    if spec["kind"] == "dtype":  # internal kind, generated per column: not in the `Rule` union
        return DType.model_validate(body)
    if spec["kind"] == "enrich_match":  # internal kind, generated per keyed `enrich` file
        return EnrichMatch.model_validate(body)
    if spec["kind"] == "field_count":  # internal kind, generated when a file has short rows
        return FieldCount.model_validate(body)
    rule: RuleBase = TypeAdapter(Rule).validate_python(body)
    return rule


def _t(seconds: float, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


# --------------------------------------------------------------------------------------------------
# Row-level kinds (pandera)
# --------------------------------------------------------------------------------------------------

ROW_SPEC = _spec(
    "tiny_rows",
    [
        {"name": "ts", "dtype": "datetime", "role": "timestamp"},
        {"name": "machine", "dtype": "string", "role": "entity"},
        {"name": "temp", "dtype": "float64", "role": "measurement"},
        {"name": "status", "dtype": "string"},
        {"name": "total", "dtype": "int64"},
        {"name": "good", "dtype": "int64"},
        {"name": "scrap", "dtype": "int64"},
        {"name": "event", "dtype": "datetime"},
        {"name": "available", "dtype": "datetime"},
    ],
)


def _frame(data: dict[str, list[Any]]) -> pl.DataFrame:
    """`data` in the spec's dtypes, the spec's other columns null, rows numbered in `_row_id`."""
    (n,) = {len(v) for v in data.values()}
    schema = {c.name: POLARS_DTYPES[c.dtype] for c in ROW_SPEC.columns}
    schema |= {k: pl.String() for k in data if k.startswith(RAW_PREFIX)}
    schema |= {k: pl.Boolean() for k in data if k.startswith(MATCHED_PREFIX)}
    schema |= {k: pl.Int64() for k in data if k in SHORT_COLUMNS}
    full = {c: data.get(c, [None] * n) for c in schema}
    return pl.DataFrame(full, schema=schema).with_row_index("_row_id")  # type: ignore[arg-type]


def _flagged(rule: RuleBase, data: dict[str, list[Any]], ctx: Context | None = None) -> list[tuple[int, int]]:
    """(`_row_id`, flag) of every row pandera reports for `rule`, sorted."""
    out = pandera_engine.run(_frame(data).lazy(), [rule], ctx or Context(ROW_SPEC))
    assert set(out["rule_id"].to_list()) <= {rule.id}
    return sorted(zip(out["_row_id"].to_list(), out["flag"].to_list(), strict=True))


def _series(machine: list[str], secs: list[float], **cols: list[Any]) -> dict[str, list[Any]]:
    return {"machine": machine, "ts": [_t(s) for s in secs], **cols}


A4, A10 = ["A"] * 4, ["A"] * 10
MASTER = {"kind": "reference", "column": "machine", "master": "master/machines.csv", "master_column": "machine_id"}
IN_RANGE = {"kind": "in_range", "column": "temp", "min": 0, "max": 100, "suspect_min": 10, "suspect_max": 90}
SPIKE = {"kind": "spike", "column": "temp", "timestamp": "ts", "entity": ["machine"], "suspect_threshold": 2, "fail_threshold": 5}
ROC = {"kind": "rate_of_change", "column": "temp", "timestamp": "ts", "entity": ["machine"], "threshold_per_s": 1}
FLAT = {"kind": "flat_line", "column": "temp", "timestamp": "ts", "entity": ["machine"], "suspect_s": 20, "fail_s": 40}
FLAT |= {"tolerance": 0.01}
ATTEN = {"kind": "attenuated_signal", "column": "temp", "timestamp": "ts", "entity": ["machine"], "window_s": 30}
ATTEN |= {"suspect_threshold": 1.0, "fail_threshold": 0.1}
OUTLIER = {"kind": "outlier_share", "column": "temp", "max_z": 3.5}
TEMPS_OK = [10.0, 11.0, 12.0, 11.0, 10.0, 12.0, 11.0, 13.0]
TEMPS_OUTLIER = [10.0, 11.0, 12.0, 11.0, 10.0, 12.0, 11.0, 100.0]  # median 11, MAD 1: z(100) = 89 / 1.4826
AB = ["A", "B", "A", "B", "A", "B", "A", "B"]
# Series interleaved over two machines whose levels differ by 100: only a per-machine median sees the outlier.
TEMPS_GROUPED_OK = [10.0, 110.0, 11.0, 111.0, 12.0, 112.0, 11.0, 111.0]
TEMPS_GROUPED_BAD = [10.0, 110.0, 11.0, 111.0, 12.0, 112.0, 11.0, 150.0]

# Clean data of each kind: pandera reports nothing.
ENRICH = {"kind": "enrich_match", "lookup": "machines", "path": "master/machines.csv", "keys": ["machine"]}
ROW_PASS = [
    pytest.param({"kind": "not_null", "column": "status"}, {"status": ["RUN", "IDLE", "RUN"]}, id="not_null"),
    pytest.param(ENRICH, {"machine": ["A", "B"], f"{MATCHED_PREFIX}machines": [True, True]}, id="enrich_match"),
    pytest.param(
        {"kind": "dtype", "column": "temp", "dtype": "float64"},
        {"temp": [1.5, None, None], f"{RAW_PREFIX}temp": ["1.5", None, None]},
        id="dtype",
    ),
    pytest.param({"kind": "field_count"}, {SHORT_FIELDS: [None, None], SHORT_EXPECTED: [None, None]}, id="field_count"),
    pytest.param(IN_RANGE, {"temp": [50.0, 10.0, 90.0, None]}, id="in_range"),
    pytest.param(
        {"kind": "in_set", "column": "status", "values": ["RUN", "IDLE"]}, {"status": ["RUN", "IDLE", None]}, id="in_set"
    ),
    pytest.param(
        {"kind": "unique", "columns": ["machine", "ts"]}, {"machine": ["A", "A", "B"], "ts": [_t(0), _t(10), _t(0)]}, id="unique"
    ),
    pytest.param({"kind": "duplicate_records"}, {"machine": ["A", "A", "A"], "temp": [1.0, 2.0, 3.0]}, id="duplicate_records"),
    pytest.param(
        {"kind": "regex", "column": "machine", "pattern": "CNC-[0-9]{2}"}, {"machine": ["CNC-01", "CNC-22", None]}, id="regex"
    ),
    pytest.param(
        {"kind": "expression", "expr": "total = good + scrap"},
        {"total": [3, 2, None], "good": [2, 2, 1], "scrap": [1, 0, 1]},
        id="expression",
    ),
    pytest.param(
        {"kind": "record_completeness", "columns": ["machine", "temp"]},
        {"machine": ["A", "B"], "temp": [1.0, 2.0], "status": [None, None]},
        id="record_completeness",
    ),
    pytest.param(OUTLIER, {"temp": TEMPS_OK}, id="outlier_share"),
    pytest.param(OUTLIER | {"group_by": ["machine"]}, {"machine": AB, "temp": TEMPS_GROUPED_OK}, id="outlier_share-group_by"),
    pytest.param(MASTER, {"machine": ["CNC-01", "CNC-02", None]}, id="reference"),
    pytest.param(
        {"kind": "latency", "event": "event", "available": "available", "max_seconds": 60},
        {"event": [_t(0), _t(0), _t(0)], "available": [_t(0), _t(60), None]},
        id="latency",
    ),
    pytest.param(
        {"kind": "increasing", "timestamp": "ts", "entity": ["machine"]},
        _series(["A", "B", "A", "B"], [0, 0, 10, 5]),
        id="increasing",
    ),
    pytest.param(
        {"kind": "gap", "timestamp": "ts", "entity": ["machine"], "period_s": 10},
        _series(["A", "B", "A", "B", "A"], [0, 100, 10, 115, 25]),  # intervals 10, 15 (= 1.5 x period), 15
        id="gap",
    ),
    pytest.param(SPIKE, _series(["A"] * 5, [0, 10, 20, 30, 40], temp=[10.0, 11.0, 12.0, 11.0, 10.0]), id="spike"),
    pytest.param(ROC, _series(A4, [0, 10, 20, 30], temp=[0.0, 10.0, 0.0, 5.0]), id="rate_of_change"),
    pytest.param(FLAT, _series(A10, [10 * i for i in range(10)], temp=[float(i) for i in range(10)]), id="flat_line"),
    pytest.param(
        ATTEN,
        _series(["A"] * 6, [10 * i for i in range(6)], temp=[0.0, 5.0, 0.0, 5.0, 0.0, 5.0]),
        id="attenuated_signal",
    ),
]

# Bad data of each kind: exactly these (`_row_id`, flag) pairs.
ROW_FAIL = [
    pytest.param(ENRICH, {"machine": ["A", "Z"], f"{MATCHED_PREFIX}machines": [True, False]}, [(1, FAIL)], id="enrich_match"),
    pytest.param(
        {"kind": "not_null", "column": "status"}, {"status": ["RUN", None, None]}, [(1, FAIL), (2, FAIL)], id="not_null"
    ),
    pytest.param(
        {"kind": "dtype", "column": "temp", "dtype": "float64"},
        {"temp": [1.5, None, None], f"{RAW_PREFIX}temp": ["1.5", "n/a", None]},
        [(1, FAIL)],
        id="dtype",
    ),
    pytest.param(
        {"kind": "field_count"},
        {SHORT_FIELDS: [None, 3, None], SHORT_EXPECTED: [None, 5, None], SHORT_LINE: [None, 17, None]},
        [(1, FAIL)],
        id="field_count",
    ),
    pytest.param(
        IN_RANGE,
        {"temp": [50.0, -1.0, 95.0, 100.5, 5.0, None, 100.0]},
        [(1, FAIL), (2, SUSPECT), (3, FAIL), (4, SUSPECT), (6, SUSPECT)],
        id="in_range",
    ),
    pytest.param(
        {"kind": "in_range", "column": "temp", "min": 0, "max": 1, "strict_min": True, "strict_max": True},
        {"temp": [0.0, 0.5, 1.0, None]},
        [(0, FAIL), (2, FAIL)],
        id="in_range-strict",
    ),
    pytest.param(
        {"kind": "in_set", "column": "status", "values": ["RUN", "IDLE"]},
        {"status": ["RUN", "STOP", None, "idle"]},
        [(1, FAIL), (3, FAIL)],
        id="in_set",
    ),
    pytest.param(
        {"kind": "unique", "columns": ["machine", "ts"]},
        {"machine": ["A", "A", "B", "A", "A"], "ts": [_t(0), _t(10), _t(0), _t(0), None]},
        [(0, FAIL), (3, FAIL)],
        id="unique",
    ),
    pytest.param(
        {"kind": "duplicate_records"},
        {"machine": ["A", "A", "A", "B", "A"], "temp": [1.0, 2.0, 1.0, 1.0, 1.0]},
        [(2, FAIL), (4, FAIL)],
        id="duplicate_records",
    ),
    pytest.param(
        {"kind": "regex", "column": "machine", "pattern": "CNC-[0-9]{2}"},
        {"machine": ["CNC-01", "CNC-1", "xCNC-02", None, "CNC-021"]},
        [(1, FAIL), (2, FAIL), (4, FAIL)],
        id="regex",
    ),
    pytest.param(
        {"kind": "expression", "expr": "total = good + scrap"},
        {"total": [3, 5, None], "good": [2, 2, 1], "scrap": [1, 1, 1]},
        [(1, FAIL)],
        id="expression",
    ),
    pytest.param(
        {"kind": "record_completeness", "columns": ["machine", "temp"]},
        {"machine": ["A", None, "A", None], "temp": [1.0, 2.0, None, None]},
        [(1, FAIL), (2, FAIL), (3, FAIL)],
        id="record_completeness",
    ),
    pytest.param(OUTLIER, {"temp": TEMPS_OUTLIER}, [(7, SUSPECT)], id="outlier_share"),
    pytest.param(
        OUTLIER | {"group_by": ["machine"]},
        {"machine": AB, "temp": TEMPS_GROUPED_BAD},
        [(7, SUSPECT)],
        id="outlier_share-group_by",
    ),
    pytest.param(MASTER, {"machine": ["CNC-01", "CNC-03", None, "cnc-02"]}, [(1, FAIL), (3, FAIL)], id="reference"),
    pytest.param(
        {"kind": "latency", "event": "event", "available": "available", "max_seconds": 60},
        {"event": [_t(0), _t(0), _t(0), _t(0)], "available": [_t(30), _t(61), None, _t(60.5)]},
        [(1, FAIL), (3, FAIL)],
        id="latency",
    ),
    pytest.param(
        {"kind": "increasing", "timestamp": "ts", "entity": ["machine"]},
        _series(["A", "B", "A", "A", "B"], [0, 0, 10, 5, 0]),  # A goes back (5 after 10), B repeats 0
        [(3, FAIL), (4, FAIL)],
        id="increasing",
    ),
    pytest.param(
        {"kind": "gap", "timestamp": "ts", "entity": ["machine"], "period_s": 10},
        _series(["A", "B", "A", "B", "A", "A"], [0, 0, 10, 10, 30, 70]),  # A: 10, 20 (suspect), 40 (fail)
        [(4, SUSPECT), (5, FAIL)],
        id="gap",
    ),
    pytest.param(
        SPIKE,
        _series(["A"] * 8, [10 * i for i in range(8)], temp=[10.0, 10.0, 13.0, 10.0, 10.0, 20.0, 10.0, 10.0]),
        [(2, SUSPECT), (4, SUSPECT), (5, FAIL), (6, SUSPECT)],  # heights 1.5, 3, 1.5, 5, 10, 5: fail above 5
        id="spike",
    ),
    pytest.param(
        ROC,
        _series(["A", "B", "A", "B", "A"], [0, 0, 10, 10, 20], temp=[0.0, 0.0, 5.0, 20.0, 16.0]),  # rates .5, 2, 1.1
        [(3, SUSPECT), (4, SUSPECT)],
        id="rate_of_change",
    ),
    pytest.param(
        FLAT,
        _series(A10, [10 * i for i in range(10)], temp=[1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 5.0, 5.0, 6.0, 7.0]),
        [(5, SUSPECT), (6, SUSPECT), (7, FAIL)],  # suspect: it and 2 before flat; fail: it and 4 before
        id="flat_line",
    ),
    pytest.param(
        ATTEN,
        _series(["A"] * 8, [10 * i for i in range(8)], temp=[0.0, 5.0, 0.0, 5.0, 5.0, 5.0, 5.2, 5.0]),
        # windows (t - 30, t], at least 3 values: rows 0-1 are not judged; rows 5 (5,5,5) and 6-7 (5,5.2,5: std 0.094) fail
        [(5, FAIL), (6, FAIL), (7, FAIL)],
        id="attenuated_signal",
    ),
]


@pytest.fixture
def master_ctx(tmp_path: Path) -> Context:
    (tmp_path / "master").mkdir()
    (tmp_path / "master" / "machines.csv").write_text("machine_id,name\nCNC-01,mill\nCNC-02,lathe\n")
    return Context(ROW_SPEC, root=tmp_path)


@pytest.mark.parametrize(("spec", "data"), ROW_PASS)
def test_row_kind_passes(spec: dict[str, Any], data: dict[str, list[Any]], master_ctx: Context) -> None:
    rule = _rule(spec)
    assert executor_for(rule).engine == "pandera"
    assert _flagged(rule, data, master_ctx) == []


@pytest.mark.parametrize(("spec", "data", "expected"), ROW_FAIL)
def test_row_kind_fails_exact_rows(
    spec: dict[str, Any], data: dict[str, list[Any]], expected: list[tuple[int, int]], master_ctx: Context
) -> None:
    rule = _rule(spec)
    assert executor_for(rule).engine == "pandera"
    assert _flagged(rule, data, master_ctx) == expected


def test_in_range_suspect_span_gives_a1_and_a2_measures() -> None:
    rule = _rule(IN_RANGE)
    ctx = Context(ROW_SPEC)
    data = {"temp": [50.0, -1.0, 95.0, 100.5, 5.0, None, 20.0]}
    flagged = _flagged(rule, data, ctx)
    assert flagged == [(1, FAIL), (2, SUSPECT), (3, FAIL), (4, SUSPECT)]
    ex = executor_for(rule)
    assert ex.can_suspect(rule, ctx)
    evaluated = _frame(data).select(ex.evaluated(rule, ctx).sum()).item()
    failed = sum(f == FAIL for _, f in flagged)
    suspect = sum(f == SUSPECT for _, f in flagged)
    assert (evaluated, failed, suspect) == (6, 2, 2)
    a1, a2 = ex.measures(rule, ctx, evaluated, failed, suspect)
    assert (a1.clause, a1.a, a1.b, a1.threshold, a1.passed) == ("A-1", 4, 6, 0.999, False)
    assert a1.x == pytest.approx(4 / 6)
    assert (a2.clause, a2.a, a2.b, a2.threshold, a2.passed) == ("A-2", 2, 6, 0.98, False)
    assert a2.x == pytest.approx(2 / 6)


def test_in_range_suspect_span_alone_measures_a2() -> None:
    rule = _rule({"kind": "in_range", "column": "temp", "suspect_min": 10, "threshold": 0.5})
    ctx = Context(ROW_SPEC)
    data = {"temp": [50.0, 5.0, -1e9, 10.0]}
    assert _flagged(rule, data, ctx) == [(1, SUSPECT), (2, SUSPECT)]
    (m,) = executor_for(rule).measures(rule, ctx, 4, 0, 2)
    assert (m.clause, m.a, m.b, m.threshold, m.passed) == ("A-2", 2, 4, 0.5, True)


SERIES_MEASURES = [
    # (rule, data, expected (A, B) of the guide clause); rows as in the failing cases above
    pytest.param(
        {"kind": "spike", **{k: v for k, v in SPIKE.items() if k != "kind"}},
        _series(["A"] * 8, [10 * i for i in range(8)], temp=[10.0, 10.0, 13.0, 10.0, 10.0, 20.0, 10.0, 10.0]),
        (5, 6),  # S-2: first and last sample are not evaluated; one of the six fails
        id="spike",
    ),
    pytest.param(
        {"kind": "increasing", "timestamp": "ts", "entity": ["machine"]},
        _series(["A", "B", "A", "A", "B"], [0, 0, 10, 5, 0]),
        (1, 3),  # T-3: rows with a predecessor in their entity: 3, of which 1 is later than it
        id="increasing",
    ),
    pytest.param(
        {"kind": "gap", "timestamp": "ts", "entity": ["machine"], "period_s": 10, "suspect_factor": 3.0, "fail_factor": 3.5},
        _series(["A", "B", "A", "B", "A", "A"], [0, 0, 10, 10, 30, 70]),
        (3, 4),  # S-1: intervals 10, 20, 40 (A) and 10 (B); 40 > 10 x 3.5 fails
        id="gap",
    ),
]


@pytest.mark.parametrize(("spec", "data", "expected"), SERIES_MEASURES)
def test_series_measure_counts_what_the_guide_says(
    spec: dict[str, Any], data: dict[str, list[Any]], expected: tuple[int, int]
) -> None:
    rule = _rule(spec)
    ctx = Context(ROW_SPEC)
    ex = executor_for(rule)
    flagged = _flagged(rule, data, ctx)
    # as the validate stage counts B: anchored to a column, so that a literal predicate counts rows
    evaluated = _frame(data).select((pl.col("_row_id").is_not_null() & ex.evaluated(rule, ctx)).sum()).item()
    failed = sum(f == FAIL for _, f in flagged)
    suspect = sum(f == SUSPECT for _, f in flagged)
    (m,) = ex.measures(rule, ctx, evaluated, failed, suspect)
    assert (m.a, m.b) == expected


# --------------------------------------------------------------------------------------------------
# Dataset-level kinds (Great Expectations on DuckDB; unit_consistency measured by moshu)
# --------------------------------------------------------------------------------------------------

DS_SPEC = _spec(
    "tiny_dataset",
    [
        {"name": "ts", "dtype": "datetime", "role": "timestamp"},
        {"name": "machine", "dtype": "string", "role": "entity"},
        {"name": "label", "dtype": "string", "role": "label"},
        {"name": "oh_a", "dtype": "int8", "role": "label"},
        {"name": "oh_b", "dtype": "int8", "role": "label"},
        {"name": "oh_c", "dtype": "int8", "role": "label"},
        {"name": "x1", "dtype": "float64", "role": "measurement"},
        {"name": "x2", "dtype": "float64", "role": "measurement"},
        {"name": "x3", "dtype": "float64", "role": "measurement"},
        {"name": "grp", "dtype": "string"},
        {"name": "temp_k", "dtype": "float64", "unit": "K"},
        {"name": "temp_c", "dtype": "float64", "unit": "degC"},
        {"name": "speed", "dtype": "float64", "unit": "rpm"},
    ],
)
# Freshness is measured against the wall clock: the fresh frame is a minute old, the stale one years.
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(seconds=60)


def _one_hot(labels: list[str | None]) -> dict[str, list[int]]:
    return {f"oh_{c}": [int(v == c) for v in labels] for c in "abc"}


LABELS_OK: list[str | None] = ["a", "b", "c", "a", "b", "c"]
LABELS_BAD: list[str | None] = [*["a"] * 21, "b", None]  # sizes 21 and 1, one unlabelled row, no `c`
FRAMES: dict[str, dict[str, list[Any]]] = {
    "ts_ok": {"machine": ["A", "A", "A", "B", "B", "B"], "ts": [_t(s, NOW) for s in (-20, -10, 0, -20, -10, 0)]},
    # A covers 0..40 s (5 samples), B only 0 and 10 (10 repeated): 7 of the 10 samples expected
    "ts_bad": {"machine": [*["A"] * 5, "B", "B", "B"], "ts": [_t(s, T0) for s in (0, 10, 20, 30, 40, 0, 10, 10)]},
    "labels_ok": {"label": LABELS_OK, **_one_hot(LABELS_OK)},
    "labels_bad": {"label": LABELS_BAD, **_one_hot(LABELS_BAD)},
    "features_ok": {
        "x1": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "x2": [6.0, 5.0, 4.0, 3.0, 2.0, 1.0],
        "x3": [1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
        "grp": ["g1", "g1", "g1", "g2", "g2", "g2"],
    },
    # whole frame: x2 copies x1, x3 is constant; per group: in g1 x2 copies x1 and x3 is constant (a null
    # aside), g2 is fine
    "features_bad": {
        "x1": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "x2": [1.0, 2.0, 3.0, 9.0, 9.0, 8.0],
        "x3": [5.0, None, 5.0, 1.0, 2.0, 3.0],
        "grp": ["g1", "g1", "g1", "g2", "g2", "g2"],
    },
    "features_bad_whole": {
        "x1": [1.0, 2.0, 3.0, 4.0],
        "x2": [1.0, 2.0, 3.0, 4.0],
        "x3": [7.0, 7.0, 7.0, 7.0],
    },
}

H_BAD = -(21 / 22 * math.log(21 / 22) + 1 / 22 * math.log(1 / 22))  # entropy of sizes 21 and 1 (nulls aside)

# (rule, frame, A, B, passed); X = A / B. Rule ids are made unique per frame by the fixture.
DS_CASES = [
    pytest.param({"kind": "row_count", "min": 3, "max": 10}, "ts_ok", 1, 1, True, id="row_count-pass"),
    pytest.param({"kind": "row_count", "min": 10}, "ts_bad", 0, 1, False, id="row_count-fail"),
    pytest.param(
        {"kind": "time_coverage", "timestamp": "ts", "entity": ["machine"], "period_s": 10},
        "ts_ok",
        6,
        6,
        True,
        id="time_coverage-pass",
    ),
    pytest.param(
        {"kind": "time_coverage", "timestamp": "ts", "entity": ["machine"], "period_s": 10},
        "ts_bad",
        7,
        10,
        False,
        id="time_coverage-fail",
    ),
    pytest.param({"kind": "freshness", "timestamp": "ts", "max_age_s": 3600}, "ts_ok", 1, 1, True, id="freshness-pass"),
    pytest.param({"kind": "freshness", "timestamp": "ts", "max_age_s": 3600}, "ts_bad", 0, 1, False, id="freshness-fail"),
    pytest.param({"kind": "class_balance", "column": "label"}, "labels_ok", 2, 2, True, id="class_balance-min_max-pass"),
    pytest.param({"kind": "class_balance", "column": "label"}, "labels_bad", 1, 21, False, id="class_balance-min_max-fail"),
    pytest.param(
        {"kind": "class_balance", "one_hot": ["oh_a", "oh_b", "oh_c"], "form": "entropy"},
        "labels_ok",
        math.log(3),
        math.log(3),
        True,
        id="class_balance-entropy-pass",
    ),
    pytest.param(
        {"kind": "class_balance", "one_hot": ["oh_a", "oh_b", "oh_c"], "form": "entropy"},
        "labels_bad",
        H_BAD,
        math.log(2),
        False,
        id="class_balance-entropy-fail",
    ),
    pytest.param(
        {"kind": "label_coverage", "column": "label", "taxonomy": ["a", "b", "c"]},
        "labels_ok",
        3,
        3,
        True,
        id="label_coverage-pass",
    ),
    pytest.param(
        {"kind": "label_coverage", "column": "label", "taxonomy": ["a", "b", "c"]},
        "labels_bad",
        2,
        3,
        False,
        id="label_coverage-fail",
    ),
    pytest.param(
        {"kind": "label_coverage", "one_hot": ["oh_a", "oh_b", "oh_c"]}, "labels_ok", 3, 3, True, id="label_coverage-one_hot-pass"
    ),
    pytest.param(
        {"kind": "label_coverage", "one_hot": ["oh_a", "oh_b", "oh_c"]},
        "labels_bad",
        2,
        3,
        False,
        id="label_coverage-one_hot-fail",
    ),
    pytest.param(
        {"kind": "class_min_count", "column": "label", "min_count": 2}, "labels_ok", 3, 3, True, id="class_min_count-pass"
    ),
    pytest.param(
        {"kind": "class_min_count", "one_hot": ["oh_a", "oh_b", "oh_c"], "min_count": 2},
        "labels_bad",
        1,
        2,
        False,
        id="class_min_count-fail",
    ),
    pytest.param(
        {"kind": "informative_features", "columns": ["x1", "x2", "x3"]}, "features_ok", 3, 3, True, id="informative_features-pass"
    ),
    pytest.param(
        {"kind": "informative_features", "columns": ["x1", "x2", "x3"]},
        "features_bad_whole",
        1,
        3,
        False,
        id="informative_features-fail",
    ),
    pytest.param(
        {"kind": "informative_features", "columns": ["x1", "x2", "x3"], "group_by": ["grp"]},
        "features_ok",
        6,
        6,
        True,
        id="informative_features-group_by-pass",
    ),
    pytest.param(
        {"kind": "informative_features", "columns": ["x1", "x2", "x3"], "group_by": ["grp"]},
        "features_bad",
        4,
        6,
        False,
        id="informative_features-group_by-fail",
    ),
    pytest.param(
        {"kind": "unit_consistency", "columns": ["temp_k", "temp_c"], "unit": "K"},
        "ts_ok",
        2,
        2,
        True,
        id="unit_consistency-pass",
    ),
    pytest.param(
        {"kind": "unit_consistency", "columns": ["temp_k", "speed", "temp_c"], "unit": "degC"},
        "ts_ok",
        2,
        3,
        False,
        id="unit_consistency-fail",
    ),
]


def _vals(p: Any) -> list[Any]:
    """The values of a `pytest.param`, untyped."""
    return list(p.values)


def _case_id(p: Any) -> str:
    return re.sub(r"[^a-z0-9_.-]", "-", p.id.lower())


@pytest.fixture(scope="module")
def ds_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RuleOutcome]:
    """Outcome of every dataset-level case, by case id: one GE validation per frame, with all its cases."""
    from pipelines.quality import ge_engine

    by_frame: dict[str, list[RuleBase]] = defaultdict(list)
    for p in DS_CASES:
        spec, frame = _vals(p)[:2]
        by_frame[frame].append(_rule(spec).model_copy(update={"id": _case_id(p)}))
    ctx = Context(DS_SPEC)
    out: dict[str, RuleOutcome] = {}
    for frame, rules in by_frame.items():
        work = tmp_path_factory.mktemp(frame)
        staged = work / "staged.parquet"
        data = FRAMES[frame]
        schema = {c: POLARS_DTYPES[DS_SPEC.column(c).dtype] for c in data}
        df = pl.DataFrame(data, schema=schema).with_row_index("_row_id")  # type: ignore[arg-type]
        assert df.schema["_row_id"] == pl.UInt32
        df.write_parquet(staged)
        _, result, outcomes = ge_engine.validate(rules, ctx, staged, work, {}, df.height)
        assert [o.rule_id for o in outcomes] == [r.id for r in rules]
        assert [r["success"] for r in result["results"]] == [o.passed for o in outcomes]
        assert not list(work.glob("*.duckdb")), "GE's scratch database is removed"
        out |= {o.rule_id: o for o in outcomes}
    return out


@pytest.mark.parametrize(("spec", "frame", "a", "b", "passed"), DS_CASES)
def test_dataset_kind_measure(
    spec: dict[str, Any], frame: str, a: float, b: float, passed: bool, ds_outcomes: dict[str, RuleOutcome], request: Any
) -> None:
    rule = _rule(spec)
    ex = executor_for(rule)
    assert ex.engine == ("moshu" if rule.kind in ("unit_consistency", "informative_features") else "great_expectations")
    o = ds_outcomes[_case_id(request.node.callspec)]
    assert not (o.observed or "").startswith("error"), o.observed
    (m,) = o.measures
    assert m.clause == ex.clause_for(rule, Context(DS_SPEC))
    assert m.threshold == guide.BY_ID[m.clause].threshold
    assert (m.a, m.b) == (pytest.approx(a), pytest.approx(b))
    assert m.x == pytest.approx(a / b)
    assert (m.passed, o.passed, o.failed) == (passed, passed, 0 if passed else 1)


def test_class_balance_forms_cite_their_clauses() -> None:
    ctx = Context(DS_SPEC)
    for form, clause in (("min_max", "B-1"), ("entropy", "B-2")):
        rule = _rule({"kind": "class_balance", "column": "label", "form": form})
        assert executor_for(rule).clause_for(rule, ctx) == clause


# --------------------------------------------------------------------------------------------------
# The catalogue is complete and agrees with the guide
# --------------------------------------------------------------------------------------------------


def _builtin_kinds() -> set[str]:
    """Kinds registered by moshu itself (a project's custom kinds, registered at load time, test themselves)."""
    return {k for k, e in EXECUTORS.items() if type(e).__module__.startswith("pipelines.quality.")}


def test_every_kind_has_a_passing_and_a_failing_case() -> None:
    row_pass = [_vals(p)[0] for p in ROW_PASS]
    row_fail = [_vals(p)[0] for p in ROW_FAIL]
    ds = [(_vals(p)[0], _vals(p)[4]) for p in DS_CASES]
    passing = {r["kind"] for r in row_pass} | {r["kind"] for r, ok in ds if ok}
    failing = {r["kind"] for r in row_fail} | {r["kind"] for r, ok in ds if not ok}
    assert _builtin_kinds() - passing == set(), "kinds without a passing case"
    assert _builtin_kinds() - failing == set(), "kinds without a failing case"
    assert len(_builtin_kinds()) >= 26
    # the variants of a kind that take other code paths
    forms = {(r.get("form", "min_max"), ok) for r, ok in ds if r["kind"] == "class_balance"}
    assert forms == {("min_max", True), ("min_max", False), ("entropy", True), ("entropy", False)}
    grouped = {(bool(r.get("group_by")), ok) for r, ok in ds if r["kind"] == "informative_features"}
    assert grouped == {(False, True), (False, False), (True, True), (True, False)}
    # row-level kinds are exercised through pandera, dataset-level ones through GE (or moshu)
    assert all(EXECUTORS[r["kind"]].engine == "pandera" for r in (*row_pass, *row_fail))
    assert all(EXECUTORS[r["kind"]].engine != "pandera" for r, _ in ds)


def test_default_clauses_are_in_the_guide() -> None:
    missing = {k: e.clause for k, e in EXECUTORS.items() if e.clause not in guide.BY_ID}
    assert missing == {}
    text = (REPO / "docs" / "guide.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\S+) ", text, flags=re.MULTILINE))
    assert [c.id for c in guide.CLAUSES if c.id not in headings] == []


def test_freshness_is_measured_again_on_an_unchanged_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version keeps its publish-time result; `recheck_time_rules` says whether its data is still fresh now."""
    from datetime import datetime, timedelta

    from pipelines.quality import dataset_kinds
    from pipelines.spec.loader import load_project
    from pipelines.stages.validate import recheck_time_rules
    from tests.conftest import copy_project

    root = copy_project(tmp_path / "p")
    rules = root / "quality_rules" / "cnc_line.yaml"
    rules.write_text(
        rules.read_text() + "  - {id: cnc.fresh, kind: freshness, timestamp: ts, max_age_s: 86400, severity: warn}\n"
    )
    loaded = load_project(root).datasets["cnc_line"]
    data = tmp_path / "data.parquet"
    pl.DataFrame({"ts": [datetime(2026, 3, 2, 7, 0)], "_row_id": pl.Series([0], dtype=pl.UInt32)}).write_parquet(data)
    monkeypatch.setattr(dataset_kinds, "utc_now", lambda: datetime(2026, 3, 2, 12, 0))
    (fresh,) = recheck_time_rules(loaded, data, 1)
    assert fresh.rule_id == "cnc.fresh" and fresh.passed
    monkeypatch.setattr(dataset_kinds, "utc_now", lambda: datetime(2026, 3, 2, 12, 0) + timedelta(days=3))
    (stale,) = recheck_time_rules(loaded, data, 1)
    assert not stale.passed and "newest 2026-03-02 07:00:00" in (stale.observed or "")
