"""Landing folders: decide which delivered files are new, complete and readable (no Dagster here).

A dataset whose spec sets `source.landing` is watched by a sensor (`pipelines/defs/sensors.py`) that calls
`check_landing` once per tick. Each file directly in the landing folder that `source.path` matches is:

- left alone while it is being written: a temporary suffix, younger than `stable_seconds`, or its size or
  modification time differ from what the previous tick saw (`observed`, kept in the sensor's cursor);
- hashed (sha256); bytes already in the ledger under another name are moved to `<landing>/_duplicates/`
  (so the run's glob does not read them twice);
- test-read (`scan_file`, schema and first rows); a file that cannot be read is moved to
  `<landing>/_quarantine/` with `<file>.reason.txt` and recorded as rejected;
- otherwise new: recorded as ingested with the run key, and the sensor requests one run for all new contents.

The ledger is a JSON file in the warehouse (`<warehouse>/landing/<dataset>.json`), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.errors import MoshuError
from pipelines.ingest.derive import reading_spec
from pipelines.ingest.encoding import temp_files
from pipelines.ingest.fingerprint import sha256_file
from pipelines.ingest.readers import resolve_files, scan_file
from pipelines.paths import relative
from pipelines.spec.models import DatasetSpec

QUARANTINE_DIR = "_quarantine"
DUPLICATES_DIR = "_duplicates"
PREVIEW_ROWS = 5

INGESTED = "ingested"
WAITING = "waiting"
REJECTED = "rejected"


def ledger_path(warehouse_root: Path, dataset: str) -> Path:
    """Where a dataset's landing ledger is kept."""
    return warehouse_root / "landing" / f"{dataset}.json"


def load_ledger(path: Path) -> dict[str, Any]:
    """The ledger: `files` (sha256 -> entry) and `waiting` (relative path -> entry)."""
    if not path.exists():
        return {"files": {}, "waiting": {}}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("files", {})
    data.setdefault("waiting", {})
    return data


def save_ledger(path: Path, ledger: dict[str, Any]) -> None:
    """Write the ledger atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(ledger, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_key(dataset: str, hashes: list[str]) -> str:
    """Run key for a set of new contents: the same bytes never request a second run."""
    digest = hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()
    return f"{dataset}:landing:{digest[:32]}"


@dataclass
class LandingTick:
    """What one look at the landing folder found."""

    new: dict[str, str] = field(default_factory=dict)  # sha256 -> relative path
    waiting: dict[str, str] = field(default_factory=dict)  # relative path -> reason
    rejected: dict[str, str] = field(default_factory=dict)  # relative path -> reason
    duplicates: dict[str, str] = field(default_factory=dict)  # relative path -> sha256 already seen
    observed: dict[str, list[int]] = field(default_factory=dict)  # relative path -> [size, mtime_ns]
    run_key: str | None = None

    def summary(self) -> str:
        """One line for a skip message or log."""
        return (
            f"{len(self.new)} new, {len(self.waiting)} waiting, {len(self.rejected)} rejected, {len(self.duplicates)} duplicate"
        )


def _now_iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")


def _candidates(spec: DatasetSpec, root: Path) -> list[Path]:
    from pipelines.spec.containment import inside

    try:
        return [p for p in resolve_files(spec, root) if inside(p, root)]  # a link out of the project is never read
    except Exception:  # no files yet
        return []


def _parse_error(path: Path, spec: DatasetSpec, display: str) -> str | None:
    """None if the file reads as the spec says (schema and first rows) and names its partition, else why not."""
    if spec.partitions is not None:
        from pipelines.partitions import out_of_range, partition_of

        try:
            key = partition_of(spec, display)
        except Exception as e:  # a file of no partition would stop every run of the dataset
            return f"{type(e).__name__}: {e}"
        outside = out_of_range(spec, key)
        if outside:
            return f"{display}: {outside}"
    with temp_files():  # only this check's transcoded copies are removed afterwards
        try:
            lf = scan_file(path, reading_spec(spec), display)  # derived columns are computed, not read
            lf.collect_schema()
            lf.head(PREVIEW_ROWS).collect()
        except Exception as e:  # any read failure rejects the file, whatever raised it
            from pipelines.ingest.redact import parser_message, personal_values, redact

            # a parser quotes raw lines; moshu's own messages may hold a personal value (ledger, sensor log)
            text = str(e) if isinstance(e, MoshuError) else parser_message(e)
            return f"{type(e).__name__}: {redact(text, personal_values(spec, [path]))}"
    return None


def _partition_not_over(spec: DatasetSpec, rel: str, now: float) -> str | None:
    """A file of a day (or hour) that has not ended waits: Dagster offers the partition once it is over."""
    from pipelines.partitions import is_over, partition_of

    try:
        key = partition_of(spec, rel)
    except Exception:  # named no partition: the parse check rejects it
        return None
    if is_over(spec, key, datetime.fromtimestamp(now, UTC).replace(tzinfo=None)):
        return None
    unit = {"daily": "day", "hourly": "hour"}[spec.partitions.granularity]  # type: ignore[union-attr]
    return f"its partition {key} is not over yet; it runs once the {unit} has ended"


def _holds(path: Path, digest: str) -> bool:
    return path.is_file() and sha256_file(path) == digest


def _move_aside(path: Path, folder: Path) -> Path:
    """Move a file into `folder`, never overwriting: a clash gets a timestamp suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / path.name
    if dest.exists():
        dest = folder / f"{path.stem}.{time.time_ns()}{path.suffix}"
    shutil.move(str(path), dest)
    return dest


