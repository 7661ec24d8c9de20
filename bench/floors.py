"""The floors moshu is compared with: CSV to Parquet with nothing else, in DuckDB and in polars.

python bench/floors.py duckdb 'data/*.csv' out/duckdb.parquet
python bench/floors.py polars 'data/*.csv' out/polars.parquet
"""

from __future__ import annotations

import sys


def duckdb_copy(glob: str, out: str) -> None:
    """DuckDB's `COPY (FROM read_csv(glob)) TO out (FORMAT parquet)`, types detected by DuckDB."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"COPY (FROM read_csv('{glob}')) TO '{out}' (FORMAT parquet)")


def polars_sink(glob: str, out: str) -> None:
    """polars' streaming `scan_csv(glob).sink_parquet(out)`, timestamps parsed."""
    import polars as pl

    pl.scan_csv(glob, try_parse_dates=True).sink_parquet(out)


ENGINES = {"duckdb": duckdb_copy, "polars": polars_sink}

if __name__ == "__main__":
    engine, glob, out = sys.argv[1:4]
    ENGINES[engine](glob, out)
