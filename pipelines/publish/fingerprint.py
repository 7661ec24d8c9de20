"""The data hash of a run: what decides whether a run makes a new version."""

from __future__ import annotations

import hashlib
import json

from pipelines.ingest.fingerprint import SourceFile, sha256_file
from pipelines.spec.loader import LoadedDataset

# Bump when the way moshu turns the same inputs into published data changes.
ENGINE_DATA_VERSION = 1


def master_files(loaded: LoadedDataset) -> list[str]:
    """Master data files the rules read (relative to the project root), sorted."""
    return sorted({str(m) for r in loaded.rules if (m := getattr(r, "master", None))})


def master_hashes(loaded: LoadedDataset) -> list[tuple[str, str]]:
    """(path, sha256) of each master data file the rules read that exists."""
    root = loaded.spec_path.parent.parent
    return [(m, sha256_file(root / m)) for m in master_files(loaded) if (root / m).is_file()]


def data_hash(
    loaded: LoadedDataset,
    files: list[SourceFile],
    corrections: str | None = None,
    pseudonym_key: str | None = None,
    partition: str | None = None,
    lookups: list[tuple[str, str]] | None = None,
) -> str:
    """sha256 over the raw files (path and content), master data, the spec's data-affecting fields and the rules.

    Metadata-only edits (a description, an owner, a schedule) do not change it; a changed raw file,
    master file, column type or rule does. Paths are part of it: a renamed file changes the lineage
    (`_source_file`), the row order and any column taken `from_path`. Accepted feedback
    (`corrections`, a hash of the corrections to apply) is part of it: accepting one makes a new version.
    So is the id of the pseudonymisation key of a dataset with personal columns: another key, other pseudonyms.
    For a partitioned dataset it is the hash of one partition (`partition`, its key) and its files.
    The `enrich` files (`lookups`: path and sha256) are inputs like the raw files.
    """
    payload = {
        "engine_data_version": ENGINE_DATA_VERSION,
        "files": sorted((f.path, f.sha256) for f in files),
        "master": master_hashes(loaded),
        "spec": loaded.spec_data_hash,
        "rules": loaded.rules_hash,
    }
    if corrections is not None:
        payload["corrections"] = corrections
    if pseudonym_key is not None:
        payload["pseudonym_key"] = pseudonym_key
    if partition is not None:
        payload["partition"] = partition
    if lookups:
        payload["lookups"] = sorted(lookups)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
