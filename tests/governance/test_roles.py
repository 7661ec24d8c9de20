"""`moshu sql --role` on the real seeds with the project's access policy: allowed queries answer,
forbidden ones are refused with a reason and change nothing, and every one is in the audit log."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.catalog.client import CatalogClient
from pipelines.cli import app
from pipelines.errors import CatalogError, PolicyError
from pipelines.governance.guard import GuardedClient
from pipelines.governance.policy import default_policy_path, load_policy
from pipelines.warehouse import Warehouse
from tests.conftest import REPO, built_copy

runner = CliRunner()


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return built_copy(tmp_path_factory, "roles", ["ai4i2020", "cnc_line"])


def _data_state(wh: Warehouse) -> str:
    h = hashlib.sha256()
    for p in sorted((wh.root / "datasets").rglob("*")):
        if p.is_file():
            h.update(p.as_posix().encode() + p.read_bytes())
    with CatalogClient(wh.root) as c:  # every catalog table but the audit log
        for (t,) in c.rows("SELECT table_name FROM duckdb_tables() WHERE table_name <> 'audit_log' ORDER BY 1"):
            h.update(repr(c.rows(f"SELECT * FROM {t} ORDER BY ALL")).encode())
    return h.hexdigest()


def _sql(wh: Warehouse, role: str, query: str, *extra: str) -> tuple[int, str, str]:
    res = runner.invoke(
        app, ["sql", query, "--role", role, "-f", "csv", "--warehouse", str(wh.root), "--project", str(REPO), *extra]
    )
    return res.exit_code, res.stdout, res.stderr


def test_a_guarded_result_writes_parquet_with_its_types(wh: Warehouse, tmp_path: Path) -> None:
    import polars as pl

    out = tmp_path / "r.parquet"
    code, _, err = _sql(
        wh,
        "model-team",
        "select machine_id, count(*)::int as n from cnc_line group by 1 order by 1",
        "-f",
        "parquet",
        "-o",
        str(out),
    )
    assert code == 0, err
    df = pl.read_parquet(out)
    assert df.schema["n"] == pl.Int32 and df.height == 6 and df["n"].sum() == 2355


ALLOWED = [
    ("cdo", "select count(distinct operator_id) from cnc_line", "6"),
    ("data-engineer", "select count(*) from cnc_line where operator_id like 'psn-%'", "2355"),
    ("model-team", "select count(*) from cnc_line", "2355"),
    ("model-team", "select level from latest_versions where name = 'cnc_line'", "silver"),
    ("model-team", "select count(*) from column_profiles where name = 'cnc_line'", "14"),
    ("partner", "select count(*) from ai4i2020 where torque_nm > 60", "236"),
]


@pytest.mark.parametrize(("role", "query", "answer"), ALLOWED)
def test_allowed_queries_answer(wh: Warehouse, role: str, query: str, answer: str) -> None:
    code, out, err = _sql(wh, role, query)
    assert code == 0, err
    assert out.splitlines()[1] == answer


FORBIDDEN = [
    ("partner", "select count(*) from cnc_line", "cannot query `cnc_line`"),  # an important-grade dataset
    ("model-team", "select operator_id from cnc_line", "may not read column `operator_id`"),  # a personal column
    ("partner", "select * from read_parquet('datasets/cnc_line/v1/data/part-00000.parquet')", "table functions"),
    ("cdo", "select * from read_csv('/etc/passwd')", "table functions"),
    ("cdo", "select * from dataset('cnc_line', 1)", "table functions"),
    ("cdo", "copy (select * from cnc_line) to 'leak.csv'", "only SELECT"),
    ("cdo", "insert into versions select * from versions", "only SELECT"),
    ("cdo", "attach 'other.duckdb' as o", "only SELECT"),
    ("cdo", "set enable_external_access = true", "only SELECT"),
    ("model-team", "select 1; select * from cnc_line", "one"),
    ("model-team", "select * from moshu_ro.main.versions", ""),
    ("partner", "with x as (select * from cnc_line) select count(*) from x", "cannot query `cnc_line`"),
    ("partner", "select count(*) from ai4i2020 union all select count(*) from cnc_line", "cannot query `cnc_line`"),
    ("model-team", "select getenv('MOSHU_PSEUDONYM_KEY')", "getenv"),
]


@pytest.mark.parametrize(("role", "query", "reason"), FORBIDDEN)
def test_forbidden_queries_are_refused_without_side_effects(wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            role: str, query: str, reason: str) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    before = _data_state(wh)
    code, out, err = _sql(wh, role, query)
    assert code == 1 and out == ""
    assert reason in err
    assert _data_state(wh) == before
    assert not (tmp_path / "leak.csv").exists() and not (tmp_path / "other.duckdb").exists()


def test_every_policy_checked_query_is_in_the_audit_log(wh: Warehouse) -> None:
    _sql(wh, "partner", "select count(*) from cnc_line")
    _sql(wh, "partner", "select count(*) from ai4i2020")
    with CatalogClient(wh.root) as c:
        last = c.rows("SELECT role, action, decision, detail FROM audit_log ORDER BY seq DESC LIMIT 2")
    assert [(r[0], r[1], r[2]) for r in last] == [("partner", "query", "allowed"), ("partner", "query", "refused")]
    assert "cnc_line" in last[1][3]


def test_an_unknown_role_is_a_usage_error(wh: Warehouse) -> None:
    code, _, err = _sql(wh, "model-teams", "select 1")
    assert code == 2 and "did you mean `model-team`" in err


def test_the_python_client_enforces_the_same_policy(wh: Warehouse) -> None:
    policy = load_policy(default_policy_path(REPO))
    with GuardedClient(wh.root, "model-team", policy) as c:
        assert "operator_id" not in c.visible()["cnc_line"]
        assert c.sql("select count(*) from cnc_line").fetchall() == [(2355,)]
        with pytest.raises(PolicyError):
            c.sql("select operator_id from cnc_line")


def test_guard_holes_found_in_review_stay_closed(wh: Warehouse) -> None:
    policy = load_policy(default_policy_path(REPO))
    with GuardedClient(wh.root, "model-team", policy) as c:
        with pytest.raises(PolicyError, match="cannot query `duckdb_tables`"):  # a CTE named after a system view
            c.sql("with duckdb_tables as (select * from duckdb_tables) select * from duckdb_tables")
        assert c.sql("select count(*) from cnc_line using sample 100%").fetchall() == [(2355,)]
        with pytest.raises(CatalogError, match="Could not convert"):  # fails while rows are computed
            c.sql("select cast(machine_id as int) from cnc_line")
        result = c.sql("select machine_id from cnc_line limit 1")
        assert not hasattr(result, "query") and result.columns == ["machine_id"]  # rows, not a live relation


def test_concurrent_role_queries_are_all_audited(wh: Warehouse) -> None:
    import os
    import subprocess
    import sys

    with CatalogClient(wh.root) as c:
        (before,) = c.rows("SELECT count(*) FROM audit_log WHERE action = 'query'")[0]
    moshu = str(Path(sys.executable).parent / "moshu")
    procs = [
        subprocess.Popen([moshu, "sql", f"select {i}", "--role", "model-team", "-f", "csv", "--warehouse", str(wh.root),
                          "--project", str(REPO)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
        for i in range(6)
    ]  # fmt: skip
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    with CatalogClient(wh.root) as c:
        (after,) = c.rows("SELECT count(*) FROM audit_log WHERE action = 'query'")[0]
        assert c.rows("SELECT count(*) FROM audit_log")[0][0] == c.rows("SELECT max(seq) FROM audit_log")[0][0]
    assert after - before == 6
