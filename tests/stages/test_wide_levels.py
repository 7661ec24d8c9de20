"""A wide dataset with a minimal spec, through the four stages: the profile keeps it below gold until it is cleaned."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.catalog.client import CatalogClient
from pipelines.warehouse import Warehouse
from tests.conftest import build
from tests.ingest.plant import CLASSIFICATION
from tests.quality.test_profile import N_CONSTANT, N_COPIES, N_FEATURES, wide_frame

pytestmark = pytest.mark.slow  # two runs of a 601-column dataset (~1 min)


def _project(root: Path, *, flawed: bool) -> Path:
    """A project with one dataset: 600 float features and a label, checked by one `in_set` rule and nothing else."""
    (root / "seeds" / "wide").mkdir(parents=True, exist_ok=True)
    (root / "dataset_specs").mkdir(exist_ok=True)
    (root / "quality_rules").mkdir(exist_ok=True)
    wide_frame(1_000, flawed=flawed).write_csv(root / "seeds" / "wide" / "wide.csv")
    columns = [{"name": f"f{i:03d}", "dtype": "float64", "role": "measurement"} for i in range(N_FEATURES)]
    spec = {
        "name": "wide", "title": "Wide process data", "description": "600 sensors and a quality label.", "owner": "o",
        "license": "CC0-1.0", "classification": CLASSIFICATION, "source": {"format": "csv", "path": "seeds/wide/*.csv"},
        "columns": [*columns, {"name": "label", "dtype": "string", "role": "label"}], "rules": ["quality_rules/wide.yaml"],
    }  # fmt: skip
    (root / "dataset_specs" / "wide.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    rules = {"rules": [{"id": "wide.label.allowed", "kind": "in_set", "column": "label", "values": ["ok", "worn", "broken"]}]}
    (root / "quality_rules" / "wide.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    return root


def test_a_minimal_spec_on_flawed_wide_data_is_not_gold_and_the_cleaned_data_is(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "warehouse")
    flawed = build(_project(tmp_path / "p", flawed=True), wh)["wide"]
    assert flawed.level == "bronze" and flawed.status == "published"
    assert any(r.startswith("D-3 moshu.profile.informative X = 0.7000 < 1 (constant: f000, f001") for r in flawed.reasons)
    assert any(r.startswith("C-5 moshu.profile.completeness X = 0.9") for r in flawed.reasons)
    with CatalogClient(wh.root) as c:
        constant, copied = c.rows("select constant_columns, duplicated_columns from dataset_profiles where name = 'wide'")[0]
        detail = c.rows("select detail from measures where name = 'wide' and rule_id = 'moshu.profile.informative'")[0][0]
    assert (constant, copied) == (N_CONSTANT, N_COPIES) and "duplicated: f300 = f100" in detail

    clean = build(_project(tmp_path / "p", flawed=False), wh)["wide"]
    assert (clean.version, clean.level) == (2, "gold"), clean.reasons
    assert clean.reasons[0].startswith("gold: all ") and "scored measures pass" in clean.reasons[0]
