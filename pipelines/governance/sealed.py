"""Column sensitivities and dataset grades as each version's manifest records them: what the guard trusts beside the catalog.

The catalog is an index anyone with write access to its file can edit; a version's manifest is hashed into
the audit log at publish (`moshu verify` checks both). The guard takes the stricter of the two, so a
sensitivity or a grade lowered in the catalog alone opens nothing. Each manifest is read once (`read_sealed`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

_SENSITIVITIES = {"public": 0, "confidential": 1, "personal": 2}
_GRADES = {"general": 0, "important": 1, "core": 2}


def stricter(a: str | None, b: str | None, order: dict[str, int] = _SENSITIVITIES) -> str | None:
    """The stricter of two values of `order` (sensitivities by default, or grades); None (unknown) is the
    strictest, as a NULL sensitivity counts as personal and a NULL grade as core."""
    if a is None or b is None:
        return None
    return a if order.get(a, 2) >= order.get(b, 2) else b


@dataclass(frozen=True)
class Sealed:
    """What one version's manifest says of its grade and its columns' sensitivities.

    Attributes:
        readable: False when the manifest is there but cannot be read: then the version counts as core and
            every column as personal (its files are not to be trusted either).
        grade: The grade it was published with; None when it records none (an older manifest).
        sensitivities: Column -> sensitivity, for the columns whose sensitivity it records.
    """

    readable: bool
    grade: str | None = None
    sensitivities: dict[str, str] = field(default_factory=dict)


def read_sealed(root: Path, name: str, version: int) -> Sealed | None:
    """The version's manifest as the guard reads it; None when there is no version folder (a catalog row without
    files, which `moshu verify` reports).

    Args:
        root: The warehouse folder.
        name: The dataset.
        version: The version.
    """
    vdir = root / "datasets" / name / f"v{version}"
    if not vdir.is_dir():
        return None
    try:
        m = json.loads((vdir / "manifest.json").read_text(encoding="utf-8"))
        grade = (m.get("classification") or {}).get("grade")
        schema = m.get("schema") or []
        sens = {str(c["name"]): c["sensitivity"] for c in schema if isinstance(c, dict) and "name" in c and "sensitivity" in c}
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return Sealed(readable=False)
    return Sealed(True, grade if isinstance(grade, str) else None, sens)


def sealed_sensitivity(catalog: str | None, sealed: Sealed | None, column: str) -> str | None:
    """The sensitivity the guard applies to one column: the stricter of the catalog's and the manifest's
    (personal when the version has no readable manifest)."""
    if sealed is None or not sealed.readable:
        return "personal"
    return stricter(catalog, sealed.sensitivities.get(column, catalog))


def sealed_grade(catalog: str | None, sealed: Sealed | None) -> str | None:
    """The grade the guard applies after one version: the stricter of the catalog's and the manifest's
    (core when the manifest cannot be read; the catalog's when there is no folder or no recorded grade)."""
    if sealed is None:
        return catalog
    if not sealed.readable:
        return "core"
    return catalog if sealed.grade is None else stricter(catalog, sealed.grade, _GRADES)
