"""Browser fixtures: the system Chromium (the tests skip without it) and the seeds' warehouse with its site."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.harness import browser, chromium, shared_site_warehouse
from tests.conftest import Built


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    """A headless system Chromium driven by playwright, stopped after the module.

    Playwright's sync API runs its own asyncio loop; when it stops, the loop's `shutdown_asyncgens`
    coroutine is dropped unawaited, and its "never awaited" warning would surface later, in whichever
    test the garbage collector happens to run (warnings are errors). It is collected here instead.
    """
    if chromium() is None:
        pytest.skip("no `chromium` on the PATH: `apt-get install -y chromium fonts-noto-cjk` (or `make browser`) to run these")
    with browser() as b:
        yield b
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gc.collect()


@pytest.fixture(scope="session")
def site_wh(tmp_path_factory: pytest.TempPathFactory, built: Built) -> Any:
    """The seeds' warehouse with model pages, cards, steel v2 and the catalog site."""
    return shared_site_warehouse(tmp_path_factory, built.project.root)
