"""Great Expectations Data Docs: the stored validation result rendered by GE's own page renderer, made to work offline.

GE's page template loads Bootstrap, jQuery, Vega, Font Awesome and its logo from CDNs, links to a Data Docs
site (Home, the suite page) that a single rendered page does not have, and names the run `__none__`. On a
plant network without internet that page is unstyled and its links are dead. `offline` keeps GE's content
and removes every external reference: stylesheets and scripts from CDNs are dropped, a small inline
stylesheet lays out the Bootstrap classes the page uses, the two jQuery functions of the "show failed only"
buttons are replaced by plain JavaScript, the dead links point at the version's own files, and a note says
how GE's percentage relates to moshu's score.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_EXTERNAL_TAG = re.compile(
    r"<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>|<script\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.I | re.S
)
_INLINE_SCRIPT = re.compile(r"<script>(?:(?!</script>).)*\$\((?:(?!</script>).)*</script>", re.S)
_EXTERNAL_IMG = re.compile(r"<img\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>", re.I | re.S)
_EXTERNAL_A = re.compile(r"<a\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>(.*?)</a>", re.I | re.S)

_STYLE = """<style>
body{font-family:system-ui,"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:0;color:#222;font-size:14px}
.container-fluid{padding:1rem 2rem}.row{display:flex;flex-wrap:wrap;gap:1rem}
.col-lg-2{flex:0 0 200px}.col-lg-10,.col-md-10{flex:1 1 600px;min-width:0}.col-12{width:100%}
.card{border:1px solid #ddd;border-radius:4px;margin-bottom:1rem}.card-header{background:#f5f5f5;padding:.4rem .6rem;font-weight:600}
.card-body{padding:.6rem}.table{border-collapse:collapse;width:100%;margin:.5rem 0}
.table td,.table th{border-top:1px solid #ddd;padding:.3rem .4rem;text-align:left;vertical-align:top}
.badge{display:inline-block;padding:.1rem .4rem;border-radius:3px;background:#eee}.text-danger{color:#c62828}.text-success{color:#2e7d32}
.breadcrumb{display:flex;gap:.5rem;list-style:none;padding:.5rem 2rem;margin:0;background:#f5f5f5}
.breadcrumb-item+.breadcrumb-item::before{content:"/ ";color:#888}.navbar{display:block}.sticky{position:sticky;top:0}
.show-scrollbars{overflow:auto}.d-none{display:none}.moshu-note{background:#fff8e1;border:1px solid #f9a825;padding:.6rem 1rem;margin:1rem 2rem}
.btn{border:1px solid #ccc;border-radius:3px;padding:.2rem .5rem;margin:.1rem;background:#fff;cursor:pointer}
</style>"""

_SCRIPT = """<script>
function _moshuShow(show){
  for (const sel of [".hide-succeeded-validation-target", ".hide-succeeded-validation-target-child"]) {
    document.querySelectorAll(sel).forEach(el => {
      const target = sel.endsWith("-child") ? el.parentElement : el;
      if (target) target.style.display = show ? "" : "none";
    });
  }
}
function showAllValidations(){ _moshuShow(true); }
function hideSucceededValidations(){ _moshuShow(false); }
</script>"""


def _note(stats: dict[str, object], run_id: str, quality: str) -> str:
    ok, total = stats.get("successful_expectations"), stats.get("evaluated_expectations")
    pct = stats.get("success_percent")
    share = f"{ok} of {total} expectations succeeded ({pct:.2f} %)" if isinstance(pct, int | float) else "expectation counts"
    return (
        '<div class="moshu-note"><b>How to read this page.</b> Great Expectations reports '
        f"{share}: an expectation counts as failed as soon as one row fails it, whatever its severity. "
        "moshu scores each rule by the share of rows that pass it (X = A / B), weighs the rules by quality "
        "dimension and applies the guide's gates, so a version with a few flagged rows can be gold while GE "
        "says &ldquo;Failed&rdquo;. This version's level, score and the reasons are in its "
        f'<a href="{quality}report.html">quality report</a>. Run: <code>{run_id}</code>.</div>'
    )


def offline(html: str, stats: dict[str, object], run_id: str, quality: str = "") -> str:
    """GE's rendered page without any external reference, with working links and the note on GE's percentage.

    Args:
        html: The page as GE's `DefaultJinjaPageView` renders it.
        stats: The validation result's `statistics`.
        run_id: moshu's run id of the version (GE's page says `__none__`).
        quality: Relative path from the page to the version's `quality/` folder ("" when the page is in it).

    Returns:
        The page; it loads nothing from outside the version folder.
    """
    html = _EXTERNAL_TAG.sub("", html)
    html = _INLINE_SCRIPT.sub("", html)
    html = _EXTERNAL_IMG.sub("<b>Great Expectations</b>", html)
    html = _EXTERNAL_A.sub(r"\1", html)
    html = re.sub(r"<footer>.*?</footer>", "", html, flags=re.S)  # GE's newsletter sign-up (a link to its site)
    html = re.sub(r'href="(?:\.\./)+index\.html"', f'href="{quality}report.html"', html)  # "Home": the quality report
    html = re.sub(r'href="(?:\.\./)+expectations/[^"]*\.html"', f'href="{quality}ge_suite.json"', html)  # the stored suite
    html = re.sub(r'<link\b[^>]*href="(?:\.\./)+static/[^"]*"[^>]*>', "", html)  # the favicon of a Data Docs site
    html = html.replace("__none__", run_id)
    html = html.replace("</head>", _STYLE + _SCRIPT + "</head>", 1)
    return re.sub(r"(<body\b[^>]*>)", lambda m: m.group(1) + _note(stats, run_id, quality), html, count=1)


def render(validation_json: Path, out: Path, run_id: str, quality: str = "") -> Path:
    """Render a stored GE validation result (JSON) as a static HTML page with GE's renderer, made to work offline.

    Args:
        validation_json: The stored validation result.
        out: The page to write.
        run_id: moshu's run id of the version.
        quality: Relative path from `out` to the version's `quality/` folder.
    """
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
    page = DefaultJinjaPageView().render(document)
    out.write_text(offline(page, data.get("statistics") or {}, run_id, quality), encoding="utf-8")
    return out
