"""The HTML report's gate table on wide data: passing gates collapse by kind, failing ones stay listed."""

from __future__ import annotations

from pipelines.report.html import COLLAPSE_AT, collapse_gates


def _gate(rule_id: str, kind: str, passed: bool) -> dict[str, object]:
    return {"rule_id": rule_id, "kind": kind, "gate_passed": passed}


def test_passing_gates_of_a_frequent_kind_collapse_and_failing_ones_stay() -> None:
    wide = [_gate(f"schema.dtype.c{i}", "dtype", True) for i in range(590)]
    failing = _gate("schema.dtype.c590", "dtype", False)
    few = [_gate("schema.primary_key", "unique", True), _gate("cnc.row_count", "row_count", True)]
    shown, held = collapse_gates([*wide, failing, *few])
    assert held == [("dtype", 590)]
    assert [g["rule_id"] for g in shown] == ["schema.dtype.c590", "schema.primary_key", "cnc.row_count"]
    narrow = [_gate(f"schema.dtype.c{i}", "dtype", True) for i in range(COLLAPSE_AT)]
    assert collapse_gates(narrow) == (narrow, [])
