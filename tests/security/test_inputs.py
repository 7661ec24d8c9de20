"""Inputs that used to be accepted (issue 16, item 6): each is now a `SpecError` at load time that names the
file, the line where there is one, and what was expected; or, for data, a flag and a rejection."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.errors import MoshuError, SpecError
from pipelines.quality.kinds import SUITE_SET_VALUES, Context, InSetExec
from pipelines.quality.text_rules import nul_rules
from pipelines.spec.loader import load_project
from pipelines.stages import ingest, publish, validate
from pipelines.warehouse import Warehouse
from tests.security.fuzz.corpus import RULES, SPEC, seed_rows, to_csv
from tests.security.fuzz.test_fuzz import RULES_FILE, SPEC_FILE, mini_project


def _issues(root: Path) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_project(root)
    return [i.render() for i in raised.value.issues]


def _one(root: Path) -> str:
    issues = _issues(root)
    assert len(issues) == 1, issues
    return issues[0]


def test_nan_bound_is_refused_at_its_line(tmp_path: Path) -> None:
    rules = RULES.replace("min: 250", "min: .nan")
    line = rules.splitlines().index("    min: .nan") + 1
    issue = _one(mini_project(tmp_path, rules=rules.encode()))
    assert issue.startswith(f"{RULES_FILE}:{line}:")
    assert "`min` must be a finite number, got nan" in issue and "NaN and infinity bound nothing" in issue


def test_duplicate_keys_are_refused_with_both_lines(tmp_path: Path) -> None:
    rules = RULES.replace("    max: 100\n", "    max: 100\n    max: 1000\n")
    first = rules.splitlines().index("    max: 100") + 1
    issue = _one(mini_project(tmp_path, rules=rules.encode()))
    assert issue.startswith(f"{RULES_FILE}:{first + 1}:5:")
    assert f"duplicate key `max` (first at line {first})" in issue


def test_a_dataset_derived_from_itself_is_refused(tmp_path: Path) -> None:
    spec = SPEC.replace("  default_sensitivity: public", "  default_sensitivity: public\n  derived_from: [fz]")
    issue = _one(mini_project(tmp_path, spec=spec.encode()))
    assert issue.startswith(f"{SPEC_FILE}: classification.derived_from[0]:")
    assert "`fz` names itself in `derived_from`" in issue


def test_a_unit_pint_cannot_read_is_refused(tmp_path: Path) -> None:
    spec = SPEC.replace("unit: N*m,", "unit: newton-bananas,")
    line = next(i for i, t in enumerate(spec.splitlines(), 1) if "newton-bananas" in t)
    issue = _one(mini_project(tmp_path, spec=spec.encode()))
    assert issue.startswith(f"{SPEC_FILE}:{line}:")
    assert "column `torque_nm`: `newton-bananas` is not a unit the units library (pint) knows" in issue


def test_the_seed_specs_units_all_read(tmp_path: Path) -> None:
    load_project(mini_project(tmp_path))  # K and N*m: no issue


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_a_deeply_nested_list_is_a_spec_error(tmp_path: Path, depth: int) -> None:
    spec = SPEC + "tags: " + "[" * depth + "]" * depth + "\n"
    issue = _one(mini_project(tmp_path, spec=spec.encode()))
    line = len(SPEC.splitlines()) + 1
    assert issue.startswith(f"{SPEC_FILE}:{line}:") and "nested deeper than 64 levels" in issue


def test_a_spec_that_is_not_utf8_is_a_spec_error(tmp_path: Path) -> None:
    spec = SPEC.replace("cdo: Test CDO", "cdo: Jürgen").encode("latin-1")
    line = next(i for i, t in enumerate(SPEC.splitlines(), 1) if "cdo:" in t)
    issue = _one(mini_project(tmp_path, spec=spec))
    assert issue.startswith(f"{SPEC_FILE}:{line}:") and "not UTF-8 text: byte 0xfc" in issue and "save the file as UTF-8" in issue


def test_a_large_in_set_is_one_lookup_and_is_not_copied_into_the_suite() -> None:
    from pipelines.spec.rules import InSet

    values = ("L", "M", "H", *(f"X{i:06d}" for i in range(300_000)))
    rule = InSet(kind="in_set", id="fz.type.allowed", column="type", values=values)

    class Ctx:
        def dtype(self, column: str) -> str:
            return "string"

        def is_label(self, column: str) -> bool:
            return False

    ex, ctx = InSetExec(), Ctx()
    frame = pl.DataFrame({"type": ["L", "Z", "X299999", None]}).select(
        flag=ex.flags(rule, ctx),  # type: ignore[arg-type]
        reason=ex.reason(rule, ctx),  # type: ignore[arg-type]
    )
    assert frame["flag"].to_list() == [1, 4, 1, 1]
    assert (
        frame["reason"][1]
        == "`type` = 'Z' is not one of {L, M, H, X000000, "
        + ", ".join(f"X{i:06d}" for i in range(1, 17))
        + ", ... (300,003 values)}"
    )
    exp = ex.expectation(rule, ctx)  # type: ignore[arg-type]
    assert len(values) > SUITE_SET_VALUES
    assert exp.value_set == {"$PARAMETER": "fz.type.allowed: 300,003 values, listed in its rule file"}
    small = InSet(kind="in_set", id="fz.type.small", column="type", values=("L", "M", "H"))
    assert ex.expectation(small, ctx).value_set == ["L", "M", "H"]  # type: ignore[arg-type]
    assert Context  # the executor's real context type, named for readers


@pytest.fixture(scope="module")
def nul_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    root = mini_project(tmp_path_factory.mktemp("nul") / "project")
    rows = seed_rows(4, 400)
    rows[1][2] = "M\x00"  # type
    rows[3][1] = "L4\x0047181"  # product_id
    (root / "seeds" / "fz" / "nul.csv").write_text(to_csv(rows), encoding="utf-8")
    loaded = load_project(root).datasets["fz"]
    wh = Warehouse(root / "warehouse")
    pub = publish(loaded, validate(loaded, ingest(loaded, root, wh)), wh)
    [data], [quarantine] = wh.data_files("fz", pub.version), wh.quarantine_files("fz", pub.version)
    return pl.read_parquet(data), pl.read_parquet(quarantine), pub.rows_in


def test_a_nul_byte_in_text_quarantines_its_row_with_a_stable_reason(nul_run: tuple[pl.DataFrame, pl.DataFrame, int]) -> None:
    published, quarantined, rows_in = nul_run
    assert rows_in == published.height + quarantined.height == 16
    assert not published.select(pl.any_horizontal(pl.col(pl.String).str.contains("\x00", literal=True)).any()).item()
    cited = dict(zip(quarantined["_source_row"].to_list(), quarantined["_failed_rules"].to_list(), strict=True))
    assert cited == {2: ["fz.type.allowed", "text.no_nul.type"], 4: ["fz.product_id.format", "text.no_nul.product_id"]}


def test_every_string_column_gets_a_nul_rule(tmp_path: Path) -> None:
    loaded = load_project(mini_project(tmp_path)).datasets["fz"]
    assert [r.id for r in nul_rules(loaded.spec)] == ["text.no_nul.product_id", "text.no_nul.type"]


def test_a_header_only_file_is_never_published_as_the_latest_version(tmp_path: Path) -> None:
    root = mini_project(tmp_path / "project")
    (root / "seeds" / "fz" / "good.csv").write_text(to_csv([]), encoding="utf-8")
    loaded = load_project(root).datasets["fz"]
    with pytest.raises(MoshuError) as raised:
        ingest(loaded, root, Warehouse(root / "warehouse"))
    message = str(raised.value)
    assert "`seeds/fz/good.csv`" in message and "header but no data rows" in message and "nothing to ingest" in message
