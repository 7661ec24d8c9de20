"""Access policies: roles parsed from YAML, enforced by `GuardedClient` on a real warehouse built from the seeds.

The warehouse holds `ai4i2020` v1 (10,000 rows) and v2 (the seed without its last 100 rows), a
rejected candidate v3, and `steel_plates_faults` v1. The fixture classifies it directly in the
catalog: `ai4i2020` general, `steel_plates_faults` important; `product_id` personal, `torque_nm`
confidential, `rnf` confidential (a label whose rule samples quote its values), `tool_wear_min`
unclassified (NULL, so treated as personal).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.errors import CatalogError, NotFoundError, SpecError
from pipelines.governance.guard import GuardedClient, PolicyError
from pipelines.governance.policy import Policy, load_policy
from pipelines.warehouse import Warehouse
from tests.conftest import REPO, build, copy_project

POLICY = """\
roles:
  cdo:
    description: "Chief data officer: every dataset and column."
    grades: [general, important, core]
    sensitivities: [public, confidential, personal]
    catalog_tables: all
  model-team:
    grades: [general, important]
    sensitivities: [public, confidential]
    datasets: all
    catalog_tables: [versions, latest_versions, score_trend, demand_gaps, splits, model_scores, trial_trend, columns]
  partner:
    grades: [general]
    sensitivities: [public]
    datasets: [ai4i2020, steel_plates_faults]
    catalog_tables: [latest_versions, audit_log]
  auditor:
    grades: [general, important, core]
    sensitivities: [public]
    catalog_tables: [rule_results, worst_rules, columns, versions]
"""

HIDDEN_FROM_PARTNER = ("product_id", "torque_nm", "rnf", "tool_wear_min")


@dataclass(frozen=True)
class Env:
    """The built warehouse and the policy of these tests."""

    wh: Path
    policy: Policy
    ai4i_v1_file: Path
    steel_file: Path


def _classify(catalog: Path) -> None:
    """Grades and sensitivities as the tests expect them, written straight into the catalog."""
    con = duckdb.connect(str(catalog))
    try:
        con.execute("ALTER TABLE datasets ADD COLUMN IF NOT EXISTS grade VARCHAR")
        con.execute("ALTER TABLE columns ADD COLUMN IF NOT EXISTS sensitivity VARCHAR")
        con.execute("UPDATE datasets SET grade = CASE name WHEN 'ai4i2020' THEN 'general' ELSE 'important' END")
        con.execute("UPDATE columns SET sensitivity = 'public'")
        con.execute("UPDATE columns SET sensitivity = 'personal' WHERE name = 'ai4i2020' AND column_name = 'product_id'")
        con.execute(
            "UPDATE columns SET sensitivity = 'confidential' WHERE name = 'ai4i2020' AND column_name IN ('torque_nm', 'rnf')"
        )
        con.execute("UPDATE columns SET sensitivity = NULL WHERE name = 'ai4i2020' AND column_name = 'tool_wear_min'")
        # A rejected candidate: kept in the catalog, never visible.
        con.execute(
            "INSERT INTO versions SELECT * REPLACE (3 AS version, 'rejected' AS status) FROM versions "
            "WHERE name = 'ai4i2020' AND version = 2"
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    """A real warehouse built from the seeds (two ai4i2020 versions), classified, and the test policy."""
    tmp = tmp_path_factory.mktemp("governance")
    root = copy_project(tmp / "p")
    wh = Warehouse(root / "warehouse")
    build(root, wh, ["ai4i2020", "steel_plates_faults"])
    seed = root / "seeds" / "ai4i2020" / "ai4i2020.csv"
    lines = seed.read_text(encoding="utf-8").splitlines(keepends=True)
    seed.write_text("".join(lines[:-100]), encoding="utf-8")
    build(root, wh, ["ai4i2020"])
    _classify(wh.catalog_path)
    policy_path = tmp / "access_policy.yaml"
    policy_path.write_text(POLICY, encoding="utf-8")
    return Env(
        wh=wh.root,
        policy=load_policy(policy_path),
        ai4i_v1_file=Path(wh.data_files("ai4i2020", 1)[0]),
        steel_file=Path(wh.data_files("steel_plates_faults", 1)[0]),
    )


@pytest.fixture
def partner(env: Env) -> Iterator[GuardedClient]:
    """The partner's client."""
    with GuardedClient(env.wh, "partner", env.policy) as g:
        yield g


