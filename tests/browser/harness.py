"""Open the warehouse's HTML pages in the system Chromium (through playwright) and record what each page asks for.

Shared by the browser tests and by `make screenshots` (`python -m tests.browser.harness OUT_DIR`). Chromium is
never downloaded: the one on the PATH is driven (`apt-get install chromium fonts-noto-cjk` on Debian).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

LOCAL = ("file://", "data:", "about:")
WIDTH = 1280
STEEL = "steel_plates_faults"
ALL = ("ai4i2020", "cmapss", "cnc_line", STEEL)


def chromium() -> str | None:
    """The system Chromium, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Visit:
    """One page as the browser loaded it: every request it made, console errors, uncaught exceptions."""

    url: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def remote(self) -> list[str]:
        """Requests that would leave the machine (anything but file:, data:, about:)."""
        return [u for u in self.requests if not u.startswith(LOCAL)]


@contextmanager
def browser() -> Iterator[Any]:
    """A headless system Chromium; raises RuntimeError when there is none."""
    from playwright.sync_api import sync_playwright

    path = chromium()
    if path is None:
        raise RuntimeError("no `chromium` on the PATH: install it with `apt-get install -y chromium fonts-noto-cjk`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@contextmanager
def visit(b: Any, path: Path, height: int = 900) -> Iterator[tuple[Any, Visit]]:
    """Open a file in a fresh page, 1280 wide; requests off the machine are recorded, then refused (the test is offline).

    Yields:
        The playwright page and its `Visit` record (filled while the page loads and as long as it is open).
    """
    page = b.new_page(viewport={"width": WIDTH, "height": height})
    v = Visit(path.as_uri())
    page.on("request", lambda r: v.requests.append(r.url))
    page.on("console", lambda m: v.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: v.page_errors.append(str(e)))
    page.route(re.compile(r"^(https?|wss?|ftp)://"), lambda route: route.abort())
    try:
        page.goto(v.url, wait_until="load")
        yield page, v
    finally:
        page.close()


def build_site_warehouse(root: Path, copy_of: Path | None = None) -> Any:
    """The seeds built into `root/warehouse` with the model-side stages (and steel's detector), steel rebuilt into v2,
    cards, model pages and the site.

    Args:
        root: An empty folder for the project copy.
        copy_of: An already built project (specs, seeds, warehouse) to copy instead of building the seeds again.

    Returns:
        The `Warehouse`.
    """
    from pipelines.models.detector import run_detector
    from pipelines.models.stage import curate_for_models
    from pipelines.models.trial import run_trials
    from pipelines.report.card import write_cards
    from pipelines.report.model_page import write_model_pages
    from pipelines.report.site import write_site
    from pipelines.spec.loader import load_project
    from pipelines.warehouse import Warehouse
    from tests.conftest import build, copy_project

    if copy_of is not None:
        shutil.copytree(copy_of, root)
    else:
        copy_project(root)
    wh = Warehouse(root / "warehouse")
    if copy_of is None:
        build(root, wh)
    # steel v2: one raw value changed, and anomaly comparisons switched on (v2 is compared with v1)
    seed = root / "seeds" / STEEL / "Faults.NNA"
    text = seed.read_text(encoding="utf-8")
    seed.write_text("43" + text[2:] if text.startswith("42\t") else text, encoding="utf-8")
    spec = root / "dataset_specs" / f"{STEEL}.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "anomalies: {sensitivity: medium}\n", encoding="utf-8")
    build(root, wh, [STEEL])
    project = load_project(root)
    for name in ALL:
        curate_for_models(project.datasets[name], wh, root)
        run_trials(project.datasets[name], wh)
        if name == STEEL:  # findings to review: the label-issue detector's proposals
            run_detector(project.datasets[name], wh)
        write_model_pages(wh, name)
        write_cards(wh, name)
    write_site(wh)
    return wh


_BUILT: dict[Path, Any] = {}


def shared_site_warehouse(factory: Any, built_root: Path) -> Any:
    """`build_site_warehouse` from a copy of the session's built project, made once per test session."""
    if built_root not in _BUILT:
        _BUILT[built_root] = build_site_warehouse(factory.mktemp("site") / "p", copy_of=built_root)
    return _BUILT[built_root]


def pages(wh: Any) -> dict[str, Path]:
    """The pages the browser checks: the site, a quality report, a card, a model page, GE Data Docs."""
    v = wh.version_dir("cnc_line", 1)
    return {
        "site": wh.root / "site" / "index.html",
        "report": v / "quality" / "report.html",
        "card": wh.dataset_dir("cnc_line") / "cards" / "v1.html",
        "model_page": wh.dataset_dir(STEEL) / "models" / "v2.html",
        "data_docs": wh.version_dir("ai4i2020", 1) / "quality" / "data_docs.html",
        "card_cmapss": wh.dataset_dir("cmapss") / "cards" / "v1.html",
    }


SCREENSHOTS = {"site": "site_index.png", "report": "report_cnc_line.png", "card": "card_cnc_line.png",
               "model_page": "model_page_steel_plates_faults.png", "card_cmapss": "card_cmapss.png",
               "data_docs": "data_docs_ai4i2020.png"}  # fmt: skip


def _save_small(png: bytes, path: Path) -> None:
    """Save a screenshot with a 256-colour palette (a third of the size; text and charts stay sharp)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def screenshots(wh: Any, out: Path) -> list[Path]:
    """Full-page PNGs, 1280 wide, of the site, a report, two cards, a model page and GE Data Docs into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    found = pages(wh)
    written = []
    with browser() as b:
        for key, file_name in SCREENSHOTS.items():
            with visit(b, found[key]) as (page, _):
                png = page.screenshot(full_page=True)
            _save_small(png, out / file_name)
            written.append(out / file_name)
    return written


def main(argv: list[str]) -> int:
    """`python -m tests.browser.harness OUT_DIR`: build the seeds in a temporary folder and write the screenshots."""
    import tempfile

    os.environ.setdefault("MOSHU_PSEUDONYM_KEY", "screenshots-key-0123456789abcdef0123456789abcdef")
    out = Path(argv[0] if argv else "docs/screenshots")
    with tempfile.TemporaryDirectory() as tmp:
        wh = build_site_warehouse(Path(tmp) / "project")
        for p in screenshots(wh, out):
            print(p)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)  # as `moshu` does: skip the interpreter's teardown, where DuckDB's bindings print leak reports
