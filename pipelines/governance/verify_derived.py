"""Verify the files derived from the catalog beside the versions: split assignments, dataset cards and model pages.

Each is deterministic, so `verify` regenerates it and compares: a split file must equal the assignment
its demand's recorded definition gives for the version (and the catalog's `splits` rows its counts),
a card (Markdown and HTML) the card generated from the catalog and the manifest, a model page the page
generated from the catalog. Each differs only if it was edited, or if the catalog changed after it was
written (a run rewrites cards and model pages). Every file is checked on its own: one that cannot be
read is a problem, and the others are still checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.governance.findings import Ctx

__all__ = ["check_derived"]


def check_derived(ctx: Ctx, name: str, version: int, manifest: dict[str, Any]) -> None:
    """Check the splits, cards and model page of one version; every failure is a problem in `ctx`."""
    if ctx.catalog is None:
        return
    from pipelines.models.stage import split_path

    rows = ctx.catalog.rows(
        "SELECT DISTINCT s.demand, s.split_hash, d.definition FROM splits s JOIN demands d USING (demand) "
        "WHERE s.dataset = ? AND s.version = ? ORDER BY s.demand",
        [name, version],
    )
    for demand_name, recorded, definition in rows:
        path = split_path(ctx.warehouse, name, version, demand_name)
        what = f"recomputing the split of demand `{demand_name}`"
        ctx.guarded(
            name, version, path, what, _check_split, ctx, name, version, manifest, demand_name, recorded, definition, path
        )
    from pipelines.report.card import CARDS_DIR
    from pipelines.report.model_page import MODELS_DIR

    md = ctx.warehouse.dataset_dir(name) / CARDS_DIR / f"v{version}.md"
    html = md.with_suffix(".html")
    if md.is_file() or html.is_file():
        ctx.guarded(name, version, md, "regenerating the dataset card", _check_card, ctx, name, version, md, html)
    page = ctx.warehouse.dataset_dir(name) / MODELS_DIR / f"v{version}.html"
    if page.is_file():
        ctx.guarded(name, version, page, "regenerating the model page", _check_model_page, ctx, name, version, page)


def _check_split(
    ctx: Ctx, name: str, version: int, manifest: dict[str, Any], demand_name: str, recorded: str, definition: str, path: Path
) -> None:
    import polars as pl

    from pipelines.models.demand import Demand
    from pipelines.models.splits import make_split, split_hash

    demand = Demand.model_validate_json(definition)
    if split_hash(demand) != recorded:
        return  # the demand changed since; the next run re-cuts the split
    if not path.is_file():
        ctx.add(name, version, path, "split assignment file is missing", "present", "missing")
        return
    pk = list(manifest.get("primary_key", []))
    result = make_split(pl.scan_parquet(ctx.warehouse.data_files(name, version)), demand, pk)
    if not pl.read_parquet(path).equals(result.assignment):
        ctx.add(name, version, path, f"split assignment differs from what demand `{demand_name}` gives", "recomputed", "edited")
    assert ctx.catalog is not None
    stored = {
        s: (rows, entities, json.loads(counts) if counts else {}, leak_free)
        for s, rows, entities, counts, leak_free in ctx.catalog.rows(
            "SELECT split, rows, entities, class_counts, leak_free FROM splits WHERE dataset = ? AND version = ? AND demand = ?",
            [name, version, demand_name],
        )
    }
    for s in result.stats:
        want = (s.rows, s.entities, s.class_counts, result.leak_free)
        got = stored.get(s.split)
        if got != want:
            ctx.add(name, version, path, f"the catalog's `splits` row `{demand_name}`/`{s.split}` differs from the split",
                    f"rows, entities, classes, leak_free = {want}", got if got is not None else "no row")  # fmt: skip


def _check_card(ctx: Ctx, name: str, version: int, md: Path, html: Path) -> None:
    from pipelines.report.card import card_html, card_markdown

    text = card_markdown(ctx.warehouse, name, version, ctx.catalog)
    if md.is_file() and md.read_text(encoding="utf-8") != text:
        ctx.add(name, version, md, "dataset card differs from the one generated from the catalog", "regenerated", "edited")
    if html.is_file():
        assert ctx.catalog is not None
        titles = ctx.catalog.rows("SELECT title FROM datasets WHERE name = ?", [name])
        title = f"{(titles[0][0] if titles else None) or name} ({name} v{version}): dataset card"
        if html.read_bytes() != card_html(text, title).encode("utf-8"):
            ctx.add(name, version, html, "dataset card (HTML) differs from the one generated from the catalog",
                    "regenerated", "edited")  # fmt: skip


def _check_model_page(ctx: Ctx, name: str, version: int, page: Path) -> None:
    from pipelines.report.model_page import model_page_html

    assert ctx.catalog is not None
    row = ctx.catalog.rows("SELECT status, level FROM versions WHERE name = ? AND version = ?", [name, version])
    if not row:
        return  # a version without a catalog row is reported by `verify`
    html = model_page_html(ctx.catalog, name, version, row[0][0], row[0][1])
    if page.read_bytes() != html.encode("utf-8"):
        ctx.add(name, version, page, "model page differs from the one generated from the catalog", "regenerated", "edited")