def _tree_hash(root: Path) -> str:
    """One hash over every file under `root` (names and contents) and every catalog table but the audit log.

    The catalog file itself changes on purpose: every policy-checked query appends an audit record, which is
    also mirrored to the append-only `audit_log/` Delta table; both are left out.
    """
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("catalog.duckdb") and p.relative_to(root).parts[0] != "audit_log":
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name <> 'audit_log' ORDER BY 1").fetchall():
            h.update(repr(con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()).encode())
    finally:
        con.close()
    return h.hexdigest()


def _direct(env: Env, query: str) -> list[tuple[object, ...]]:
    """Rows of a query on a plain connection, to compare the guarded results with."""
    con = duckdb.connect()
    try:
        con.execute(f"SET file_search_path = '{env.wh}'")
        return con.execute(query).fetchall()
    finally:
        con.close()


# -- the policy file -------------------------------------------------------------------------------


def test_policy_loads_roles_with_defaults(env: Env) -> None:
    cdo, partner = env.policy.role("cdo"), env.policy.role("partner")
    assert cdo.datasets == "all" and cdo.catalog_tables == "all"
    assert partner.datasets == ("ai4i2020", "steel_plates_faults")
    assert env.policy.role("auditor").catalog_tables == ("rule_results", "worst_rules", "columns", "versions")
    assert partner.may_read_grade("general") and not partner.may_read_grade("important")
    assert not partner.may_read_grade(None), "an unclassified dataset counts as core"
    assert not env.policy.role("model-team").may_read_sensitivity(None), "an unclassified column counts as personal"


def test_unknown_role_lists_the_roles(env: Env) -> None:
    with pytest.raises(NotFoundError, match=r"no role `partnr`.*auditor, cdo, model-team, partner.*did you mean `partner`"):
        env.policy.role("partnr")
    with pytest.raises(NotFoundError, match="no role `guest`"):
        GuardedClient(env.wh, "guest", env.policy)


