"""The warehouse on disk: where versions, staging and the catalog live, and how to find them."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.errors import NotFoundError

if TYPE_CHECKING:
    from filelock import FileLock

    from pipelines.storage.delta import Table

MANIFEST = "manifest.json"
DATA_DIR = "data"
QUARANTINE_FILE = "quarantine.parquet"
# Every quarantine file of a version: `quarantine.parquet`, or one `quarantine-<partition>.parquet` per partition.
QUARANTINE_GLOB = "quarantine*.parquet"
QUALITY_DIR = "quality"
CATALOG_FILE = "catalog.duckdb"  # in the warehouse folder, and at the root of a remote warehouse
BINDING = "remote.json"  # in a warehouse folder that is the cache of a remote warehouse: `{"url": ...}`
_VERSION_DIR = re.compile(r"^v(\d+)$")


def version_number(folder_name: str) -> int | None:
    """N for a version folder's name `v<N>`, else None."""
    m = _VERSION_DIR.match(folder_name)
    return int(m.group(1)) if m else None


def bind(warehouse: Warehouse) -> None:
    """Record that this folder is the copy of `warehouse.remote`, so every later command on it uses the remote.

    A folder already bound to another remote never gets here: `Settings.resolve` refuses that pairing.
    """
    import uuid

    if not warehouse.remote or bound_remote(warehouse.root) is not None:
        return
    warehouse.root.mkdir(parents=True, exist_ok=True)
    tmp = warehouse.root / f".{BINDING}.{uuid.uuid4().hex[:8]}"
    tmp.write_text(json.dumps({"url": warehouse.remote}) + "\n", encoding="utf-8")
    os.replace(tmp, warehouse.root / BINDING)


def bound_remote(root: Path) -> str | None:
    """The remote a local warehouse folder was bound to (by `moshu run --remote` or `moshu push`), if any."""
    p = root / BINDING
    if not p.is_file():
        return None
    try:
        return str(json.loads(p.read_text(encoding="utf-8"))["url"])
    except (ValueError, KeyError, TypeError) as e:
        from pipelines.errors import StorageError

        raise StorageError(f'`{p}` should be {{"url": "s3://..."}}, the remote this folder copies: {e}; fix or delete it') from e


@dataclass(frozen=True)
class Warehouse:
    """A warehouse folder: `datasets/<name>/v<N>/`, `_staging/`, `catalog.duckdb`, `.dagster/`.

    With a `remote` URL (`s3://bucket/prefix`), the folder is this machine's cache of the remote warehouse,
    whose Delta tables are the store of record: see `pipelines.storage.mirror`.
    """

    root: Path
    remote: str | None = None

    @property
    def catalog_path(self) -> Path:
        """The DuckDB catalog file."""
        return self.root / CATALOG_FILE

    def catalog_lock(self) -> FileLock:
        """The file lock serialising this machine's catalog writers (and the remote catalog's sync)."""
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.catalog_path) + ".lock")

    def dataset_lock(self, name: str) -> FileLock:
        """The file lock serialising one dataset's publishes (and its pulls from a remote)."""
        from filelock import FileLock

        path = self.lock_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path))

    @property
    def dagster_home(self) -> Path:
        """Dagster instance folder used by `moshu run` and `make dagster`."""
        return self.root / ".dagster"

    def dataset_dir(self, name: str) -> Path:
        """Folder holding every version of a dataset."""
        return self.root / "datasets" / name

    def version_dir(self, name: str, version: int) -> Path:
        """Folder of one published version."""
        return self.dataset_dir(name) / f"v{version}"

    def table_dir(self, name: str, table: str) -> Path:
        """Folder of one of a dataset's Delta tables, `published` or `quarantine` (`pipelines.storage.delta`)."""
        return self.dataset_dir(name) / table

    def table(self, name: str, table: str) -> Table:
        """One of a dataset's Delta tables of record: this folder's, or the remote warehouse's (same layout)."""
        from pipelines.storage.delta import Table

        local = self.table_dir(name, table)
        if self.remote is None:
            return Table.at(local)
        from pipelines.storage.objects import delta_options, join

        uri = join(self.remote, "datasets", name, table)
        return Table(local, uri, delta_options(uri))

    def data_files(self, name: str, version: int) -> list[str]:
        """A version's published Parquet files (one, or one per partition), as the manifest lists them."""
        return self._files(name, version, "published")

    def quarantine_files(self, name: str, version: int) -> list[str]:
        """A version's quarantine Parquet files (one, or one per partition), as the manifest lists them."""
        return self._files(name, version, "quarantine")

    def _files(self, name: str, version: int, table: str) -> list[str]:
        from pipelines.storage.delta import in_table

        vdir = self.version_dir(name, version)
        out = []
        for f in self.manifest(name, version).get("files", []):
            rel = str(f.get("path", ""))
            where = in_table(rel)
            legacy = (table == "published" and rel.startswith(f"{DATA_DIR}/")) or (
                table == "quarantine" and rel.startswith("quarantine") and rel.endswith(".parquet")
            )  # a version folder written before the Delta tables (see `moshu migrate`)
            if (where and where[0] == table) or legacy:
                out.append(os.path.normpath(vdir / rel))
        return out

    def staging_dir(self, name: str, run_id: str) -> Path:
        """Scratch folder of one run; removed when the run ends."""
        return self.root / "_staging" / name / run_id

    def lock_path(self, name: str) -> Path:
        """Lock file serialising publishes of one dataset."""
        return self.root / "locks" / f"{name}.lock"

    def versions(self, name: str) -> list[int]:
        """Published version numbers of a dataset, ascending."""
        d = self.dataset_dir(name)
        if not d.is_dir():
            return []
        out = []
        for p in d.iterdir():
            m = _VERSION_DIR.match(p.name)
            if m and (p / MANIFEST).is_file():
                out.append(int(m.group(1)))
        return sorted(out)

    def latest(self, name: str) -> int | None:
        """Highest version that met its publish gate (rejected candidates never become latest), or None."""
        for v in reversed(self.versions(name)):
            if self.manifest(name, v).get("status", "published") == "published":
                return v
        return None

    def latest_candidate(self, name: str) -> int | None:
        """Highest version folder, published or rejected, or None."""
        v = self.versions(name)
        return v[-1] if v else None

    def manifest(self, name: str, version: int) -> dict[str, Any]:
        """The manifest of a version."""
        p = self.version_dir(name, version) / MANIFEST
        if not p.is_file():
            known = self.versions(name)
            raise NotFoundError(
                f"dataset `{name}` has no version {version}"
                + (
                    f"; versions are {', '.join(map(str, known))}"
                    if known
                    else "; it has not been published yet (run `moshu run`)"
                )
            )
        data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
        return data
