"""`moshu verify` on the Delta tables: every version is a commit, carrying its manifest, whose state is its files.

For each dataset with tables (`pipelines.storage.delta`):

* every version folder has a commit of the `published` table naming its number, and that commit's
  manifest is the folder's `manifest.json`, field for field;
* a published version's commit leaves the table holding exactly the files its manifest lists there (a
  rejected candidate's commit changes no file); the same for the `quarantine` table's commit;
* every commit of a moshu version has its version folder (`moshu verify --repair` writes the manifest
  back from the commit when the folder is gone).

The files themselves (sha256, size, rows and content digest) are checked against the manifest by
`pipelines.governance.verify`; what the log adds is that the tables say the same.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.governance.findings import Ctx
from pipelines.storage.delta import PUBLISHED, QUARANTINE, Commit, files_at, history, table_files
from pipelines.warehouse import MANIFEST

__all__ = ["check_tables", "legacy"]


def legacy(manifest: dict[str, Any]) -> bool:
    """Whether a manifest was written before the Delta tables (its data files are in the version folder)."""
    return not table_files(manifest, PUBLISHED) and any(
        str(f.get("path", "")).startswith("data/") for f in manifest.get("files", [])
    )


def check_tables(ctx: Ctx, name: str, manifests: dict[int, dict[str, Any] | None], every: bool = True) -> None:
    """Check a dataset's Delta log against its version folders' manifests (`None`: a manifest that did not parse);
    `every`: `manifests` holds every version folder, so a commit without one is reported."""
    wh = ctx.warehouse
    root = wh.table_dir(name, PUBLISHED)
    commits = {c.version: c for c in history(root)}
    held = {c.version: c for c in history(wh.table_dir(name, QUARANTINE))}
    if not commits and all(m is None or legacy(m) for m in manifests.values()):
        if manifests:
            ctx.add(name, None, wh.dataset_dir(name), "versions written before the Delta tables; run `moshu migrate`",
                    "a `published` Delta table", "version folders only")  # fmt: skip
        return
    for version, manifest in sorted(manifests.items()):
        if manifest is None:
            continue
        c = commits.get(version)
        if c is None:
            ctx.add(name, version, root, "no commit of this version in the Delta log", f"a commit naming v{version}", "none")
            continue
        ctx.report.checked_files += 1
        _check_commit(ctx, name, version, c, manifest)
        _check_state(ctx, name, version, PUBLISHED, c, manifest)
        q = held.get(version)
        if q is None:
            ctx.add(name, version, wh.table_dir(name, QUARANTINE), "no commit of this version in the quarantine table's log",
                    f"a commit naming v{version}", "none")  # fmt: skip
        else:
            _check_state(ctx, name, version, QUARANTINE, q, manifest)
    for version in sorted(set(commits) - set(manifests)) if every else []:
        ctx.add(name, version, wh.version_dir(name, version), "committed in the Delta log but its version folder is gone",
                "a version folder", "missing")  # fmt: skip


def _check_commit(ctx: Ctx, name: str, version: int, c: Commit, manifest: dict[str, Any]) -> None:
    at = ctx.warehouse.version_dir(name, version) / MANIFEST
    if c.manifest is None:
        ctx.add(name, version, at, f"the commit (Delta version {c.delta_version}) carries no manifest", "a manifest", "none")
        return
    if _canonical(c.manifest) != _canonical(manifest):
        diff = sorted(k for k in set(c.manifest) | set(manifest) if c.manifest.get(k) != manifest.get(k))
        ctx.add(name, version, at, f"manifest differs from the one committed (Delta version {c.delta_version})",
                "the committed manifest", f"fields {', '.join(diff[:8])} differ")  # fmt: skip


def _check_state(ctx: Ctx, name: str, version: int, table: str, c: Commit, manifest: dict[str, Any]) -> None:
    root = ctx.warehouse.table_dir(name, table)
    want = {f["inner"] for f in table_files(manifest, table)}
    if manifest.get("status", "published") != "published":
        return  # a rejected candidate's commit adds no file: its files are named by its manifest only
    have = set(files_at(root, c.delta_version))
    if have != want:
        extra, missing = sorted(have - want), sorted(want - have)
        ctx.add(name, version, root, f"the {table} table at Delta version {c.delta_version} does not hold the version's files",
                f"{len(want)} files of the manifest", f"{len(missing)} missing ({', '.join(missing[:3])}), "
                f"{len(extra)} not in the manifest ({', '.join(extra[:3])})")  # fmt: skip


def _canonical(m: dict[str, Any]) -> str:
    return json.dumps(m, sort_keys=True, ensure_ascii=False)
