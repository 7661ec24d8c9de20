"""The catalog site (`moshu site`): one offline page over every dataset, its charts, and its relative links."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import urllib.request
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from typer.testing import CliRunner

from pipelines.catalog.client import CatalogClient
from pipelines.cli import app
from pipelines.quality.guide import LEVELS
from pipelines.report.site import DatasetView, VersionView, refresh_site, render, write_site
from pipelines.report.site_page import dimension_heatmap, level_trend, nice_ticks, score_range
from pipelines.warehouse import Warehouse
from tests.browser.harness import ALL, STEEL, shared_site_warehouse
from tests.conftest import Built


class _Page(HTMLParser):
    """Links, resources and elements of a page, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.resources: list[str] = []
        self.rows: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append(str(a["href"]))
        if tag in ("script", "img", "link", "iframe", "source", "use") and (a.get("src") or a.get("href")):
            self.resources.append(str(a.get("src") or a.get("href")))
        if tag == "tr" and "ds-row" in (a.get("class") or ""):
            self.rows.append(a)


def _parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    return p


def _circles(svg: str) -> dict[int, float]:
    """cy of every version's point in a trend chart."""
    return {int(v): float(cy) for v, cy in re.findall(r'data-version="(\d+)" data-score="[^"]+" cx="[^"]+" cy="([^"]+)"', svg)}


def test_trend_zooms_so_close_scores_stand_apart() -> None:
    svg = level_trend([(1, 0.9998, "published", "gold"), (2, 0.9990, "published", "silver"), (3, 0.9995, "rejected", "gold")])
    lo, hi = score_range([0.9998, 0.9990, 0.9995])
    assert 0.998 < lo < 0.9990 and 0.9998 < hi <= 1.0
    cy = _circles(svg)
    assert cy[2] - cy[1] > 60, "0.9990 is drawn well below 0.9998 (y grows downwards)"
    assert "band-gold" in svg and "band-silver" not in svg, "only the bands the axis shows"
    assert re.findall(r'class="tick xtick">(v\d+)<', svg) == ["v1", "v2", "v3"]
    assert 'fill="#fff"' in svg, "the rejected candidate is a hollow point"
    assert "v2 published, level silver: score 0.9990 (in the gold band)" in svg, "a point has its level, not its band's"


def test_trend_draws_every_band_and_threshold_the_scores_cross() -> None:
    svg = level_trend([(1, 0.78, "rejected", "uncertified"), (2, 0.97, "published", "gold")])
    for name, low in LEVELS:
        assert f"band-{name}" in svg and f"{name} \u2265 {low:g}" in svg
    assert "band-uncertified" in svg
    assert svg.count('class="threshold"') == len(LEVELS)
    assert level_trend([(1, None, "rejected", "uncertified")]).startswith("<p"), "nothing to draw without a score"


def test_ticks_are_round_and_inside_the_axis() -> None:
    ticks, decimals = nice_ticks(0.99876, 1.0)
    assert [f"{t:.{decimals}f}" for t in ticks] == ["0.9990", "0.9995", "1.0000"]
    ticks, decimals = nice_ticks(0.7, 1.0)
    assert decimals == 1 and [f"{t:.1f}" for t in ticks] == ["0.7", "0.8", "0.9", "1.0"]


def test_heatmap_writes_each_score_in_its_cell() -> None:
    svg = dimension_heatmap({"completeness": {1: 0.9991, 2: 1.0}, "accuracy": {2: 0.85}}, [1, 2])
    assert ">0.9991<" in svg and ">1.0000<" in svg and ">0.8500<" in svg and ">n/a<" in svg
    assert svg.count('class="cell"') == 4


def test_chinese_names_render_unescaped_with_a_cjk_font_stack() -> None:
    v = VersionView(1, "published", "gold", 0.99, "2026-12-07 10:00", 10, 0)
    html = render([DatasetView("cnc_a", "数控线 A 主轴负载", "工艺部", "李伟", "important", None, [v])], "now")
    assert "数控线 A 主轴负载" in html and "李伟" in html
    assert '"Noto Sans CJK SC"' in html and '"Microsoft YaHei"' in html and "&#34;Noto" not in html


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, built: Built) -> Warehouse:
    # a private copy of the session's built project (shared with the browser tests); steel rebuilt into v2
    return shared_site_warehouse(tmp_path_factory, built.project.root)


