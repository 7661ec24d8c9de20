"""Close the crash windows of a Delta commit: a version committed to the log whose folder was not renamed into
place, whose folder is gone, or whose quarantine commit did not follow (see `pipelines.storage.commit`).

* A `.tmp-v<N>-*` folder whose manifest is the one committed as version N is renamed into `v<N>`: the
  run stopped between its commit and the rename.
* A committed version with no folder at all gets `v<N>/manifest.json` written back from the commit
  (its quality pages are gone; `moshu verify` goes on listing them as missing files).
* A published version with no quarantine commit gets it, from the files its manifest lists.

Every step runs under the dataset's publish lock, so it never races a live run of the dataset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipelines.storage.commit import commit_quarantine
from pipelines.storage.delta import PUBLISHED, QUARANTINE, history
from pipelines.warehouse import MANIFEST, Warehouse

__all__ = ["restore_committed"]

TMP_PREFIX = ".tmp-v"


def _tmp_manifest(p: Path) -> dict[str, object] | None:
    try:
        data = json.loads((p / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def restore_committed(warehouse: Warehouse, name: str) -> list[str]:
    """Restore what the dataset's Delta log commits and the folders lack (caller holds the dataset's lock);
    one sentence per thing done."""
    done: list[str] = []
    commits = {c.version: c for c in history(warehouse.table_dir(name, PUBLISHED))}
    if not commits:
        return done
    ddir = warehouse.dataset_dir(name)
    for p in sorted(ddir.glob(f"{TMP_PREFIX}*")):
        m = _tmp_manifest(p)
        number = m.get("version") if m else None
        c = commits.get(number) if isinstance(number, int) else None
        final = warehouse.version_dir(name, c.version) if c else None
        if c is not None and final is not None and c.manifest == m and not final.exists():
            os.rename(p, final)
            done.append(f"{final.relative_to(warehouse.root).as_posix()}: committed to the Delta log by a run that "
                        "stopped before renaming its folder into place; renamed")  # fmt: skip
    for version, c in sorted(commits.items()):
        vdir = warehouse.version_dir(name, version)
        if not vdir.exists() and c.manifest is not None:
            vdir.mkdir(parents=True)
            (vdir / MANIFEST).write_text(json.dumps(c.manifest, indent=2, ensure_ascii=False), encoding="utf-8")
            done.append(f"{vdir.relative_to(warehouse.root).as_posix()}: manifest written back from the Delta commit "
                        f"(Delta version {c.delta_version}); its quality pages are lost")  # fmt: skip
    held = {c.version for c in history(warehouse.table_dir(name, QUARANTINE))}
    for version, c in sorted(commits.items()):
        if version not in held and c.manifest is not None and (not held or version > max(held)):
            commit_quarantine(warehouse, name, c.manifest)
            held.add(version)
            done.append(f"datasets/{name}/{QUARANTINE}: the quarantine of v{version} committed from its manifest")
    return done
