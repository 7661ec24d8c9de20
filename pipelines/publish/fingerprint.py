"""The data hash of a run: what decides whether a run makes a new version."""

from __future__ import annotations

import hashlib
import json

from pipelines.ingest.fingerprint import SourceFile
from pipelines.spec.loader import LoadedDataset

# Bump when the way moshu turns the same inputs into published data changes.
ENGINE_DATA_VERSION = 1


def data_hash(loaded: LoadedDataset, files: list[SourceFile]) -> str:
    """sha256 over the raw files' contents, the spec's data-affecting fields and the rules.

    Metadata-only edits (a description, an owner, a schedule) do not change it; a changed raw file,
    column type or rule does. Raw file paths are left out, so renaming a file that still matches
    the glob makes no new version (changing `source.path` in the spec does).
    """
    payload = {
        "engine_data_version": ENGINE_DATA_VERSION,
        "files": sorted(f.sha256 for f in files),
        "spec": loaded.spec_data_hash,
        "rules": loaded.rules_hash,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
