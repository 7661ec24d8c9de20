"""The warehouse's pages in a real browser: nothing requested off the machine, no console error, key elements drawn."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.harness import ALL, STEEL, Visit, pages, visit

pytestmark = pytest.mark.slow  # the seeds built with the model-side stages first (over 20 s)


def _clean(v: Visit) -> None:
    assert v.remote == [], f"requests leaving the machine: {v.remote}"
    assert all(u.startswith(("file://", "data:", "about:")) for u in v.requests)
    assert v.console_errors == [], v.console_errors
    assert v.page_errors == [], v.page_errors


def test_site_index(chrome: Any, site_wh: Any) -> None:
    with visit(chrome, pages(site_wh)["site"]) as (page, v):
        assert page.locator("tr.ds-row").count() == len(ALL)
        assert sorted(page.locator("tr.ds-row").evaluate_all("rs => rs.map(r => r.dataset.ds)")) == sorted(ALL)
        assert page.locator("tr.ds-row .badge").count() == len(ALL)
        assert page.locator("section.dataset svg.trend").count() == len(ALL)
        assert page.locator("section.dataset svg.heatmap").count() == len(ALL)
        assert page.locator(f"#ds-{STEEL} svg.trend circle.point").count() == 2, "steel has v1 and v2"
        box = page.locator(f"#ds-{STEEL} svg.trend").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
        # the search box and the level filter hide what does not match
        page.fill("#q", "steel")
        assert page.locator("tr.ds-row:visible").count() == 1 and page.locator("section.dataset:visible").count() == 1
        assert page.inner_text("#shown") == f"1 of {len(ALL)} datasets"
        page.fill("#q", "")
        level = page.locator("tr.ds-row").first.get_attribute("data-level")
        page.select_option("#level", level)
        expected = page.locator(f'tr.ds-row[data-level="{level}"]').count()
        assert 0 < expected < len(ALL), "the seeds are not all of one level"
        assert page.locator("tr.ds-row:visible").count() == expected
        # a CJK font is there for Chinese names (fonts-noto-cjk)
        assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '数据')")
        # every link opens a page of the warehouse
        hrefs = page.locator("section.dataset a").evaluate_all("as => as.map(a => a.href)")
    assert hrefs and all(h.startswith("file://") for h in hrefs)
    _clean(v)


def test_quality_report(chrome: Any, site_wh: Any) -> None:
    with visit(chrome, pages(site_wh)["report"]) as (page, v):
        assert page.locator(".badge").count() >= 1
        assert page.locator("svg").count() >= 2, "the dimension bars and the score trend"
    _clean(v)


def test_card(chrome: Any, site_wh: Any) -> None:
    with visit(chrome, pages(site_wh)["card"]) as (page, v):
        assert "Field dictionary" in page.locator("h2").all_inner_texts()
        assert page.locator("table").count() >= 2
    _clean(v)


def test_model_page(chrome: Any, site_wh: Any) -> None:
    with visit(chrome, pages(site_wh)["model_page"]) as (page, v):
        assert page.locator("h1").inner_text().startswith(f"{STEEL} v2")
        assert "Demands" in page.locator("h2").all_inner_texts() and page.locator("table").count() >= 1
    _clean(v)


def test_ge_data_docs(chrome: Any, site_wh: Any) -> None:
    # GE's template loads Bootstrap, jQuery, Vega and Font Awesome from CDNs (16 of 17 requests, 7 hosts);
    # the offline rendering must load nothing, raise no error, and keep the show-failed-only buttons working.
    with visit(chrome, pages(site_wh)["data_docs"]) as (page, v):
        assert page.locator("table").count() >= 1
        assert "How to read this page" in page.locator(".moshu-note").inner_text()
        page.evaluate("hideSucceededValidations()")
        page.evaluate("showAllValidations()")
    _clean(v)
