"""Great Expectations Data Docs: the stored validation result rendered by GE's own page renderer."""

from __future__ import annotations

import json
from pathlib import Path


def render(validation_json: Path, out: Path) -> Path:
    """Render a stored GE validation result (JSON) as a static HTML page with GE's renderer."""
    from pipelines.quality.ge_engine import _prepare_ge

    _prepare_ge()
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    data = json.loads(validation_json.read_text(encoding="utf-8"))
    result = ExpectationSuiteValidationResult(
        **{k: data[k] for k in ("success", "results", "suite_name", "statistics", "meta") if k in data}
    )
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    result.results = [
        ExpectationValidationResult(
            success=r["success"], expectation_config=ExpectationConfiguration(**{k: v for k, v in r["expectation_config"].items() if k in ("type", "kwargs", "meta", "id", "severity", "description")}),
            result=r.get("result") or {}, meta=r.get("meta") or {}, exception_info=r.get("exception_info"),
        )
        for r in data["results"]
    ]  # fmt: skip
    document = ValidationResultsPageRenderer().render(result)
    out.write_text(DefaultJinjaPageView().render(document), encoding="utf-8")
    return out
