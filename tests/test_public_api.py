"""The public API: `__all__` is complete and resolvable, errors are all exported, and importing stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pipelines
from pipelines import errors


def test_every_public_name_resolves() -> None:
    for name in pipelines.__all__:
        assert getattr(pipelines, name) is not None


def test_every_error_is_exported() -> None:
    classes = {
        n for n, o in inspect.getmembers(errors, inspect.isclass) if issubclass(o, Exception) and o.__module__ == errors.__name__
    }
    assert classes <= set(pipelines.__all__)
    assert classes == set(errors.__all__) - {"SpecIssue"}


def test_catalog_client_path_imports_no_heavy_library() -> None:
    code = (
        "import sys, pipelines.cli, pipelines.catalog.client\n"
        "heavy = [m for m in ('dagster', 'great_expectations', 'pandera', 'polars', 'pandas') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_all_lists_exactly_the_lazy_names() -> None:
    assert set(pipelines.__all__) == {"__version__", *pipelines._EXPORTS}
    assert len(pipelines.__all__) == len(set(pipelines.__all__))


def test_the_package_is_typed_for_its_users() -> None:
    from pathlib import Path

    assert (Path(pipelines.__file__).parent / "py.typed").is_file()
