"""Readers: raw CSV / Parquet -> a LazyFrame of raw values with lineage columns."""

from __future__ import annotations

import difflib
import glob
import re
from pathlib import Path

import polars as pl

from pipelines.errors import SourceError
from pipelines.spec.models import DatasetSpec

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"


def resolve_files(spec: DatasetSpec, root: Path) -> list[Path]:
    """Files matching the spec's `source.path` glob, sorted; raises if there are none."""
    pattern = spec.source.path
    files = sorted(Path(p) for p in glob.glob(str(root / pattern), recursive=True) if Path(p).is_file())
    if not files:
        raise SourceError(
            f"dataset `{spec.name}`: no files match `{pattern}` (relative to `{root.name}/`); "
            "put raw files there or fix `source.path` in the spec"
        )
    return files


def _csv_header(path: Path, spec: DatasetSpec, display: str) -> list[str]:
    o = spec.source.csv
    try:
        return pl.read_csv(
            path,
            n_rows=0,
            separator=o.delimiter,
            quote_char=o.quote_char,
            skip_rows=o.skip_rows,
            comment_prefix=o.comment_prefix,
            encoding=o.encoding,
            infer_schema=False,
        ).columns
    except Exception as e:
        raise SourceError(f"`{display}`: cannot read the header: {str(e).splitlines()[0]}") from None


def _check_columns(found: list[str], spec: DatasetSpec, display: str) -> None:
    missing = [c for c in spec.columns if c.from_path is None and c.source_name not in found]
    if not missing:
        return
    lines = []
    for c in missing:
        close = difflib.get_close_matches(c.source_name, found, n=1, cutoff=0.5)
        fix = (
            f'did you mean `{close[0]}`? set `source: "{close[0]}"` on column `{c.name}`'
            if close
            else f"fix `source:` of column `{c.name}`"
        )
        lines.append(f"  no column `{c.source_name}` (for `{c.name}`): {fix}")
    raise SourceError(
        f"`{display}` does not have the columns dataset `{spec.name}` expects:\n"
        + "\n".join(lines)
        + f"\n  the file's columns are: {', '.join(found)}"
    )


def _scan_whitespace(path: Path, spec: DatasetSpec, display: str) -> pl.LazyFrame:
    """Fields separated by runs of spaces or tabs (leading and trailing ones ignored), no header."""
    o = spec.source.csv
    names = list(o.column_names or ())
    lines = pl.scan_csv(
        path, separator="\x1f", has_header=False, new_columns=["__line"], quote_char=None, skip_rows=o.skip_rows,
        comment_prefix=o.comment_prefix, encoding=o.encoding, infer_schema=False,
    ).filter(pl.col("__line").str.strip_chars() != "")  # fmt: skip
    fields = pl.col("__line").str.extract_all(r"\S+")
    bad = lines.select(
        pl.int_range(1, pl.len() + 1).filter(fields.list.len() != len(names)).first(),
        fields.list.len().filter(fields.list.len() != len(names)).first(),
    ).collect()
    if bad.height and bad.row(0)[0] is not None:
        line, n = bad.row(0)
        raise SourceError(
            f"`{display}`, data row {line}: {n} fields where `source.csv.column_names` names {len(names)}; "
            "list every field of the file in order"
        )
    nulls = list(o.null_values)
    parts = [
        pl.when(fields.list.get(i).is_in(nulls)).then(None).otherwise(fields.list.get(i)).alias(f"__f{i}")
        for i in range(len(names))
    ]
    # `with_columns` then `select` (polars 2.1 can misorder a lazy `select` of when/then).
    return lines.with_columns(parts).select([pl.col(f"__f{i}").alias(n) for i, n in enumerate(names)])


def _path_values(spec: DatasetSpec, display: str) -> list[pl.Expr]:
    """Columns whose value comes from the file's path (`from_path`)."""
    out = []
    for c in spec.columns:
        if c.from_path is None:
            continue
        m = re.search(c.from_path, display)
        if m is None:
            raise SourceError(
                f"`{display}`: column `{c.name}` takes its value from the path with `{c.from_path}`, which does not match; "
                "fix `from_path` or the file name"
            )
        out.append(pl.lit(m.group(1), dtype=pl.String).alias(c.source_name))
    return out


def scan_file(path: Path, spec: DatasetSpec, display: str) -> pl.LazyFrame:
    """Scan one raw file: the spec's source columns as raw values, plus `_source_file` and `_source_row`."""
    wanted = [c.source_name for c in spec.columns if c.from_path is None]
    if spec.source.format == "csv" and spec.source.csv.delimiter == "whitespace":
        lf = _scan_whitespace(path, spec, display)
    elif spec.source.format == "csv":
        o = spec.source.csv
        if o.header:
            _check_columns(_csv_header(path, spec, display), spec, display)
        lf = pl.scan_csv(
            path,
            separator=o.delimiter,
            has_header=o.header,
            new_columns=list(o.column_names) if not o.header and o.column_names else None,
            quote_char=o.quote_char,
            skip_rows=o.skip_rows,
            comment_prefix=o.comment_prefix,
            null_values=list(o.null_values),
            encoding=o.encoding,
            infer_schema=False,
        )
        if not o.header:
            n_declared = len(o.column_names or ())
            try:
                first = pl.read_csv(
                    path, n_rows=1, has_header=False, separator=o.delimiter, skip_rows=o.skip_rows, quote_char=o.quote_char,
                    comment_prefix=o.comment_prefix, infer_schema=False, encoding=o.encoding, truncate_ragged_lines=False,
                )  # fmt: skip
            except pl.exceptions.PolarsError as e:
                raise SourceError(
                    f"`{display}`: cannot read the first row: {str(e).splitlines()[0]}; check the `source.csv` options"
                ) from None
            if first.width != n_declared:
                raise SourceError(
                    f"`{display}`: the first row has {first.width} fields but `source.csv.column_names` names "
                    f"{n_declared}; list every field of the file in order"
                )
    else:
        try:
            found = list(pl.read_parquet_schema(path))
        except Exception as e:
            raise SourceError(f"`{display}` is not a readable Parquet file: {str(e).splitlines()[0]}") from None
        _check_columns(found, spec, display)
        lf = pl.scan_parquet(path)
    return (
        lf.select(wanted)
        .with_row_index(SOURCE_ROW, offset=1)
        .with_columns(*_path_values(spec, display), pl.lit(display, dtype=pl.String).alias(SOURCE_FILE))
    )
