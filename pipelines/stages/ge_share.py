"""The Great Expectations share of validating a run, in one call: made in the worker process when there is one.

The suite and its validation result are written beside the staged rows, and the Data Docs page is rendered from
them there and then, so that nothing after validation needs Great Expectations: publishing copies the three files
into the version, and the worker can end before the publish step's own memory peak.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.quality import ge_engine
from pipelines.quality.kinds import Context
from pipelines.quality.results import RuleOutcome
from pipelines.report import data_docs
from pipelines.spec.rules import RuleBase

GE_SUITE_FILE = "ge_suite.json"
GE_RESULT_FILE = "ge_validation.json"
DATA_DOCS_FILE = "data_docs.html"


def validate_and_document(
    rules: list[RuleBase],
    ctx: Context,
    staged: Path,
    workdir: Path,
    row_outcomes: dict[str, RuleOutcome],
    rows: int,
    failures: Path,
    run_id: str,
    quality: str,
) -> tuple[bool, list[RuleOutcome]]:
    """Run GE's share of the rules (`ge_engine.validate`), write the suite and result JSON into `workdir` and render
    the Data Docs page beside them (`quality`: the page's relative path to the version's `quality/` folder once
    published).

    Returns:
        Whether the whole suite succeeded, and the outcomes of the rules pandera did not measure.
    """
    suite, result, other = ge_engine.validate(rules, ctx, staged, workdir, row_outcomes, rows, failures)
    _write_json(workdir / GE_SUITE_FILE, suite)
    _write_json(workdir / GE_RESULT_FILE, result)
    data_docs.render(workdir / GE_RESULT_FILE, workdir / DATA_DOCS_FILE, run_id, quality)
    return bool(result.get("success")), other


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
