"""The catalog site: one static, offline page over every dataset of a warehouse (`<warehouse>/site/index.html`).

For the people who look at the data every day: each dataset with owner, CDO, grade, latest version,
level and score; a level trend over the versions with the level bands; the dimension scores across
versions; anomalies, demands met or not, findings to review; and relative links to every version's
quality report, card, GE Data Docs and model page, so the warehouse folder can be moved or copied.
Everything is read through the read-only catalog client; the page loads nothing from the network.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pipelines.catalog.client import CatalogClient
from pipelines.quality.guide import LEVEL_ORDER, LEVELS, UNCERTIFIED
from pipelines.warehouse import Warehouse

SITE_DIR = "site"
INDEX = "index.html"
_log = logging.getLogger(__name__)


@dataclass
class VersionView:
    """One version's row on the site."""

    version: int
    status: str
    level: str
    score: float | None
    created: str
    rows_published: int
    rows_quarantined: int
    links: list[tuple[str, str]] = field(default_factory=list)
    reason: str = ""  # the level's verdict, e.g. `silver: all 16 gates hold, ...; not gold: ...`


@dataclass
class DatasetView:
    """Everything the site shows about one dataset."""

    name: str
    title: str
    owner: str | None
    cdo: str | None
    grade: str | None
    domain: str | None
    versions: list[VersionView]
    trend: str = ""
    heatmap: str = ""
    demands: list[tuple[Any, ...]] = field(default_factory=list)
    flagged: int = 0
    to_review: int = 0
    tables: list[tuple[str, list[str], list[tuple[Any, ...]], str]] = field(default_factory=list)

    @property
    def latest(self) -> VersionView | None:
        """The latest published version, if any."""
        published = [v for v in self.versions if v.status == "published"]
        return published[-1] if published else None

    @property
    def level(self) -> str:
        """The latest published version's level (uncertified without one)."""
        return self.latest.level if self.latest and self.latest.level else UNCERTIFIED

    @property
    def demands_met(self) -> int:
        """How many demands the latest published version meets."""
        return sum(1 for d in self.demands if d[3])

    @property
    def search(self) -> str:
        """The text the page's search box matches, lower case."""
        return " ".join(
            str(x) for x in (self.name, self.title, self.owner, self.cdo, self.grade, self.domain, self.level) if x
        ).lower()


def _href(warehouse: Warehouse, rel: str | None) -> str | None:
    """A link from `site/` to a file given relative to the warehouse, or None when the file is not there."""
    if not rel or not (warehouse.root / rel).is_file():
        return None
    return "../" + quote(rel)


def _links(warehouse: Warehouse, name: str, version: int, report: str | None, data_docs: str | None) -> list[tuple[str, str]]:
    """The pages of one version that exist on disk: quality report, card, GE Data Docs, model page."""
    base = f"datasets/{name}"
    wanted = [
        ("report", report),
        ("card", f"{base}/cards/v{version}.html"),
        ("data docs", data_docs),
        ("model page", f"{base}/models/v{version}.html"),
    ]
    return [(label, href) for label, rel in wanted if (href := _href(warehouse, rel))]


def _versions(cat: CatalogClient, warehouse: Warehouse, name: str) -> list[VersionView]:
    rows = cat.rows(
        "SELECT version, status, level, score, strftime(created_at, '%Y-%m-%d %H:%M'), rows_published, rows_quarantined, "
        "report_path, data_docs_path, coalesce(level_reasons[1], '') FROM versions WHERE name = ? ORDER BY version",
        [name],
    )
    return [
        VersionView(
            v, st or "published", lvl or UNCERTIFIED, sc, created or "", pub, quar, _links(warehouse, name, v, rep, dd), why
        )
        for v, st, lvl, sc, created, pub, quar, rep, dd, why in rows
    ]


def _heatmap_cells(cat: CatalogClient, name: str) -> dict[str, dict[int, float | None]]:
    cells: dict[str, dict[int, float | None]] = {}
    for dim, version, score in cat.rows("SELECT dimension, version, score FROM dimension_trend WHERE name = ?", [name]):
        cells.setdefault(dim, {})[version] = score
    return cells


