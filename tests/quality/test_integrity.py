"""X-1 and U-1 on real rows (the AI4I seed): the evidence streamed at write against a fresh decode, and lineage."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW
from pipelines.quality.integrity import Tally, accessibility, auditability, read_back, tallied, written_entry
from tests.conftest import REPO

SEED = REPO / "seeds" / "ai4i2020" / "ai4i2020.csv"
ROWS = 10_000


def _written(folder: Path, name: str = "part.parquet", lf: pl.LazyFrame | None = None) -> dict[str, Any]:
    """The seed written in four row groups through a `Tally`, as publish writes a version; its manifest entry."""
    tally = Tally()
    tallied(lf if lf is not None else pl.scan_csv(SEED), tally).sink_parquet(folder / name, row_group_size=2_500)
    return written_entry(folder, name, tally)


def _flip(path: Path, column: int, row_group: int = 1) -> bytes:
    """Flip one bit in the middle of a column chunk's data pages; the new bytes."""
    c = pq.ParquetFile(path).metadata.row_group(row_group).column(column)
    start = c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset
    data = bytearray(path.read_bytes())
    data[c.data_page_offset + (start + c.total_compressed_size - c.data_page_offset) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return bytes(data)


def test_the_writer_streams_the_rows_and_digest_a_fresh_decode_finds(tmp_path: Path) -> None:
    entry = _written(tmp_path)
    assert entry["rows"] == ROWS == pq.ParquetFile(tmp_path / "part.parquet").metadata.num_rows
    assert pq.ParquetFile(tmp_path / "part.parquet").num_row_groups == 4
    # The digest depends on the rows, not on their order or on how they were batched.
    again = _written(tmp_path, "reversed.parquet", pl.scan_csv(SEED).reverse())
    assert again["content_digest"] == entry["content_digest"] and again["sha256"] != entry["sha256"]
    assert read_back(tmp_path / "part.parquet", entry) is None
    measure, detail = accessibility(tmp_path, [entry, again])
    assert (measure.clause, measure.a, measure.b, measure.passed, measure.gate, detail) == ("X-1", 2, 2, True, True, None)


def test_a_flipped_byte_in_any_data_page_fails_x1(tmp_path: Path) -> None:
    entry = _written(tmp_path)
    path = tmp_path / "part.parquet"
    pristine = path.read_bytes()
    columns = pq.ParquetFile(path).metadata.num_columns
    silent = []
    for j in range(columns):
        path.write_bytes(pristine)
        damaged = _flip(path, j)
        # The sha256 re-recorded over the damaged bytes: only the decode and the streamed digest can tell.
        found = read_back(path, {**entry, "sha256": hashlib.sha256(damaged).hexdigest()})
        assert found is not None and found.startswith("part.parquet: "), (j, found)
        if "content digest of the decoded rows differs from the one taken at write" in found:
            silent.append(j)  # the page decoded into other values: no error, only the digest caught it
        else:
            assert "row group 1 of 4 does not decode" in found, (j, found)
        measure, detail = accessibility(tmp_path, [entry])
        assert (measure.a, measure.b, measure.passed) == (0, 1, False) and detail is not None
        assert "sha256 differs from the one recorded at write" in detail or "does not decode" in detail
    assert silent, "no flip decoded silently: the digest was not needed"


def test_a_truncated_file_fails_x1(tmp_path: Path) -> None:
    entry = _written(tmp_path)
    path = tmp_path / "part.parquet"
    path.write_bytes(path.read_bytes()[: entry["bytes"] // 2])
    measure, detail = accessibility(tmp_path, [entry])
    assert (measure.a, measure.b, measure.x) == (0, 1, 0.0)
    assert detail is not None and detail.startswith("part.parquet: does not open as Parquet (")


def test_a_valid_file_with_other_rows_fails_x1(tmp_path: Path) -> None:
    entry = _written(tmp_path)
    path = tmp_path / "part.parquet"
    # As many rows, the same columns, one value changed: a well-formed Parquet file that is not the one written.
    other = pl.read_csv(SEED).with_columns(
        pl.when(pl.col("UDI") == 5_000).then(pl.col("TWF") + 1).otherwise(pl.col("TWF")).alias("TWF")
    )
    other.write_parquet(path, row_group_size=2_500)
    assert pq.ParquetFile(path).metadata.num_rows == ROWS
    assert read_back(path, entry) == (
        "part.parquet: content digest of the decoded rows differs from the one taken at write; "
        "sha256 differs from the one recorded at write"
    )
    fewer = pl.read_csv(SEED).head(ROWS - 1)
    fewer.write_parquet(path)
    assert read_back(path, {**entry, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}) == (
        "part.parquet: 9,999 rows decoded, 10,000 written; content digest of the decoded rows differs from the one taken at write"
    )


def test_a_missing_file_fails_x1_and_u1_without_a_traceback(tmp_path: Path) -> None:
    entry = _written(tmp_path)
    shutil.move(tmp_path / "part.parquet", tmp_path / "elsewhere.parquet")
    measure, detail = accessibility(tmp_path, [entry])
    assert not measure.passed and detail is not None and "part.parquet: does not open as Parquet (FileNotFoundError" in detail
    u1, why = auditability(tmp_path / "part.parquet", ROWS)
    assert (u1.a, u1.b, u1.passed) == (0, ROWS, False) and why is not None and "lineage unreadable" in why


@pytest.mark.parametrize(
    ("nulls", "expected"),
    [
        (
            {SOURCE_FILE: [3, 7]},
            "2 of 10,000 published rows lack lineage in part.parquet (2 without _source_file, 0 without _source_row)",
        ),
        (
            {SOURCE_FILE: [3], SOURCE_ROW: [3, 9, 11]},
            "3 of 10,000 published rows lack lineage in part.parquet (1 without _source_file, 3 without _source_row)",
        ),
    ],
)
def test_rows_without_lineage_fail_u1(tmp_path: Path, nulls: dict[str, list[int]], expected: str) -> None:
    rows = pl.scan_csv(SEED).with_columns(
        pl.lit("seeds/ai4i2020/ai4i2020.csv").alias(SOURCE_FILE), (pl.int_range(pl.len(), dtype=pl.UInt32) + 2).alias(SOURCE_ROW)
    )
    lineage = rows.collect()
    u1, why = auditability(tmp_path / _written(tmp_path, lf=lineage.lazy())["path"], ROWS)
    assert (u1.a, u1.b, u1.passed, why) == (ROWS, ROWS, True, None)
    broken = lineage.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(at)).then(None).otherwise(pl.col(c)).alias(c) for c, at in nulls.items()
    )
    entry = _written(tmp_path, lf=broken.lazy())
    u1, why = auditability(tmp_path / entry["path"], entry["rows"])
    bad = len({i for at in nulls.values() for i in at})
    assert (u1.a, u1.b, u1.passed) == (ROWS - bad, ROWS, False) and why == expected
