"""Schema drift between the files of one dataset, handled by `source.drift`.

Each file's columns (after the header matching in `readers.py`) are compared with what the spec reads:

- **missing**: a column the spec reads is not in the file. If a column the spec does not read has a close
  name, it is reported as **renamed** (`T [K]` -> `Temp [K]`);
- **retyped**: a column's physical type differs from the type most files of the run have (ties: the
  earliest file). Only Parquet files carry types; text formats are read as text, so never retyped. Each
  file is converted from its own types and a value that does not convert fails `schema.dtype` row by
  row, so under `fail` and `allow_new_nullable` a retype is only listed, and `quarantine_file` sets the file aside;
- **new**: a column of the file that the spec does not read. Always allowed (it is not read), and listed.

Policies: `fail` (default) stops the run on a missing or renamed column; `quarantine_file` sets the
file aside: it is not ingested, and `quarantined_files` records its path, sha256, raw row count and reason, so
every raw row is either staged or in that list (its rows are not in `rows_in`); `allow_new_nullable` reads a
column the file lacks as null (a column added to the spec after older files were written) and fails on a
rename.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.errors import BadFileError, SourceError
from pipelines.ingest import bad_files, shape
from pipelines.ingest.readers import MissingColumns, _scan_raw, scan_file, unread_columns
from pipelines.spec.models import Column, DatasetSpec

_CLOSE = 0.6


@dataclass
class FileDrift:
    """How one file's columns differ from what the spec reads."""

    path: str
    new_columns: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (spec's source name, the file's column)
    retyped: list[tuple[str, str, str]] = field(default_factory=list)  # (column, file's type, most files' type)
    action: str = "read"  # read | read_missing_as_null | quarantined

    def differences(self) -> str:
        """The missing, renamed and retyped columns in words."""
        parts = [f"`{old}` renamed to `{new}`?" for old, new in self.renamed]
        renamed = {old for old, _ in self.renamed}
        parts += [f"no column `{m}`" for m in self.missing if m not in renamed]
        parts += [f"`{c}` is {got} where the other files have {want}" for c, got, want in self.retyped]
        return "; ".join(parts)

    def report(self) -> dict[str, Any]:
        """The file's entry in the drift report."""
        return {
            "path": self.path,
            "new_columns": self.new_columns,
            "missing": self.missing,
            "renamed": [{"from": a, "to": b} for a, b in self.renamed],
            "retyped": [{"column": c, "type": got, "expected": want} for c, got, want in self.retyped],
            "action": self.action,
        }


@dataclass
class Scanned:
    """The raw frames to stage (with their raw schemas), the files set aside, and the drift report."""

    frames: list[tuple[pl.LazyFrame, dict[str, pl.DataType]]]
    quarantined_files: list[dict[str, Any]]
    drift: list[dict[str, Any]]


def _policy_hint(spec: DatasetSpec) -> str:
    if spec.source.drift == "allow_new_nullable":
        why = "which reads a missing column as null, but not one that looks renamed or a long-format column"
    else:
        why = "which stops on a missing or renamed column"
    return (
        f"dataset `{spec.name}` has `source.drift: {spec.source.drift}`, {why}: fix the file or the columns' "
        "`source:`, or set `source.drift: quarantine_file` to set such files aside and ingest the rest"
        + ("" if spec.source.long or spec.source.drift != "fail" else " (`allow_new_nullable` reads a missing column as null)")
    )


def _renamed(missing: list[str], header: list[str], spec: DatasetSpec) -> list[tuple[str, str]]:
    """Missing columns that have a close-named column the spec does not read."""
    read = {c.source_name.strip().casefold() for c in spec.columns if c.from_path is None}
    free = [h for h in header if h.strip().casefold() not in read]
    out = []
    for m in missing:
        close = difflib.get_close_matches(m, free, n=1, cutoff=_CLOSE)
        if close:
            out.append((m, close[0]))
            free.remove(close[0])
    return out


def _count_rows(path: Path, spec: DatasetSpec, header: list[str], display: str) -> int | None:
    """Raw data rows of a file that cannot be read as the spec says (None if they cannot be counted)."""
    counts = Counter(header)
    first = next((h for h in header if counts[h] == 1), None)
    if first is None:
        return None
    one = Column(name="any_column", source=first, dtype="string")
    cspec = spec.model_copy(update={"columns": (one,), "source": spec.source.model_copy(update={"long": None})})
    try:
        return int(_scan_raw(path, cspec, display).select(pl.len()).collect().item())
    except (SourceError, pl.exceptions.PolarsError):
        return None


