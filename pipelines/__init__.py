"""moshu: curate raw factory data into certified, versioned, SQL-queryable datasets.

The public Python API is what `__all__` lists; everything else is private and may change. Names are
imported lazily, so `import pipelines` stays light (the catalog client needs only DuckDB).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "BadFileError": "pipelines.errors",
    "CatalogClient": "pipelines.catalog.client",
    "CatalogError": "pipelines.errors",
    "CountMismatchError": "pipelines.errors",
    "FeedbackError": "pipelines.errors",
    "GuardedClient": "pipelines.governance.guard",
    "PolicyError": "pipelines.errors",
    "load_policy": "pipelines.governance.policy",
    "InitError": "pipelines.errors",
    "IntegrityError": "pipelines.errors",
    "MoshuError": "pipelines.errors",
    "NotFoundError": "pipelines.errors",
    "QualityGateError": "pipelines.errors",
    "RunCancelled": "pipelines.errors",
    "Settings": "pipelines.settings",
    "SourceError": "pipelines.errors",
    "SpecError": "pipelines.errors",
    "Warehouse": "pipelines.warehouse",
    "load_project": "pipelines.spec.loader",
    "register_model_run": "pipelines.models.feedback",
    "review_feedback": "pipelines.models.feedback",
    "submit_feedback": "pipelines.models.feedback",
    "run_dataset": "pipelines.runner",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
