"""Every path a spec names resolves inside the project (or an allowed root); nothing outside is read or echoed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.errors import SpecError
from pipelines.spec.containment import ENV_ALLOWED_ROOTS
from pipelines.spec.loader import load_project
from pipelines.stages import ingest
from pipelines.warehouse import Warehouse

MOSHU = str(Path(sys.executable).parent / "moshu")
SPEC = Path("dataset_specs/cnc_line.yaml")
RULES = Path("quality_rules/cnc_line.yaml")
MARK = "TOPSECRET-4711"  # content of the file outside the project: never in a message
MACHINES = "machine_id,machine_kind\n" + "".join(f"CNC-0{i},{MARK}\n" for i in range(1, 7))


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _outside(tmp_path: Path) -> Path:
    """A folder beside the project holding a lookup file whose content must never be shown."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "machines.csv").write_text(MACHINES, encoding="utf-8")
    return folder


def _enrich(project: Path, rel: str) -> None:
    with (project / SPEC).open("a", encoding="utf-8") as f:
        f.write(f"enrich:\n  - path: {rel}\n    on: [machine_id]\n    columns:\n      - {{name: machine_kind, dtype: string}}\n")


def _issues(project: Path) -> str:
    with pytest.raises(SpecError) as e:
        load_project(project)
    text = str(e.value)
    assert "root:" not in text and MARK not in text  # no content of the file outside
    assert ENV_ALLOWED_ROOTS in text  # how to allow it
    return text


@pytest.mark.parametrize("given", ["../../etc/passwd", "/etc/passwd", "../outside/*.csv"])
def test_a_source_path_outside_the_project_is_a_spec_error(project_dir: Path, given: str) -> None:
    _replace(project_dir / SPEC, "path: seeds/cnc_line/*.csv", f"path: {given}")
    text = _issues(project_dir)
    assert f"{SPEC.as_posix()}:26:9: source.path: `source.path` `{given}`" in text
    assert "outside the project; moshu does not read it" in text


def test_a_link_in_seeds_to_a_file_outside_fails_the_check(project_dir: Path) -> None:
    (project_dir / "seeds/cnc_line/extra.csv").symlink_to("/etc/passwd")
    text = _issues(project_dir)
    assert "matches `seeds/cnc_line/extra.csv` (a symbolic link) resolves to `/etc/passwd`" in text


def test_a_link_delivered_after_loading_is_set_aside_unread(project_dir: Path, warehouse: Warehouse, tmp_path: Path) -> None:
    """A glob match that resolves outside is refused at ingest too: set aside with its reason, not read."""
    loaded = load_project(project_dir).datasets["cnc_line"]
    outside = _outside(tmp_path)
    secret = outside / "secret.csv"
    secret.write_text((project_dir / "seeds/cnc_line/cnc_line_sample.csv").read_text(encoding="utf-8") + MARK + "\n")
    (project_dir / "seeds/cnc_line/late.csv").symlink_to(secret)
    ing = ingest(loaded, project_dir, warehouse)
    (entry,) = ing.quarantined_files
    assert entry["path"] == "seeds/cnc_line/late.csv" and entry["rows"] is None and entry["sha256"] == ""
    assert "outside the project, and was not read" in entry["reason"] and MARK not in entry["reason"]
    assert {f.path for f in ing.files} == {"seeds/cnc_line/cnc_line_sample.csv", "seeds/cnc_line/late.csv"}
    assert ing.rows_in == next(f.rows for f in ing.files if f.path.endswith("sample.csv"))


def test_a_reference_master_outside_is_a_spec_error(project_dir: Path) -> None:
    _replace(project_dir / RULES, "master: seeds/master/equipment.csv", "master: /etc/passwd")
    text = _issues(project_dir)
    assert f"{RULES.as_posix()}:61:13: rules[" in text and "].master: master data `/etc/passwd`" in text


def test_a_rule_file_outside_is_a_spec_error(project_dir: Path) -> None:
    _replace(project_dir / SPEC, "rules: [quality_rules/cnc_line.yaml]", "rules: [/etc/passwd]")
    assert "rules[0]: rule file `/etc/passwd`" in _issues(project_dir)


def test_an_enrich_file_outside_is_a_spec_error(project_dir: Path, tmp_path: Path) -> None:
    _outside(tmp_path)
    _enrich(project_dir, "../outside/machines.csv")
    text = _issues(project_dir)
    assert "enrich[0].path: `enrich` file `../outside/machines.csv` resolves to" in text


def test_an_allowed_root_is_read(
    project_dir: Path, warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = _outside(tmp_path)
    _enrich(project_dir, "../outside/machines.csv")
    monkeypatch.setenv(ENV_ALLOWED_ROOTS, str(outside))
    loaded = load_project(project_dir).datasets["cnc_line"]
    ing = ingest(loaded, project_dir, warehouse)
    assert [f["rows"] for f in ing.lookup_files] == [6]
    monkeypatch.setenv(ENV_ALLOWED_ROOTS, "../elsewhere")  # relative to the project root; not the lookup's folder
    _issues(project_dir)


def test_moshu_check_and_run_refuse_a_path_outside(project_dir: Path) -> None:
    _replace(project_dir / SPEC, "path: seeds/cnc_line/*.csv", "path: /etc/passwd")
    for command in (["check"], ["run", "cnc_line"]):
        done = subprocess.run([MOSHU, *command], cwd=project_dir, capture_output=True, text=True, timeout=300, check=False)
        out = done.stdout + done.stderr
        assert done.returncode != 0, command
        assert "source.path" in out and "/etc/passwd" in out and "root:" not in out
    assert not (project_dir / "warehouse/catalog.duckdb").exists() or "root:" not in (
        project_dir / "warehouse/catalog.duckdb"
    ).read_bytes().decode("latin-1")
