"""Browser fixtures: the system Chromium (the tests skip without it) and the seeds' warehouse with its site."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.harness import browser, chromium, shared_site_warehouse
from tests.conftest import Built


@pytest.fixture(scope="session")
def chrome() -> Iterator[Any]:
    """A headless system Chromium driven by playwright."""
    if chromium() is None:
        pytest.skip("no `chromium` on the PATH: `apt-get install -y chromium fonts-noto-cjk` (or `make browser`) to run these")
    with browser() as b:
        yield b


@pytest.fixture(scope="session")
def site_wh(tmp_path_factory: pytest.TempPathFactory, built: Built) -> Any:
    """The seeds' warehouse with model pages, cards, steel v2 and the catalog site."""
    return shared_site_warehouse(tmp_path_factory, built.project.root)
