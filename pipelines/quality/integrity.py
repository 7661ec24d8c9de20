"""X-1 and U-1: a version's Parquet files checked against evidence taken while they were written, and its lineage.

While the writer streams a file's rows, a `Tally` counts them and folds each batch into a content
digest (the sum of polars' row hashes, so it does not depend on batch boundaries or row order). The
file's sha256 is taken when the writer has closed it. X-1 then decodes every row group of every
file afresh (pyarrow, one row group at a time, so memory stays flat), recounts the rows, recomputes
the digest from the decoded values and re-hashes the bytes: a file holds when all of them agree with
what was recorded at write. polars' row hash is stable within one polars version only, so each file
records the method (`digest_method`); a digest taken by another version is not compared.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from pipelines.ingest.fingerprint import sha256_file
from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW
from pipelines.quality.results import Measure, make_measure

DIGEST_METHOD = f"polars {pl.__version__} hash_rows(seed=0), summed per 32-bit half"
_HALF = 1 << 32
ACCESSIBILITY = "moshu.accessibility"
AUDITABILITY = "moshu.auditability"
_SHOWN = 3  # failing files named in a detail


def _halves(df: pl.DataFrame) -> tuple[int, int]:
    """The sums of the high and low 32-bit halves of the rows' hashes (exact: no overflow below 2**32 rows)."""
    if df.height == 0:
        return 0, 0
    h = df.hash_rows(seed=0)
    return int((h // _HALF).sum()), int((h % _HALF).sum())


class Tally:
    """Rows and content digest of a file, folded in batch by batch as the writer streams them (thread-safe)."""

    def __init__(self) -> None:
        self.rows = 0
        self._hi = 0
        self._lo = 0
        self._lock = threading.Lock()

    def add(self, df: pl.DataFrame) -> pl.DataFrame:
        """Count and digest one batch; return it unchanged (for `LazyFrame.map_batches`)."""
        hi, lo = _halves(df)
        with self._lock:
            self.rows += df.height
            self._hi += hi
            self._lo += lo
        return df

    @property
    def digest(self) -> str:
        """The content digest so far, as hex."""
        return digest_text(self._hi, self._lo)


def digest_text(hi: int, lo: int) -> str:
    """The digest as written in the manifest."""
    return f"{hi:x}-{lo:x}"


def tallied(lf: pl.LazyFrame, tally: Tally) -> pl.LazyFrame:
    """`lf` with every batch passed through `tally` on its way to the sink."""
    return lf.map_batches(tally.add, streamable=True, schema=lf.collect_schema())


def written_entry(folder: Path, rel: str, tally: Tally) -> dict[str, Any]:
    """The manifest's record of a Parquet file just written: path, sha256, size, and the rows and digest streamed."""
    p = folder / rel
    return {
        "path": rel,
        "sha256": sha256_file(p),
        "bytes": p.stat().st_size,
        "rows": tally.rows,
        "content_digest": tally.digest,
        "digest_method": DIGEST_METHOD,
    }


def _said(e: Exception) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


def read_back(path: Path, entry: dict[str, Any]) -> str | None:
    """What is wrong with a written Parquet file against its record (None when it reads back as written).

    Every row group is decoded and hashed; the rows, the digest (when taken by this polars version), the
    footer's row count and the sha256 must all match.
    """
    rel = entry["path"]
    try:
        pf = pq.ParquetFile(path)
        schema = pl.from_arrow(pf.schema_arrow.empty_table()).schema  # type: ignore[union-attr]
        rows = hi = lo = 0
        for i in range(pf.num_row_groups):
            try:
                df = pl.from_arrow(pf.read_row_group(i))
            except Exception as e:  # a damaged page: say which row group
                return f"{rel}: row group {i} of {pf.num_row_groups} does not decode ({_said(e)})"
            assert isinstance(df, pl.DataFrame)
            h, lw = _halves(df.cast(schema) if df.schema != schema else df)
            rows, hi, lo = rows + df.height, hi + h, lo + lw
    except Exception as e:  # truncated, not Parquet, unreadable
        return f"{rel}: does not open as Parquet ({_said(e)})"
    problems = []
    if "rows" in entry and rows != entry["rows"]:
        problems.append(f"{rows:,} rows decoded, {entry['rows']:,} written")
    if rows != pf.metadata.num_rows:
        problems.append(f"{rows:,} rows decoded, the footer says {pf.metadata.num_rows:,}")
    if entry.get("digest_method") == DIGEST_METHOD and digest_text(hi, lo) != entry.get("content_digest"):
        problems.append("content digest of the decoded rows differs from the one taken at write")
    if sha256_file(path) != entry["sha256"]:
        problems.append("sha256 differs from the one recorded at write")
    return f"{rel}: {'; '.join(problems)}" if problems else None


def accessibility(folder: Path, files: list[dict[str, Any]]) -> tuple[Measure, str | None]:
    """X-1: Parquet files of a version that read back as written / its Parquet files; and what failed, if any."""
    data = [f for f in files if f["path"].endswith(".parquet")]
    problems = [p for f in data if (p := read_back(folder / f["path"], f)) is not None]
    detail = None
    if problems:
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        detail = " | ".join(problems[:_SHOWN]) + more
    return make_measure("X-1", len(data) - len(problems), len(data), None, None), detail


def auditability(data_file: Path, rows: int) -> tuple[Measure, str | None]:
    """U-1: rows written to the published file / rows that carry their lineage (source file and row) in it.

    Args:
        data_file: The published Parquet file.
        rows: The rows the writer streamed into it (the measure's B).
    """
    try:
        missing = (
            pl.scan_parquet(data_file)
            .select(
                pl.col(SOURCE_FILE).is_null().sum().alias("file"),
                pl.col(SOURCE_ROW).is_null().sum().alias("row"),
                (pl.col(SOURCE_FILE).is_not_null() & pl.col(SOURCE_ROW).is_not_null()).sum().alias("ok"),
            )
            .collect()
            .row(0, named=True)
        )
    except Exception as e:  # an unreadable file shows no lineage (X-1 says why it does not read)
        return make_measure("U-1", 0, rows, None, None), f"lineage unreadable in {data_file.name} ({type(e).__name__})"
    ok = min(missing["ok"], rows)  # extra rows in the file are X-1's finding
    if ok == rows:
        return make_measure("U-1", ok, rows, None, None), None
    detail = (
        f"{rows - ok:,} of {rows:,} published rows lack lineage in {data_file.name} "
        f"({missing['file']:,} without {SOURCE_FILE}, {missing['row']:,} without {SOURCE_ROW})"
    )
    return make_measure("U-1", ok, rows, None, None), detail


def file_measures(
    folder: Path, files: list[dict[str, Any]], data: str, rows: int
) -> tuple[list[tuple[str, Measure]], dict[str, str]]:
    """X-1 and U-1 of the files one write produced (rule id, measure), and per rule id what a failing one found.

    Args:
        folder: The version folder being written.
        files: The manifest entries of the files written (`written_entry` for the Parquet ones).
        data: The published data file, relative to `folder`.
        rows: The rows the writer streamed into it.
    """
    x1, unread = accessibility(folder, files)
    u1, unlinked = auditability(folder / data, rows)
    details = {rid: d for rid, d in ((ACCESSIBILITY, unread), (AUDITABILITY, unlinked)) if d}
    return [(AUDITABILITY, u1), (ACCESSIBILITY, x1)], details


def unreadable(failed_gates: list[str]) -> bool:
    """Whether the X-1 gate is among a scorecard's failed gates: files that do not read back as written."""
    return any(g.endswith("(X-1)") for g in failed_gates)


__all__ = [
    "ACCESSIBILITY",
    "AUDITABILITY",
    "DIGEST_METHOD",
    "Tally",
    "accessibility",
    "auditability",
    "file_measures",
    "read_back",
    "tallied",
    "unreadable",
    "written_entry",
]