def _tables(cat: CatalogClient, d: DatasetView) -> None:
    """Anomalies, demands and their gaps, findings to review: the tables under a dataset's charts."""
    anomalies = cat.rows(
        "SELECT 'v' || version, coalesce(partition_key, ''), metric, coalesce(column_name, ''), round(baseline, 4), "
        "round(observed, 4), round(score, 4), round(threshold, 4), CASE WHEN flagged THEN 'flagged' ELSE 'ok' END, reference "
        "FROM anomalies WHERE name = ? AND flagged ORDER BY version DESC, score DESC LIMIT 50",
        [d.name],
    )
    compared, d.flagged = cat.rows("SELECT count(*), count(*) FILTER (WHERE flagged) FROM anomalies WHERE name = ?", [d.name])[0]
    no_anomaly = (
        f"None flagged in {compared:,} comparisons across versions and partitions."
        if compared
        else "No comparison recorded (the spec has no `anomalies` block, or there is no history yet)."
    )
    latest = d.latest.version if d.latest else -1
    d.demands = cat.rows(
        "SELECT r.demand, d.team, d.task, r.met, r.gaps, r.rows, round(r.representativeness, 3), round(r.class_balance, 4) "
        "FROM demand_results r LEFT JOIN demands d USING (demand) WHERE r.dataset = ? AND r.version = ? ORDER BY r.demand",
        [d.name, latest],
    )
    gaps = cat.rows(
        "SELECT demand, kind, key, observed, required, shortfall FROM demand_gaps WHERE dataset = ? AND version = ? "
        "ORDER BY demand, shortfall DESC LIMIT 30",
        [d.name, latest],
    )
    findings = cat.rows(
        "SELECT 'v' || version, kind, count(*) FILTER (WHERE status = 'proposed'), count(*) FILTER (WHERE status = 'accepted'), "
        "count(*) FILTER (WHERE status = 'rejected'), round(avg(confidence), 3) "
        "FROM feedback_status WHERE dataset = ? GROUP BY version, kind ORDER BY version DESC, kind",
        [d.name],
    )
    d.to_review = sum(r[2] for r in findings)
    demand_rows = [(r[0], r[1], r[2], "met" if r[3] else "NOT met", *r[4:]) for r in d.demands]
    d.tables = [
        ("Anomalies flagged", ["version", "partition", "metric", "column", "baseline", "observed", "score", "threshold",
                               "result", "compared with"], anomalies, no_anomaly),
        (f"Demands on v{latest}" if latest > 0 else "Demands", ["demand", "team", "task", "met", "gaps", "rows",
                                                             "representativeness", "class balance"], demand_rows,
         "No model demand on this dataset."),
        ("Gaps (what falls short, by how much)", ["demand", "kind", "key", "observed", "required", "shortfall"], gaps,
         "No gap: every demand is met."),
        ("Findings from models", ["version", "kind", "to review", "accepted", "rejected", "mean confidence"], findings,
         "No finding submitted."),
    ]  # fmt: skip


def gather(cat: CatalogClient, warehouse: Warehouse) -> list[DatasetView]:
    """Read every dataset of the catalog into what the site shows.

    Args:
        cat: An open, read-only catalog client.
        warehouse: The warehouse (to link only the pages that exist on disk).

    Returns:
        One view per dataset, by name.
    """
    from pipelines.report.site_page import dimension_heatmap, level_trend

    out = []
    rows = cat.rows("SELECT name, title, owner, cdo, grade, domain FROM datasets ORDER BY name")
    for name, title, owner, cdo, grade, domain in rows:
        d = DatasetView(name, title or name, owner, cdo, grade, domain, _versions(cat, warehouse, name))
        d.trend = level_trend([(v.version, v.score, v.status, v.level) for v in d.versions])
        d.heatmap = dimension_heatmap(_heatmap_cells(cat, name), [v.version for v in d.versions])
        _tables(cat, d)
        out.append(d)
    return out


def render(datasets: list[DatasetView], generated: str) -> str:
    """The site's HTML page for these datasets."""
    import jinja2
    from markupsafe import Markup

    from pipelines.report.site_page import FONTS, TEMPLATE

    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    for d in datasets:
        d.trend, d.heatmap = Markup(d.trend), Markup(d.heatmap)  # our own SVG, every text in it escaped
    return env.from_string(TEMPLATE).render(
        datasets=datasets,
        generated=generated,
        fonts=Markup(FONTS),
        levels=LEVELS,
        level_names=list(reversed(LEVEL_ORDER)),
        grades=sorted({d.grade for d in datasets if d.grade}),
        score=lambda s: "n/a" if s is None else f"{s:.4f}",
        cell=lambda x: "" if x is None else (f"{x:,}" if isinstance(x, int) and not isinstance(x, bool) else str(x)),
    )


def write_site(warehouse: Warehouse) -> Path:
    """(Re)write `<warehouse>/site/index.html` from the catalog.

    Args:
        warehouse: The warehouse; its catalog is opened read-only (call this after the catalog writer closed).

    Returns:
        The path of `index.html`.

    Raises:
        CatalogError: The catalog is missing or cannot be read.
    """
    with CatalogClient(warehouse.root) as cat:
        datasets = gather(cat, warehouse)
    html = render(datasets, datetime.now(UTC).strftime("%Y-%m-%d %H:%M"))
    folder = warehouse.root / SITE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / INDEX
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=".index-", suffix=".tmp", delete=False) as f:
        f.write(html)  # a file of its own: runs of two datasets may write the site at the same time
    os.chmod(f.name, 0o644)  # readable as any other page of the warehouse (a temporary file is 0600)
    Path(f.name).replace(path)  # a reader never sees half a page
    return path


def refresh_site(warehouse: Warehouse) -> Path | None:
    """Rewrite the site after a run; a failure is logged and never fails the run.

    Returns:
        The path of `index.html`, or None when it could not be written.
    """
    try:
        return write_site(warehouse)
    except Exception as e:  # the site is a convenience: a run's data and catalog are already written
        _log.warning("could not write the catalog site in `%s`: %s; run `moshu site` to retry", warehouse.root / SITE_DIR, e)
        return None
