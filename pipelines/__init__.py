"""moshu: curate raw factory data into certified, versioned, SQL-queryable datasets.

The public Python API is what `__all__` lists; everything else is private and may change. Names are
imported lazily, so `import pipelines` stays light (the catalog client needs only DuckDB).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers see of the lazily imported names (`py.typed` ships with the package)
    from pipelines.catalog.client import CatalogClient
    from pipelines.errors import (
        BadFileError,
        CatalogError,
        CommitConflict,
        CountMismatchError,
        FeedbackError,
        InitError,
        IntegrityError,
        MoshuError,
        NotFoundError,
        PolicyError,
        QualityGateError,
        RunCancelled,
        SourceError,
        SpecError,
        StorageError,
    )
    from pipelines.governance.guard import GuardedClient
    from pipelines.governance.policy import load_policy
    from pipelines.models.feedback import register_model_run, review_feedback, submit_feedback
    from pipelines.runner import run_dataset
    from pipelines.settings import Settings
    from pipelines.spec.loader import load_project
    from pipelines.warehouse import Warehouse

_EXPORTS = {
    "BadFileError": "pipelines.errors",
    "CatalogClient": "pipelines.catalog.client",
    "CatalogError": "pipelines.errors",
    "CommitConflict": "pipelines.errors",
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
    "StorageError": "pipelines.errors",
    "Warehouse": "pipelines.warehouse",
    "load_project": "pipelines.spec.loader",
    "register_model_run": "pipelines.models.feedback",
    "review_feedback": "pipelines.models.feedback",
    "submit_feedback": "pipelines.models.feedback",
    "run_dataset": "pipelines.runner",
}

__all__ = [  # literal, so type checkers and linters read it; tests keep it equal to the lazy table above
    "BadFileError",
    "CatalogClient",
    "CatalogError",
    "CommitConflict",
    "CountMismatchError",
    "FeedbackError",
    "GuardedClient",
    "InitError",
    "IntegrityError",
    "MoshuError",
    "NotFoundError",
    "PolicyError",
    "QualityGateError",
    "RunCancelled",
    "Settings",
    "SourceError",
    "SpecError",
    "StorageError",
    "Warehouse",
    "__version__",
    "load_policy",
    "load_project",
    "register_model_run",
    "review_feedback",
    "run_dataset",
    "submit_feedback",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
