"""Pages a person reads: no Python reprs, no SQL as headings, counts as whole numbers, warn rules in amber, level bands."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from pipelines.report import charts
from pipelines.report.html import example_text
from pipelines.report.model_page import write_model_pages
from tests.conftest import Built


class _Cells(HTMLParser):
    """Text of every <th> and <td> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.th: list[str] = []
        self.td: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("th", "td"):
            self._in = tag
            getattr(self, tag).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            cells = getattr(self, self._in)
            cells[-1] += data


def _cells(html: str) -> _Cells:
    p = _Cells()
    p.feed(html)
    return p


def test_the_model_page_reads_as_words_not_sql_or_python(built: Built) -> None:
    pages = write_model_pages(built.warehouse, "steel_plates_faults")
    html = (built.warehouse.root / pages[0]).read_text(encoding="utf-8")
    c = _cells(html)
    assert c.th and c.td
    assert not [h for h in c.th if "(" in h or "_" in h], "SQL or identifiers as headings"
    assert not [t for t in c.td if t in ("True", "False")]
    assert not [t for t in c.td if re.fullmatch(r"-?\d+\.0", t)], "a count shown as a float"
    assert not [t for t in c.td if re.search(r"\d{2}:\d{2}:\d{2}\.\d+", t)], "microseconds in a timestamp"
    assert not [t for t in c.td if t.startswith(("{", "["))], "raw JSON in a cell"


def test_the_quality_report_has_no_reprs_and_colours_warn_rules_amber(built: Built) -> None:
    html = (built.warehouse.version_dir("cnc_line", 1) / "quality" / "report.html").read_text(encoding="utf-8")
    c = _cells(html)
    assert not [t for t in c.td if "{'" in t or "['" in t], "a Python repr in a cell"
    # cnc.coolant_temp.rate is a warn rule below its threshold: amber; cnc.ts.increasing an error rule: red
    warn = re.search(r"<tr><td>cnc\.coolant_temp\.rate</td>.*?</tr>", html, re.S)
    assert warn is not None and 'class="warn"' in warn.group(0) and 'class="fail"' not in warn.group(0)
    error = re.search(r"<tr><td>cnc\.ts\.increasing</td>.*?</tr>", html, re.S)
    assert error is not None and 'class="fail"' in error.group(0)
    assert "fail (4)" not in html and "failed, error rule: quarantined" in html


def test_example_text_turns_stored_reprs_into_key_value_text() -> None:
    assert example_text("[{'entity': 'CNC-04', 'present': 387, 'expected': 400.0}]") == "entity=CNC-04, present=387, expected=400"
    assert example_text({"ok": True}) == "ok=yes"
    assert example_text(None) == ""


def test_the_score_trend_draws_the_level_bands_and_labels_the_values() -> None:
    svg = charts.score_trend([(1, 0.9998, "published"), (2, 0.9990, "published")])
    for level in ("gold", "silver", "bronze"):
        assert f">{level}<" in svg or f"{level}</text>" in svg or level in re.sub(r"<[^>]+>", " ", svg)
    text = re.sub(r"<[^>]+>", " ", svg)
    assert "0.9998" in text and "0.9990" in text