@pytest.mark.slow
def test_the_site_lists_every_dataset_from_the_catalog(site: Warehouse) -> None:
    html = (site.root / "site" / "index.html").read_text(encoding="utf-8")
    page = _parse(html)
    assert sorted(r["data-ds"] or "" for r in page.rows) == sorted(ALL)
    with CatalogClient(site.root) as cat:
        meta = {r[0]: r[1:] for r in cat.rows("SELECT name, owner, cdo, grade FROM datasets")}
        latest = {r[0]: r[1:] for r in cat.rows("SELECT name, version, level, score FROM latest_versions")}
        met = {r[0]: r[1:] for r in cat.rows("SELECT r.dataset, count(*) FILTER (WHERE met), count(*) FROM demand_results r "
                                              "JOIN latest_versions l ON l.name = r.dataset AND l.version = r.version GROUP BY ALL")}  # fmt: skip
        compared, flagged = cat.rows("SELECT count(*), count(*) FILTER (WHERE flagged) FROM anomalies WHERE name = ?", [STEEL])[0]
        proposed = cat.rows("SELECT count(*) FROM feedback_status WHERE dataset = ? AND status = 'proposed'", [STEEL])[0][0]
    for row in page.rows:
        name = row["data-ds"] or ""
        owner, cdo, grade = meta[name]
        version, level, score = latest[name]
        m = re.search(rf'<tr class="ds-row" data-ds="{name}".*?</tr>', html, re.S)
        assert m is not None
        cells = re.sub(r"<[^>]+>", "|", m.group(0))
        assert owner in cells and grade in cells and f"v{version}" in cells and f"{score:.4f}" in cells
        assert cdo in cells and row["data-level"] == level and f'<span class="badge {level}">{level}</span>' in m.group(0)
        if name in met:
            assert f"{met[name][0]} / {met[name][1]}" in cells
    assert compared > 0, "steel v2 was compared with v1"
    assert proposed > 0, "the detector proposed label errors on steel"
    steel_row = re.search(rf'<tr class="ds-row" data-ds="{STEEL}".*?</tr>', html, re.S)
    assert steel_row is not None
    assert re.findall(r'<td class="num">([\d,]+)</td>', steel_row.group(0))[-1] == f"{proposed:,}", "findings to review"
    steel = html[html.index(f'<section class="dataset" id="ds-{STEEL}"') :]
    assert (f"None flagged in {compared:,} comparisons" in steel) if flagged == 0 else ("compared with" in steel)
    assert "No comparison recorded" in html[: html.index(f'id="ds-{STEEL}"')], "the other seeds have no `anomalies` block"
    assert _circles(steel.split("</svg>")[0]).keys() == {1, 2}, "the trend has a point per version"
    assert 'class="heatmap"' in steel and 'data-version="2"' in steel
    with CatalogClient(site.root) as cat:
        for (why,) in cat.rows("SELECT level_reasons[1] FROM latest_versions"):
            assert f'<td class="why">{escape(why, quote=True)}</td>' in html, "each version says why it has its level"


@pytest.mark.slow
def test_links_are_relative_and_reach_every_page_of_every_version(site: Warehouse, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    shutil.copytree(site.root, moved)  # the warehouse moved: the links still work
    html = (moved / "site" / "index.html").read_text(encoding="utf-8")
    page = _parse(html)
    files = [h for h in page.hrefs if not h.startswith("#")]
    assert files and all(h.startswith("../datasets/") for h in files)
    for h in files:
        assert (moved / "site" / unquote(h)).resolve().is_file(), h
    for name in ALL:
        for v in Warehouse(moved).versions(name):
            for page_rel in (f"cards/v{v}.html", f"models/v{v}.html", f"v{v}/quality/report.html"):
                assert f"../datasets/{name}/{page_rel}" in files, (name, page_rel)
    assert f"../datasets/{STEEL}/v2/quality/data_docs.html" in files


@pytest.mark.slow
def test_the_page_asks_for_nothing_outside_the_file(site: Warehouse) -> None:
    html = (site.root / "site" / "index.html").read_text(encoding="utf-8")
    assert _parse(html).resources == [], "no script, stylesheet or image is loaded from anywhere"
    assert re.findall(r"(?:https?:)?//[\w.-]+", html.replace('xmlns="http://www.w3.org/2000/svg"', "")) == []
    assert "@import" not in html and "url(" not in html


@pytest.mark.slow
def test_moshu_site_rewrites_the_page_and_prints_its_path(site: Warehouse) -> None:
    index = site.root / "site" / "index.html"
    index.unlink()
    res = CliRunner().invoke(app, ["site", "--warehouse", str(site.root)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(index) and index.is_file()
    assert oct(index.stat().st_mode & 0o777) == "0o644"


def test_a_site_that_cannot_be_written_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pipelines.report.site"):
        assert refresh_site(Warehouse(tmp_path / "no_warehouse")) is None
    assert "could not write the catalog site" in caplog.text and "moshu site" in caplog.text
    with pytest.raises(Exception, match="no catalog"):
        write_site(Warehouse(tmp_path / "no_warehouse"))


@pytest.mark.slow
def test_serve_hands_out_the_site_over_http(site: Warehouse) -> None:
    cmd = [sys.executable, "-m", "pipelines.cli", "site", "--serve", "--port", "0", "--warehouse", str(site.root)]
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            m = re.search(r"serving (http://127\.0\.0\.1:\d+/site/index\.html)", line)
            assert m is not None, line
            with urllib.request.urlopen(m.group(1), timeout=30) as r:
                assert r.status == 200 and "<h1>Dataset catalog</h1>" in r.read().decode("utf-8")
            report = m.group(1).replace("site/index.html", f"datasets/{STEEL}/v2/quality/report.html")
            with urllib.request.urlopen(report, timeout=30) as r:
                assert r.status == 200, "the links of the site work through the server too"
        finally:
            proc.terminate()  # the server resets SIGTERM to its default, even when this process ignores it
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
