"""GE Data Docs work offline: no external reference, links to the version's own files, the run named, GE's percentage explained."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import Built


def test_data_docs_load_nothing_from_outside_and_link_the_version(built: Built) -> None:
    quality = built.warehouse.version_dir("cnc_line", 1) / "quality"
    html = (quality / "data_docs.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs, "the page has links"
    assert not [r for r in refs if re.match(r"(?i)(https?:)?//", r)], "an external reference"
    for ref in refs:
        if not ref.startswith(("#", "javascript:")):
            assert (quality / ref).is_file(), f"dead link {ref}"
    assert "__none__" not in html
    manifest = json.loads((quality.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] in html
    stats = json.loads((quality / "ge_validation.json").read_text(encoding="utf-8"))["statistics"]
    assert f"{stats['successful_expectations']} of {stats['evaluated_expectations']} expectations succeeded" in html
    assert "$(" not in html, "a script that needs jQuery"


def test_a_partitions_data_docs_link_the_versions_quality_folder(tmp_path: Path) -> None:
    from pipelines.runner import run_dataset
    from pipelines.spec.loader import load_project
    from pipelines.warehouse import Warehouse
    from tests.partitions.daily import NAME, daily_project

    root = daily_project(tmp_path / "project", days=1)
    wh = Warehouse(tmp_path / "wh")
    run_dataset(load_project(root).datasets[NAME], root, wh)
    pages = sorted(wh.version_dir(NAME, 1).glob("quality/partitions/*/data_docs.html"))
    assert pages
    for page in pages:
        for ref in re.findall(r'(?:src|href)="([^"#][^"]*)"', page.read_text(encoding="utf-8")):
            assert not re.match(r"(?i)(https?:)?//", ref) and (page.parent / ref).resolve().is_file(), ref
