"""`moshu init` on every seed's raw files: the drafted spec and rules load, run to a version, and infer what they should (slow)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.spec.loader import load_project
from pipelines.warehouse import Warehouse
from tests.conftest import REPO, build

pytestmark = pytest.mark.slow
runner = CliRunner()


def _project(tmp_path: Path, seed: str) -> Path:
    root = tmp_path / "project"
    for d in ("dataset_specs", "quality_rules"):
        (root / d).mkdir(parents=True)
    shutil.copytree(REPO / "seeds" / seed, root / "seeds" / seed)
    return root


def _init_and_run(tmp_path: Path, seed: str, name: str, glob: str) -> tuple[dict[str, dict[str, object]], int]:
    root = _project(tmp_path, seed)
    res = runner.invoke(app, ["init", name, glob, "--project", str(root)])
    assert res.exit_code == 0, res.output
    assert (root / "dataset_specs" / f"{name}.yaml").read_text().startswith("# yaml-language-server: $schema=")
    ld = load_project(root).datasets[name]  # what `moshu check` does
    pub = build(root, Warehouse(tmp_path / "wh"), [name])[name]
    assert pub.version == 1 and pub.rows_in == pub.rows_published + pub.rows_quarantined
    cols = {c.name: c.model_dump(exclude_defaults=True) for c in ld.spec.columns}
    return cols, pub.rows_published


def test_ai4i2020(tmp_path: Path) -> None:
    cols, published = _init_and_run(tmp_path, "ai4i2020", "ai4i", "seeds/ai4i2020/*.csv")
    assert cols["air_temperature"] == {"name": "air_temperature", "source": "Air temperature [K]", "dtype": "float64",
                                       "unit": "K", "role": "measurement", "nullable": False}  # fmt: skip
    assert cols["torque"]["unit"] == "N*m" and cols["machine_failure"]["role"] == "label"
    assert published == 10_000
    rules = (tmp_path / "project" / "quality_rules" / "ai4i.yaml").read_text()
    assert "  # A-1 Values lie inside the instrument span (docs/guide.md)\n  # seen: p0.5=295.6, p99.5=304.2" in rules
    assert "kind: unit_consistency\n    columns: [air_temperature, process_temperature]\n    unit: K" in rules
    assert "kind: class_balance\n    column: machine_failure" in rules


def test_cmapss_headerless_whitespace(tmp_path: Path) -> None:
    cols, published = _init_and_run(tmp_path, "cmapss", "cmapss", "seeds/cmapss/train_FD00*.txt")
    assert list(cols)[:3] == ["train", "col_01", "col_02"]
    assert cols["train"]["from_path"] == r"train_(FD\d+)\.txt$"
    assert (cols["col_01"]["role"], cols["col_02"]["role"]) == ("entity", "timestamp")  # engine and its cycle counter
    assert published == 160_359


def test_cnc_line(tmp_path: Path) -> None:
    cols, published = _init_and_run(tmp_path, "cnc_line", "cnc", "seeds/cnc_line/*.csv")
    assert cols["operator_id"]["sensitivity"] == "personal" and cols["operator_id"]["dtype"] == "string"
    assert (cols["ts"]["role"], cols["machine_id"]["role"]) == ("timestamp", "entity")
    assert 2_300 < published < 2_385  # the seed's deliberate defects: bad numbers and repeated keys are quarantined
    raw = (tmp_path / "project" / "seeds" / "cnc_line" / "cnc_line_sample.csv").read_text().splitlines()[1].split(",")[3]
    for f in ("dataset_specs/cnc.yaml", "quality_rules/cnc.yaml"):
        assert raw not in (tmp_path / "project" / f).read_text()


def test_steel_plates_faults(tmp_path: Path) -> None:
    cols, published = _init_and_run(tmp_path, "steel_plates_faults", "steel", "seeds/steel_plates_faults/Faults.NNA")
    assert cols["type_of_steel_a300"]["source"] == "TypeOfSteel_A300"  # names from the file beside the data
    labels = [n for n, c in cols.items() if c.get("role") == "label"]
    assert labels == ["pastry", "z_scratch", "k_scatch", "stains", "dirtiness", "bumps", "other_faults"]
    assert published == 1_941
