"""The fuzz corpus run in-process: every bad spec, rule file and policy is a `SpecError` naming the file and
what was expected (never a traceback); every bad data file is set aside or its rows quarantined with
their rule ids, and rows in = published + quarantined. A few cases go through the `moshu` command."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.errors import MoshuError, SpecError
from pipelines.governance.policy import load_policy
from pipelines.spec.loader import load_project
from pipelines.stages import ingest, publish, validate
from pipelines.warehouse import Warehouse
from tests.security.fuzz.corpus import (
    DATA_CASES,
    POLICY,
    POLICY_CASES,
    RULE_CASES,
    RULES,
    SPEC,
    SPEC_CASES,
    DataCase,
    TextCase,
    seed_rows,
    to_csv,
)

SPEC_FILE = "dataset_specs/fz.yaml"
RULES_FILE = "quality_rules/fz.yaml"


def mini_project(root: Path, spec: bytes | None = None, rules: bytes | None = None) -> Path:
    """The mini project: one spec, one rule file, one good raw file of the seed's rows."""
    for part, default, given in ((SPEC_FILE, SPEC, spec), (RULES_FILE, RULES, rules)):
        (root / part).parent.mkdir(parents=True, exist_ok=True)
        (root / part).write_bytes(given if given is not None else default.encode("utf-8"))
    (root / "seeds" / "fz").mkdir(parents=True, exist_ok=True)
    (root / "seeds" / "fz" / "good.csv").write_text(to_csv(seed_rows()), encoding="utf-8")
    return root


def _outcome(run: Callable[[], object], file: str, case: TextCase) -> None:
    """Run a load; a refusal must be a SpecError naming `file` and every expected word, never another exception."""
    try:
        run()
    except SpecError as e:
        message = str(e)
        assert case.code == 2, f"refused but should be accepted: {message}"
        assert file in message, message
        for word in case.expect:
            assert word in message, f"{word!r} not in: {message}"
        assert "Traceback" not in message
        return
    assert case.code == 0, f"accepted but should be refused with {case.expect}"


def _param(cases: list[TextCase]) -> list[object]:
    slow = {"rules-in-set-300000-values"}
    return [pytest.param(c, id=c.id, marks=pytest.mark.slow if c.id in slow else ()) for c in cases]


@pytest.mark.parametrize("case", _param(SPEC_CASES))
def test_bad_spec(case: TextCase, tmp_path: Path) -> None:
    root = mini_project(tmp_path, spec=case.build(SPEC))
    _outcome(lambda: load_project(root), SPEC_FILE, case)


@pytest.mark.parametrize("case", _param(RULE_CASES))
def test_bad_rule_file(case: TextCase, tmp_path: Path) -> None:
    root = mini_project(tmp_path, rules=case.build(RULES))
    _outcome(lambda: load_project(root), RULES_FILE, case)


@pytest.mark.parametrize("case", _param(POLICY_CASES))
def test_bad_policy(case: TextCase, tmp_path: Path) -> None:
    path = tmp_path / "access_policy.yaml"
    path.write_bytes(case.build(POLICY))
    _outcome(lambda: load_policy(path), path.as_posix(), case)


# -- data ------------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One in-process run (ingest, validate, publish) of the good file plus every data case's file."""

    rows_in: int
    published: pl.DataFrame
    quarantined: pl.DataFrame
    set_aside: dict[str, str]  # file name -> reason
    counts: tuple[int, int, int]  # rows_in, rows_published, rows_quarantined as the version records them


def _run(root: Path) -> Run:
    loaded = load_project(root).datasets["fz"]
    wh = Warehouse(root / "warehouse")
    ing = ingest(loaded, root, wh)
    pub = publish(loaded, validate(loaded, ing), wh)
    version = wh.root / "datasets" / "fz" / f"v{pub.version}"
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    quarantine = wh.quarantine_files("fz", pub.version)  # in the dataset's quarantine Delta table
    return Run(
        rows_in=pub.rows_in,
        published=pl.read_parquet(wh.data_files("fz", pub.version)),
        quarantined=pl.read_parquet(quarantine) if quarantine else pl.DataFrame(),
        set_aside={Path(q["path"]).name: q["reason"] for q in manifest["quarantined_files"]},
        counts=(pub.rows_in, pub.rows_published, pub.rows_quarantined),
    )


