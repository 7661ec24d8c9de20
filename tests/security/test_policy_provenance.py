"""Policies have provenance: `--role` enforces the policy a cdo applied to the warehouse, a policy file the
caller brings is refused, and every role query's audit row names the policy's sha256 (issue 16, item 3)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipelines.catalog.client import CatalogClient
from pipelines.cli import app
from pipelines.governance.policy_store import POLICY_DIR, policy_in_force
from pipelines.warehouse import Warehouse
from tests.conftest import REPO, built_copy

runner = CliRunner()
PROJECT_POLICY = REPO / "catalog" / "access_policy.yaml"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return built_copy(tmp_path_factory, "provenance", ["cnc_line"])


@pytest.fixture
def wh(built: Warehouse, tmp_path: Path) -> Warehouse:
    """A private copy of the built warehouse (applying a policy writes it)."""
    root = tmp_path / "project" / "warehouse"
    shutil.copytree(built.root, root)
    return Warehouse(root)


def _run(wh: Warehouse, *args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, [*args, "--warehouse", str(wh.root), "--project", str(REPO)])
    return res.exit_code, res.stdout, res.stderr


def _last_audit(wh: Warehouse) -> dict[str, object]:
    with CatalogClient(wh.root) as c:
        seq, role, action, decision, detail = c.rows(
            "SELECT seq, role, action, decision, detail FROM audit_log ORDER BY seq DESC LIMIT 1"
        )[0]
    return {"seq": seq, "role": role, "action": action, "decision": decision, "detail": json.loads(detail)}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evil(tmp_path: Path) -> Path:
    """The project's policy with personal columns granted to model-team."""
    data = yaml.safe_load(PROJECT_POLICY.read_text(encoding="utf-8"))
    data["roles"]["model-team"]["sensitivities"] = ["public", "confidential", "personal"]
    path = tmp_path / "evil.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_policy_the_caller_brings_is_refused_and_audited(wh: Warehouse, tmp_path: Path) -> None:
    evil = _evil(tmp_path)
    code, out, err = _run(wh, "sql", "select operator_id from cnc_line limit 1", "--role", "model-team", "--policy", str(evil))
    assert code == 2
    assert "evil.yaml" in err and "not the access policy in force" in err and "moshu policy apply" in err
    assert "psn-" not in out
    row = _last_audit(wh)
    in_force = policy_in_force(wh).sha256
    assert row["action"] == "query" and row["decision"] == "refused" and row["role"] == "model-team"
    assert row["detail"]["policy"] == {"sha256": in_force, "source": "built-in", "refused_sha256": _sha(evil)}  # type: ignore[index]


def test_every_role_query_records_the_policy_hash(wh: Warehouse) -> None:
    code, out, err = _run(wh, "sql", "select count(*) from cnc_line", "--role", "model-team", "-f", "csv")
    assert code == 0, err
    assert out.splitlines()[1] == "2355"
    row = _last_audit(wh)
    assert row["decision"] == "allowed"
    assert row["detail"]["policy"]["sha256"] == _sha(PROJECT_POLICY)  # type: ignore[index]
    code, _, err = _run(wh, "sql", "select operator_id from cnc_line", "--role", "model-team")
    assert code == 1 and "may not read column `operator_id`" in err
    assert _last_audit(wh)["detail"]["policy"]["sha256"] == _sha(PROJECT_POLICY)  # type: ignore[index]


def test_the_policy_in_force_given_as_policy_is_accepted(wh: Warehouse) -> None:
    code, _, err = _run(wh, "sql", "select count(*) from cnc_line", "--role", "model-team", "--policy", str(PROJECT_POLICY))
    assert code == 0, err


def test_policy_without_role_is_a_usage_error(wh: Warehouse, tmp_path: Path) -> None:
    code, _, err = _run(wh, "sql", "select 1", "--policy", str(_evil(tmp_path)))
    assert code == 2 and "--policy only applies with --role" in err


def test_a_cdo_applies_a_policy_and_role_queries_use_it(wh: Warehouse, tmp_path: Path) -> None:
    data = yaml.safe_load(PROJECT_POLICY.read_text(encoding="utf-8"))
    data["roles"]["model-team"]["datasets"] = ["ai4i2020"]  # model teams lose cnc_line
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(data), encoding="utf-8")
    sha = _sha(strict)

    code, out, err = _run(wh, "policy", "apply", str(strict))
    assert code == 0, err
    assert sha in out
    copy = wh.root / POLICY_DIR / f"{sha}.yaml"
    assert copy.read_bytes() == strict.read_bytes()
    applied = _last_audit(wh)
    assert applied["action"] == "policy_apply" and applied["role"] == "cdo" and applied["decision"] == "applied"
    assert applied["detail"]["sha256"] == sha and applied["detail"]["previous_sha256"] is None  # type: ignore[index]
    with CatalogClient(wh.root) as c:
        assert c.rows("SELECT sha256, path FROM access_policies") == [(sha, (POLICY_DIR / f"{sha}.yaml").as_posix())]

    code, _, err = _run(wh, "sql", "select count(*) from cnc_line", "--role", "model-team")
    assert code == 1 and "cannot query `cnc_line`" in err
    assert _last_audit(wh)["detail"]["policy"] == {"sha256": sha, "source": "installed"}  # type: ignore[index]
    code, out, _ = _run(wh, "policy", "show")
    assert code == 0 and sha in out and "installed" in out

    code, out, _ = _run(wh, "policy", "apply", str(strict))  # the same file again: nothing new
    assert code == 0 and "already in force" in out
    with CatalogClient(wh.root) as c:
        assert c.rows("SELECT count(*) FROM access_policies") == [(1,)]


def test_an_installed_policy_edited_in_place_is_refused(wh: Warehouse, tmp_path: Path) -> None:
    code, _, err = _run(wh, "policy", "apply", str(PROJECT_POLICY))
    assert code == 0, err
    copy = wh.root / POLICY_DIR / f"{_sha(PROJECT_POLICY)}.yaml"
    copy.chmod(0o644)
    copy.write_bytes(_evil(tmp_path).read_bytes())
    code, out, err = _run(wh, "sql", "select operator_id from cnc_line limit 1", "--role", "model-team")
    assert code == 1
    assert "does not match the sha256" in err and "moshu policy apply" in err and "psn-" not in out


def test_a_bad_policy_is_not_applied(wh: Warehouse, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "roles:\n  model-team:\n    grades: [general]\n    sensitivities: [public]\n    grades: [core]\n", encoding="utf-8"
    )
    code, _, err = _run(wh, "policy", "apply", str(bad))
    assert code == 1 and "bad.yaml:5" in err and "duplicate key `grades`" in err
    assert not (wh.root / POLICY_DIR).exists()