def check_landing(
    spec: DatasetSpec,
    root: Path,
    ledger_file: Path,
    previous: dict[str, list[int]],
    now: float | None = None,
) -> LandingTick:
    """Look at the landing folder once, update the ledger, and say which contents are new.

    Args:
        spec: The dataset spec; `spec.source.landing` must be set.
        root: The project root.
        ledger_file: The ledger JSON (created if missing).
        previous: `observed` of the previous tick (relative path -> [size, mtime_ns]).
        now: Current time (seconds since the epoch), for tests.

    Returns:
        The tick: new contents (recorded as ingested under `run_key`), waiting, rejected and duplicate files.
    """
    landing = spec.source.landing
    if landing is None:
        raise ValueError(f"dataset `{spec.name}` has no `source.landing`")
    now = time.time() if now is None else now
    folder = root / landing.path
    ledger = load_ledger(ledger_file)
    files: dict[str, dict[str, Any]] = ledger["files"]
    waiting_before: dict[str, dict[str, Any]] = ledger["waiting"]
    tick = LandingTick()
    stamp = _now_iso(now)
    unchanged_ledger = json.dumps(ledger, sort_keys=True)
    # Files ingested earlier stay in the folder (the run's glob reads them): one whose size and mtime are as
    # recorded is not hashed again on every tick.
    held = {e["path"]: (e.get("size"), e.get("mtime_ns"), d) for d, e in files.items() if e["status"] == INGESTED}

    for path in _candidates(spec, root):
        rel = relative(path, root)
        st = path.stat()
        tick.observed[rel] = [st.st_size, st.st_mtime_ns]
        reason = None
        if path.name.endswith(tuple(landing.temp_suffixes)):
            reason = "temporary suffix: still being written"
        elif now - st.st_mtime < landing.stable_seconds:
            reason = f"modified less than {landing.stable_seconds} s ago"
        elif rel in previous and previous[rel] != [st.st_size, st.st_mtime_ns]:
            reason = "size or modification time changed since the previous check"
        if reason is None and spec.partitions is not None:
            reason = _partition_not_over(spec, rel, now)
        if reason is not None:
            tick.waiting[rel] = reason
            continue
        size, mtime_ns, known = held.get(rel, (None, None, None))
        digest = known if (size, mtime_ns) == (st.st_size, st.st_mtime_ns) and known else sha256_file(path)
        if digest in files:
            entry = files[digest]
            if entry["status"] == REJECTED:
                why = entry["reason"]
            elif entry["path"] == rel:
                entry["mtime_ns"] = st.st_mtime_ns  # the bytes are as recorded: next time the stat is enough
                continue  # already ingested, still in place: the glob reads it
            elif not _holds(root / entry["path"], digest):
                entry["path"] = rel  # the ingested file was renamed: this is now its only copy
                continue
            else:
                dest = _move_aside(path, folder / DUPLICATES_DIR)
                entry.setdefault("duplicates", []).append(relative(dest, root))
                tick.duplicates[rel] = digest
                continue
        else:
            why = _parse_error(path, spec, rel)
        base = {"path": rel, "sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "first_seen": stamp}
        if why is not None:
            dest = _move_aside(path, folder / QUARANTINE_DIR)
            dest.with_name(dest.name + ".reason.txt").write_text(why + "\n", encoding="utf-8")
            files.setdefault(digest, {**base, "status": REJECTED, "reason": why})
            tick.rejected[rel] = why
            continue
        tick.new[digest] = rel
        files[digest] = {**base, "status": INGESTED, "reason": None}

    if tick.new:
        tick.run_key = run_key(spec.name, list(tick.new))
        for digest in tick.new:
            files[digest]["run_key"] = tick.run_key
    ledger["waiting"] = {
        rel: {
            "path": rel,
            "sha256": None,
            "size": tick.observed[rel][0],
            "first_seen": waiting_before.get(rel, {}).get("first_seen", stamp),
            "status": WAITING,
            "reason": why,
        }
        for rel, why in tick.waiting.items()
    }
    if json.dumps(ledger, sort_keys=True) != unchanged_ledger:  # most ticks find nothing new: no rewrite
        save_ledger(ledger_file, ledger)
    return tick
