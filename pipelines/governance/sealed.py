"""Column sensitivities and dataset grades as each version's manifest records them: what the guard trusts beside the catalog.

The catalog is an index anyone with write access to its file can edit; a version's manifest is hashed into
the audit log at publish (`moshu verify` checks both). The guard takes the stricter of the two, so a
sensitivity or a grade lowered in the catalog alone opens nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

_STRICTNESS = {"public": 0, "confidential": 1, "personal": 2}


def stricter(a: str | None, b: str | None) -> str | None:
    """The stricter of two sensitivities; None (unknown) is the strictest, as a NULL sensitivity counts as personal."""
    if a is None or b is None:
        return None
    return a if _STRICTNESS.get(a, 2) >= _STRICTNESS.get(b, 2) else b


def manifest_sensitivities(root: Path, name: str, version: int) -> dict[str, str | None] | None:
    """Column -> sensitivity as the version's manifest records it, or None when the manifest cannot be read
    (then every column of that version counts as personal: its files are not to be trusted either).

    Args:
        root: The warehouse folder.
        name: The dataset.
        version: The version.
    """
    path = root / "datasets" / name / f"v{version}" / "manifest.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8")).get("schema") or []
        # a column whose manifest records no sensitivity (an older manifest) is left to the catalog
        return {str(c["name"]): c["sensitivity"] for c in schema if isinstance(c, dict) and "name" in c and "sensitivity" in c}
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return None


def sealed_sensitivity(catalog: str | None, manifest: dict[str, str | None] | None, column: str) -> str | None:
    """The sensitivity the guard applies to one column: the stricter of the catalog's and the manifest's."""
    if manifest is None:
        return "personal"
    return stricter(catalog, manifest.get(column, catalog))


_GRADES = {"general": 0, "important": 1, "core": 2}


def stricter_grade(a: str | None, b: str | None) -> str | None:
    """The stricter of two GB/T 43697 grades; None (unclassified) is the strictest, as a NULL grade counts as core."""
    if a is None or b is None:
        return None
    return a if _GRADES.get(a, 2) >= _GRADES.get(b, 2) else b


def manifest_grade(root: Path, name: str, version: int) -> str | None:
    """The grade a version's manifest was published with: None when there is no version folder (a catalog row
    without files, which `moshu verify` reports) or the manifest records no grade; `core` when a manifest is
    there but cannot be read (its files are not to be trusted either)."""
    path = root / "datasets" / name / f"v{version}" / "manifest.json"
    if not path.parent.is_dir():
        return None
    try:
        grade = (json.loads(path.read_text(encoding="utf-8")).get("classification") or {}).get("grade")
    except (OSError, ValueError, AttributeError):
        return "core"
    return grade if isinstance(grade, str) else None