def _with_nulls(path: Path, spec: DatasetSpec, display: str, missing: list[str]) -> pl.LazyFrame:
    """Scan a file that lacks `missing` (source names), reading those columns as null."""
    reduced = spec.model_copy(
        update={"columns": tuple(c for c in spec.columns if c.from_path is not None or c.source_name not in missing)}
    )
    lf = scan_file(path, reduced, display)
    wanted = [c.source_name for c in spec.columns if c.from_path is None]
    rest = [c for c in lf.collect_schema().names() if c not in wanted]
    return lf.with_columns([pl.lit(None).alias(m) for m in missing]).select([*wanted, *rest])


def _retyped(schemas: list[dict[str, pl.DataType]], spec: DatasetSpec) -> list[list[tuple[str, str, str]]]:
    """Per file, the source columns whose type differs from the type most files have."""
    out: list[list[tuple[str, str, str]]] = [[] for _ in schemas]
    for c in spec.columns:
        if c.from_path is not None:
            continue
        types = [s.get(c.source_name) for s in schemas]
        seen = [t for t in types if t is not None and t != pl.Null]
        if not seen:
            continue
        counts = Counter(str(t) for t in seen)
        best = max(counts.values())
        want = next(str(t) for t in seen if counts[str(t)] == best)
        for i, t in enumerate(types):
            if t is not None and t != pl.Null and str(t) != want:
                out[i].append((c.source_name, str(t), want))
    return out


def _set_aside(bad: BadFileError, sha: str, spec: DatasetSpec) -> dict[str, Any]:
    """A bad file's `quarantined_files` entry, or the error that stops the run under `on_bad_file: fail`."""
    if spec.source.on_bad_file == "fail":
        raise bad_files.refuse(bad, spec) from None
    return bad_files.entry(bad, sha)


def scan_files(spec: DatasetSpec, files: list[tuple[Path, str, str]]) -> Scanned:
    """Scan every file, applying `source.drift` to files whose columns differ from what the spec reads,
    and `source.on_bad_file` to files whose structure does not fit it (see `bad_files.py`).

    Args:
        spec: The dataset spec.
        files: `(path, display path, sha256)` of each raw file, in order.

    Returns:
        The frames of the files to stage, the quarantined files (`{path, sha256, rows, reason}`) and the drift
        report (one entry per file that has new, missing, renamed or retyped columns).

    Raises:
        SourceError: a file drifts under `fail` (or is renamed/retyped under `allow_new_nullable`), a file
            is bad under `on_bad_file: fail`, or every file was quarantined.
    """
    policy = spec.source.drift
    kept: list[tuple[Path, str, str, pl.LazyFrame, FileDrift]] = []
    reports: list[FileDrift] = []
    quarantined: list[dict[str, Any]] = []
    for path, display, sha in files:
        with unread_columns() as unread:
            try:
                lf = scan_file(path, spec, display)
                d = FileDrift(display, new_columns=unread.get(display, []))
            except BadFileError as e:
                quarantined.append(_set_aside(bad_files.transposed_error(path, spec, display) or e, sha, spec))
                continue
            except MissingColumns as e:
                if (bad := bad_files.transposed_error(path, spec, display)) is not None:
                    quarantined.append(_set_aside(bad, sha, spec))
                    continue
                d = FileDrift(display, missing=e.missing, renamed=_renamed(e.missing, e.header, spec))
                d.new_columns = [h for h in e.header if h not in {new for _, new in d.renamed}]
                read = {c.source_name.strip().casefold() for c in spec.columns}
                d.new_columns = [h for h in d.new_columns if h.strip().casefold() not in read]
                if policy == "quarantine_file":
                    d.action = "quarantined"
                    reason = f"schema drift: {d.differences()}"
                    rows = _count_rows(path, spec, e.header, display)
                    quarantined.append({"path": display, "sha256": sha, "rows": rows, "reason": reason})
                    reports.append(d)
                    continue
                if policy == "fail" or d.renamed or spec.source.long is not None:
                    extra = "".join(f"\n  `{a}` looks renamed to `{b}`" for a, b in d.renamed)
                    raise SourceError(f"{e}{extra}\n  {_policy_hint(spec)}") from None
                d.action = "read_missing_as_null"
                lf = _with_nulls(path, spec, display, e.missing)
        kept.append((path, display, sha, lf, d))
        reports.append(d)
    schemas = [dict(lf.collect_schema()) for *_, lf, _ in kept]
    frames = []
    for (_, display, sha, lf, d), schema, retyped in zip(kept, schemas, _retyped(schemas, spec), strict=True):
        d.retyped = retyped
        if retyped and policy == "quarantine_file":
            d.action = "quarantined"
            rows = int(lf.select(pl.len()).collect().item())
            quarantined.append({"path": display, "sha256": sha, "rows": rows, "reason": f"schema drift: {d.differences()}"})
            continue
        frames.append((lf, schema))
    if not frames:
        raise bad_files.nothing_left(spec, quarantined)
    drift = [d.report() for d in reports if d.new_columns or d.missing or d.retyped]
    return Scanned(shape.align(frames), quarantined, drift)


__all__ = ["FileDrift", "Scanned", "scan_files"]