@pytest.fixture(scope="module")
def data_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = mini_project(tmp_path_factory.mktemp("fuzz") / "project")
    for case in DATA_CASES:
        if case.outcome != "refused":
            (root / "seeds" / "fz" / f"{case.id}.csv").write_bytes(case.build())
    return _run(root)


def _of(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    if frame.is_empty():
        return frame
    return frame.filter(pl.col("_source_file").str.ends_with(f"/{name}"))


def test_rows_in_are_published_plus_quarantined(data_run: Run) -> None:
    rows_in, published, quarantined = data_run.counts
    assert rows_in == published + quarantined == data_run.published.height + data_run.quarantined.height


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in DATA_CASES if c.outcome != "refused"])
def test_bad_data(case: DataCase, data_run: Run) -> None:
    name = f"{case.id}.csv"
    published, quarantined = _of(data_run.published, name), _of(data_run.quarantined, name)
    if case.outcome == "set_aside":
        assert name in data_run.set_aside, f"{name} was read: {published.height} published, {quarantined.height} quarantined"
        reason = data_run.set_aside[name]
        assert reason.startswith(("bad file: ", "schema drift: ")), reason  # the manifest entry's path names the file
        for word in case.expect:
            assert word in reason, reason
        assert published.is_empty() and quarantined.is_empty()
        return
    assert name not in data_run.set_aside, data_run.set_aside.get(name)
    if case.outcome == "published":
        assert quarantined.is_empty() and published.height > 0
        return
    assert quarantined.height == case.bad_rows, quarantined.select("_source_row", "_failed_rules")
    cited = set(quarantined["_failed_rules"].explode().to_list())
    assert set(case.rules) <= cited, cited
    assert published.height > 0 or case.bad_rows == len(quarantined)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in DATA_CASES if c.outcome == "refused"])
def test_bad_data_that_stops_the_run(case: DataCase, tmp_path: Path) -> None:
    root = mini_project(tmp_path / "project")
    (root / "seeds" / "fz" / f"{case.id}.csv").write_bytes(case.build())
    loaded = load_project(root).datasets["fz"]
    with pytest.raises(MoshuError) as raised:
        ingest(loaded, root, Warehouse(root / "warehouse"))
    for word in case.expect:
        assert word in str(raised.value), str(raised.value)
    assert not (root / "warehouse" / "datasets" / "fz").exists()


def test_a_header_only_file_alone_publishes_nothing(tmp_path: Path) -> None:
    root = mini_project(tmp_path / "project")
    (root / "seeds" / "fz" / "good.csv").write_text(to_csv([]), encoding="utf-8")
    with pytest.raises(MoshuError, match=r"good\.csv.*header but no data rows.*nothing to ingest"):
        _run(root)
    assert not (root / "warehouse" / "datasets" / "fz").exists()


# -- through the command line ----------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.mark.parametrize(
    ("case_id", "file", "words"),
    [
        ("spec-latin1", SPEC_FILE, ("not UTF-8 text",)),
        ("spec-deep-list-5000", SPEC_FILE, ("nested deeper than 64 levels",)),
        ("rules-min-nan", RULES_FILE, ("must be a finite number",)),
    ],
)
def test_moshu_check_says_which_file_without_a_traceback(case_id: str, file: str, words: tuple[str, ...], tmp_path: Path) -> None:
    case = next(c for c in (*SPEC_CASES, *RULE_CASES) if c.id == case_id)
    spec, rules = (case.build(SPEC), None) if file == SPEC_FILE else (None, case.build(RULES))
    root = mini_project(tmp_path / "project", spec=spec, rules=rules)
    res = runner.invoke(app, ["check", "--project", str(root)])
    assert res.exit_code == 2, res.output
    assert file in res.stderr and all(w in res.stderr for w in words), res.stderr
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_moshu_policy_apply_refuses_an_alias_bomb(tmp_path: Path) -> None:
    case = next(c for c in POLICY_CASES if c.id == "policy-billion-laughs")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_bytes(case.build(POLICY))
    wh = tmp_path / "warehouse"
    res = runner.invoke(app, ["policy", "apply", str(bomb), "--warehouse", str(wh)])
    assert res.exit_code == 1 and "bomb.yaml" in res.stderr and "alias bomb" in res.stderr, res.output
    assert not (wh / "governance").exists()
    shutil.rmtree(wh, ignore_errors=True)