def test_bad_policy_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "access_policy.yaml"
    path.write_text(
        "roles:\n"
        "  model-team:\n"
        "    grades: [general, secret]\n"
        "    sensitivities: [public]\n"
        "    catalog_tables: [versions, dataset]\n"
        "    colums: all\n"
        "  Partner:\n"
        "    grades: [general]\n"
        "    sensitivities: [public]\n"
        "    catalog_tables: [latest_version]\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as e:
        load_policy(path)
    found = {(i.line, i.key_path): i.message for i in e.value.issues}
    assert "secret" in found[(3, "roles.model-team.grades[1]")]
    assert "table macro" in found[(5, "roles.model-team.catalog_tables")]
    assert "unknown key `colums`" in found[(6, "roles.model-team.colums")]
    assert "latest_versions" in found[(10, "roles.Partner.catalog_tables")]
    assert any(line == 7 and "Partner" in msg for (line, _), msg in found.items()), found
    assert all(i.file == path.as_posix() for i in e.value.issues)


def test_missing_or_broken_policy_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_policy(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("roles: [\n", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_policy(tmp_path / "bad.yaml")
    (tmp_path / "empty.yaml").write_text("roles: {}\n", encoding="utf-8")
    with pytest.raises(SpecError, match="at least 1"):
        load_policy(tmp_path / "empty.yaml")


# -- what each role sees ---------------------------------------------------------------------------


def test_cdo_sees_every_dataset_version_and_column(env: Env) -> None:
    with GuardedClient(env.wh, "cdo", env.policy) as g:
        seen = g.visible()
        assert {"ai4i2020", "ai4i2020__v1", "ai4i2020__v2", "steel_plates_faults", "steel_plates_faults__v1"} <= set(seen)
        assert "ai4i2020__v3" not in seen, "a rejected candidate is never a view"
        assert {"versions", "columns", "audit_log", "rule_results"} <= set(seen)
        assert g.sql("select count(*) from ai4i2020").fetchall() == [(9900,)], "the latest published version"
        assert g.sql("select count(*) from ai4i2020__v1").fetchall() == [(10000,)]
        expected = _direct(env, f"select product_id from read_parquet('{env.ai4i_v1_file}') where udi = 1")
        assert g.sql("select product_id from ai4i2020__v1 where udi = 1").fetchall() == expected
        assert g.sql("select version, status from versions where name = 'ai4i2020' order by version").fetchall() == [
            (1, "published"),
            (2, "published"),
            (3, "rejected"),
        ]


def test_model_team_select_star_omits_hidden_columns(env: Env) -> None:
    with GuardedClient(env.wh, "model-team", env.policy) as g:
        rel = g.sql("select * from ai4i2020__v1 order by udi limit 3")
        cols = rel.columns
        assert "product_id" not in cols and "tool_wear_min" not in cols
        assert {"udi", "type", "torque_nm", "_qc_flag", "_warn_rules", "_source_file", "_source_row"} <= set(cols)
        expected = _direct(env, f"select {', '.join(cols)} from read_parquet('{env.ai4i_v1_file}') order by udi limit 3")
        assert rel.fetchall() == expected
        assert g.sql("select count(*) from steel_plates_faults").fetchall() == [(1941,)], "important grade: readable"
        listed = {r[0] for r in g.sql("select column_name from columns where name = 'ai4i2020'").fetchall()}
        assert "torque_nm" in listed and not {"product_id", "tool_wear_min"} & listed
        assert "audit_log" not in g.visible() and "rule_results" not in g.visible()
        with pytest.raises(PolicyError, match=r"may not read column `product_id` of `ai4i2020` \(sensitivity personal"):
            g.sql("select product_id from ai4i2020")
        with pytest.raises(PolicyError, match=r"column `tool_wear_min`.*unclassified"):
            g.sql("select avg(tool_wear_min) from ai4i2020")


def test_partner_sees_its_general_datasets_and_public_columns(env: Env, partner: GuardedClient) -> None:
    seen = partner.visible()
    assert set(seen) == {"ai4i2020", "ai4i2020__v1", "ai4i2020__v2", "latest_versions"}
    assert "audit_log" not in seen, "audit_log has no dataset column: only for roles that see every dataset"
    assert not set(HIDDEN_FROM_PARTNER) & set(seen["ai4i2020"])
    got = partner.sql(
        "with t as (select type, count(*) as n from ai4i2020__v1 group by type) select * from t order by type"
    ).fetchall()
    assert got == _direct(env, f"select type, count(*) from read_parquet('{env.ai4i_v1_file}') group by type order by type")
    assert partner.sql("select name, version from latest_versions").fetchall() == [("ai4i2020", 2)]
    assert partner.sql("select count(*) from range(3)").fetchall() == [(3,)]
    described = {r[0] for r in partner.sql("describe ai4i2020").fetchall()}
    assert "udi" in described and not set(HIDDEN_FROM_PARTNER) & described


def test_catalog_values_quoting_hidden_columns_are_masked(env: Env) -> None:
    query = "select name, rule_id, samples from rule_results where version = 1"
    example = "select example from worst_rules where rule_id = 'ai4i.labels.consistent'"
    with GuardedClient(env.wh, "cdo", env.policy) as g:
        full = {(n, r): s for n, r, s in g.sql(query).fetchall()}
        full_example = g.sql(example).fetchall()
    with GuardedClient(env.wh, "auditor", env.policy) as g:
        masked = {(n, r): s for n, r, s in g.sql(query).fetchall()}
        masked_example = g.sql(example).fetchall()
    quoting_rnf = ("ai4i2020", "ai4i.labels.consistent")  # samples such as `... rnf=1)`
    assert full[quoting_rnf] and any("rnf=" in x for x in full[quoting_rnf])
    assert masked[quoting_rnf] is None
    assert full[("ai4i2020", "ai4i.torque.span")] is not None and masked[("ai4i2020", "ai4i.torque.span")] is None
    public = ("steel_plates_faults", "steel.area.outliers")  # samples quote `log_of_areas`, a public column
    assert full[public] and masked[public] == full[public], "rules on readable columns keep their samples"
    assert full_example and full_example[0][0] is not None
    assert masked_example == [(None,)]


def test_unclassified_dataset_is_hidden_unless_the_role_reads_core(env: Env, tmp_path: Path) -> None:
    wh = tmp_path / "warehouse"
    shutil.copytree(env.wh, wh)
    con = duckdb.connect(str(wh / "catalog.duckdb"))
    con.execute("UPDATE datasets SET grade = NULL WHERE name = 'steel_plates_faults'")
    con.close()
    with GuardedClient(wh, "model-team", env.policy) as g:
        assert "steel_plates_faults" not in g.visible()
        assert g.sql("select distinct name from versions order by name").fetchall() == [("ai4i2020",)]
    with GuardedClient(wh, "cdo", env.policy) as g:
        assert g.sql("select count(*) from steel_plates_faults").fetchall() == [(1941,)]


# -- what is refused -------------------------------------------------------------------------------

FORBIDDEN = [
    ("select * from steel_plates_faults", "not one of its views"),
    ("select product_id from ai4i2020", "may not read column `product_id`"),
    ("select udi, torque_nm from ai4i2020", "column `torque_nm`.*confidential"),
    ("select a.product_id from ai4i2020 a", "column `product_id`"),
    ("select * exclude (product_id) from ai4i2020", "column `product_id`"),
    ("select * from ai4i2020__v3", "not one of its views"),
    ("select * from read_parquet('{ai4i_rel}')", "table functions"),  # relative to the warehouse
    ("select * from read_parquet('{ai4i}')", "table functions"),
    ("select * from '{ai4i}'", "not one of its views"),
    ("select * from read_csv('/etc/passwd')", "table functions"),
    ("select * from glob('{wh}/*')", "table functions"),
    ("select * from dataset('ai4i2020', 1)", "table functions"),
    ("select * from quarantine('ai4i2020', 1)", "table functions"),
    ("select * from query('select * from steel_plates_faults')", "table functions"),
    ("select * from duckdb_settings()", "table functions"),
    ("select * from moshu_ro.main.versions", "qualified names such as `moshu_ro.main.versions`"),
    ("select * from moshu_ro.datasets", "qualified names"),
    ("select * from information_schema.tables", "qualified names"),
    ("select current_setting('file_search_path')", r"`current_setting\(\)`"),
    ("select getenv('HOME')", r"`getenv\(\)`"),
    ("COPY (select * from ai4i2020) TO '{ai4i}' (FORMAT parquet, USE_TMP_FILE false)", "only SELECT"),
    ("COPY ai4i2020 TO '/tmp/out.csv'", "only SELECT"),
    ("INSERT INTO ai4i2020 SELECT * FROM ai4i2020", "only SELECT"),
    ("CREATE TABLE t AS SELECT * FROM ai4i2020", "only SELECT"),
    ("DROP VIEW ai4i2020", "only SELECT"),
    ("ATTACH '{wh}/catalog.duckdb' AS rw", "only SELECT"),
    ("DETACH moshu_ro", "only SELECT"),
    ("SET enable_external_access = true", "only SELECT"),
    ("PRAGMA enable_profiling", "only SELECT"),
    ("INSTALL httpfs", "only SELECT"),
    ("LOAD httpfs", "only SELECT"),
    ("SHOW TABLES", "SHOW"),
    ("select 1; select * from steel_plates_faults", "2 statements"),
    ("select count(*) from ai4i2020; drop view ai4i2020", "only SELECT"),
    ("with x as (insert into ai4i2020 values (1) returning *) select * from x", "INSERT_QUERY_NODE"),
    ("with s as (select * from steel_plates_faults) select count(*) from s", "`steel_plates_faults`"),
    ("with v as (select * from versions) select * from v", "`versions`"),
    ("select count(*) from ai4i2020 where udi in (select x_minimum from steel_plates_faults)", "`steel_plates_faults`"),
    ("select udi from ai4i2020 union all select x_minimum from steel_plates_faults", "`steel_plates_faults`"),
    ("select * from ai4i2020, lateral (select * from score_trend) s", "`score_trend`"),
    ("", "empty"),
]


@pytest.mark.parametrize(("query", "message"), FORBIDDEN, ids=[q[:60] or "empty" for q, _ in FORBIDDEN])
def test_partner_refused_and_nothing_changes(env: Env, partner: GuardedClient, query: str, message: str) -> None:
    before = _tree_hash(env.wh)
    with pytest.raises(PolicyError, match=message) as e:
        partner.sql(query.format(ai4i=env.ai4i_v1_file, ai4i_rel=env.ai4i_v1_file.relative_to(env.wh).as_posix(), wh=env.wh))
    assert "`partner`" in str(e.value)
    if "not one of its views" in message or "table functions" in message:
        assert "`ai4i2020`" in str(e.value), "the message says what the role can use instead"
    assert _tree_hash(env.wh) == before
    assert partner.sql("select count(*) from ai4i2020").fetchall() == [(9900,)], "the client still works"


def test_other_errors_are_not_policy_errors(partner: GuardedClient) -> None:
    with pytest.raises(CatalogError, match="no_such_column") as e:
        partner.sql("select no_such_column from ai4i2020")
    assert not isinstance(e.value, PolicyError)
    with pytest.raises(PolicyError, match="does not parse"):
        partner.sql("selec 1")


def test_duckdb_itself_refuses_when_the_guard_is_bypassed(env: Env, partner: GuardedClient) -> None:
    """Defense in depth: the locked DuckDB connection under the guard, used directly."""
    con = partner._con
    before = _tree_hash(env.wh)
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"select count(*) from read_parquet('{env.steel_file}')").fetchall()
    with pytest.raises(duckdb.PermissionException):
        con.execute("select count(*) from read_csv('/etc/passwd')").fetchall()
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"COPY (select 1) TO '{env.wh}/datasets/x.csv'")
    for statement in (
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET lock_configuration = false",
        "PRAGMA enable_profiling",
    ):
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            con.execute(statement)
    with pytest.raises(duckdb.Error, match="moshu_ro does not exist"):  # the catalog was detached after the copy
        con.execute("CREATE TABLE moshu_ro.main.x AS SELECT 1")
    with pytest.raises(duckdb.Error, match=r"configuration has been locked|Permission"):
        con.execute(f"ATTACH '{env.wh}/catalog.duckdb' AS again")
    assert _tree_hash(env.wh) == before


def test_no_catalog(tmp_path: Path, env: Env) -> None:
    with pytest.raises(CatalogError, match="no catalog"):
        GuardedClient(tmp_path, "partner", env.policy)


def test_startup_is_fast_and_light(env: Env) -> None:
    t0 = time.perf_counter()
    with GuardedClient(env.wh, "model-team", env.policy) as g:
        assert g.sql("select type, count(*) from ai4i2020 group by type").fetchall()
    elapsed = time.perf_counter() - t0
    print(f"GuardedClient construction + one query: {elapsed * 1000:.0f} ms")
    assert elapsed < 5.0
    code = "import sys, pipelines.governance.guard; print(sorted(m for m in ('polars', 'dagster', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
