"""Readers: raw CSV / Excel / JSON Lines / Parquet -> a LazyFrame of raw values with lineage columns.

Every reader returns the spec's source columns as they are in the file (text, except Parquet's own
types), named by their `source` names, plus `_source_row`; `scan_file` adds the path columns and
`_source_file`. Header names are matched exactly first, then with surrounding spaces stripped, then
case-insensitively; a name that matches two header fields at the first level it matches is an error.

With `source.long` the file is read in long format and pivoted (`historian.py`) before the columns are
picked. `unread_columns()` collects each file's header fields the spec does not read, and a missing column
raises `MissingColumns` (a `SourceError` carrying the header), for the drift policies in `drift.py`.

Non-UTF-8 and CR-only text files are read from a temporary UTF-8 copy (see `encoding.py`): call
`release_temp_files()` once the frames `scan_file` returned have been sunk (or wrap the scan and the
sink in `with temp_files():`).
"""

from __future__ import annotations

import difflib
import glob
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import polars as pl

from pipelines.errors import BadFileError, SourceError
from pipelines.ingest.encoding import (
    Prepared,
    check_decodable,
    discard_on_error,
    prepare_text,
    release_temp_files,
    temp_files,
)
from pipelines.ingest.redact import REDACTED, parser_message
from pipelines.ingest.shape import (
    SHORT_COLUMNS,
    records,
    sheet_transposed,
    short_rows,
    transposed,
    unparsed_record,
    with_short_columns,
)
from pipelines.spec.models import Column, CsvOptions, DatasetSpec, ExcelOptions

__all__ = [
    "SOURCE_FILE",
    "SOURCE_ROW",
    "MissingColumns",
    "release_temp_files",
    "resolve_files",
    "scan_file",
    "temp_files",
    "unread_columns",
]

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
_FLOAT_DTYPES = frozenset({"float32", "float64"})
# How a spec's `source` name is compared with a header name, in order: the first level that matches wins.
_MATCH_LEVELS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("exactly", lambda s: s),
    ("after stripping spaces", lambda s: s.strip()),
    ("case-insensitively", lambda s: s.strip().casefold()),
)


# While `unread_columns()` is active: each file's header fields that the spec does not read, by display path.
_UNREAD: ContextVar[dict[str, list[str]] | None] = ContextVar("moshu_unread_columns", default=None)


class MissingColumns(SourceError):
    """A file lacks columns the spec reads; carries them (source names) and the file's header for drift handling."""

    def __init__(self, message: str, missing: list[str], header: list[str], display: str) -> None:
        super().__init__(message)
        self.missing = missing
        self.header = header
        self.display = display


@contextmanager
def unread_columns() -> Iterator[dict[str, list[str]]]:
    """Collect, per file scanned inside the block, the header fields the spec does not read (new columns)."""
    seen: dict[str, list[str]] = {}
    token = _UNREAD.set(seen)
    try:
        yield seen
    finally:
        _UNREAD.reset(token)


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


# ---------------------------------------------------------------------------------------------
# Matching the spec's source names with a file's header


def _source_columns(spec: DatasetSpec) -> list[Column]:
    return [c for c in spec.columns if c.from_path is None]


def _deduped(names: Sequence[str]) -> list[str]:
    """Names with repeats suffixed `_2`, `_3`, ... (for the suggested `column_names`)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def _ambiguous(
    col: Column, hits: list[int], how: str, header: Sequence[str], display: str, rename_option: str | None
) -> SourceError:
    where = ", ".join(f"field {i + 1} (`{header[i]}`)" for i in hits)
    fixes = []
    if how != "exactly":
        fixes.append(f"set `source:` of column `{col.name}` to the exact header name (one of {where})")
    if rename_option:
        names = json.dumps(_deduped(header), ensure_ascii=False)
        fixes.append(f"set `{rename_option}` to name every column in file order, e.g. {names}")
    fix = "; or ".join(fixes) or "rename one of them in the file"
    return SourceError(
        f"`{display}`: column `{col.name}` reads `{col.source_name}`, which matches {len(hits)} header fields "
        f"{how}: {where}; moshu does not guess which one is meant: {fix}"
    )


def _find(col: Column, header: Sequence[str], display: str, rename_option: str | None) -> int | None:
    """Position of the header field `col` reads, or None; raises when two fields match equally well."""
    for how, key in _MATCH_LEVELS:
        want = key(col.source_name)
        hits = [i for i, h in enumerate(header) if key(h) == want]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise _ambiguous(col, hits, how, header, display, rename_option)
    return None


def _missing(missing: list[Column], header: Sequence[str], spec: DatasetSpec, display: str, where: str) -> MissingColumns:
    lines = []
    for c in missing:
        close = difflib.get_close_matches(c.source_name, list(header), n=1, cutoff=0.5)
        fix = (
            f'did you mean `{close[0]}`? set `source: "{close[0]}"` on column `{c.name}`'
            if close
            else f"fix `source:` of column `{c.name}`"
        )
        lines.append(f"  no column `{c.source_name}` (for `{c.name}`): {fix}")
    return MissingColumns(
        f"`{display}`{where} does not have the columns dataset `{spec.name}` expects:\n"
        + "\n".join(lines)
        + f"\n  the file's columns are: {', '.join(f'`{h}`' for h in header)}",
        [c.source_name for c in missing],
        list(header),
        display,
    )


def match_header(
    header: Sequence[str], spec: DatasetSpec, display: str, *, where: str = "", rename_option: str | None = None
) -> dict[str, int]:
    """Map each source column of the spec to the position of its header field.

    Args:
        header: The file's column names, in file order.
        spec: The dataset spec.
        display: The file's path as shown in messages.
        where: Where in the file the header is, appended to the file name in messages (e.g. ` (sheet `QC`)`).
        rename_option: The spec option that renames columns by position, offered as the fix for duplicates.

    Returns:
        `{source name: 0-based position}`.

    Raises:
        SourceError: a source column is missing, matches two fields, or two columns read the same field.
    """
    found: dict[str, int] = {}
    missing = []
    for c in _source_columns(spec):
        pos = _find(c, header, display, rename_option)
        if pos is None:
            missing.append(c)
        else:
            found[c.source_name] = pos
    if missing:
        if personal := [c.name for c in missing if c.name in spec.personal_columns]:
            # Without a personal column's name the "header" may be a data row: its fields are never shown.
            err = _missing(missing, [REDACTED] * len(header), spec, display, where)
            err.args = (
                str(err).rsplit("\n", 1)[0] + f"\n  the file's first line is not shown: it lacks personal column "
                f"`{personal[0]}`, so it may be a data row (if the file has no header, set `source.csv.header: false` "
                "and `column_names`)",
            )
            raise err
        raise _missing(missing, header, spec, display, where)
    by_pos: dict[int, str] = {}
    for name, pos in found.items():
        if pos in by_pos:
            raise SourceError(
                f"`{display}`{where}: `{by_pos[pos]}` and `{name}` both match header field {pos + 1} (`{header[pos]}`); "
                "set the columns' `source:` to distinct header names"
            )
        by_pos[pos] = name
    if (unread := _UNREAD.get()) is not None:
        unread[display] = [h for i, h in enumerate(header) if i not in by_pos]
    return found


def _pick(lf: pl.LazyFrame, names: Sequence[str], found: dict[str, int]) -> pl.LazyFrame:
    """Select the matched columns of `lf` (whose columns are `names`, in file order) under their source names."""
    return lf.select([pl.col(names[pos]).alias(src) for src, pos in found.items()])


# ---------------------------------------------------------------------------------------------
# Delimited text


def _raise_if_undecodable(polars_message: str, path: Path, o: CsvOptions, display: str) -> None:
    """After polars failed on invalid UTF-8, find the first bad byte and raise with its offset and the fix."""
    if "utf-8" in polars_message.lower() or "utf8" in polars_message.lower():
        check_decodable(path, o.encoding, display)


def _first_record(path: Path, prepared: Prepared, o: CsvOptions, display: str) -> list[str]:
    """The first record of a delimited file (the header, or the first data row), as text."""
    try:
        df = pl.read_csv(
            prepared.path, n_rows=1, has_header=False, separator=o.delimiter, quote_char=o.quote_char,
            skip_rows=o.skip_rows, comment_prefix=o.comment_prefix, encoding=prepared.polars_encoding,
            infer_schema=False, truncate_ragged_lines=True,  # a longer row is reported by `_check_rows`
        )  # fmt: skip
    except pl.exceptions.NoDataError:
        raise BadFileError(f"`{display}` is empty: expected a header line or data; remove the file or fill it", rows=0) from None
    except pl.exceptions.PolarsError as e:
        msg = parser_message(e)
        _raise_if_undecodable(msg, path, o, display)
        raise BadFileError(f"`{display}`: cannot read the first line: {msg}; check the `source.csv` options") from None
    if df.height == 0:
        raise BadFileError(f"`{display}` is empty: expected a header line or data; remove the file or fill it", rows=0)
    values = ["" if v is None else str(v) for v in df.row(0)]
    values[0] = values[0].lstrip("\ufeff")  # a byte-order mark never names a column
    return values


def _field_names(first: list[str], o: CsvOptions, display: str) -> list[str]:
    """The names of the file's fields: the header, or `column_names` (which must name every field)."""
    if not o.column_names:
        return first
    if len(first) != len(o.column_names):
        what = "the header has" if o.header else "the first row has"
        at = f", line {o.skip_rows + 1}" if not o.comment_prefix else ""
        raise BadFileError(
            f"`{display}`{at}: {what} {len(first)} fields but `source.csv.column_names` names "
            f"{len(o.column_names)}; list every field of the file in order"
        )
    return list(o.column_names)


def _ragged_error(prepared: Prepared, o: CsvOptions, width: int, display: str) -> SourceError | None:
    """The first row with more fields than the header, as an error naming its line (None if none is found)."""
    recs = records(prepared.path, o)
    if o.header:
        next(recs, None)
    for line, rec in recs:
        if len(rec) > width:
            expected = "the header has" if o.header else "`source.csv.column_names` names"
            return BadFileError(
                f"`{display}`, line {line}: {len(rec)} fields where {expected} {width}; a field containing "
                f"`{o.delimiter}` must be quoted with `{o.quote_char}`: fix or remove the row (or check "
                "`source.csv.delimiter` and `quote_char`)"
            )
    return None


def _check_rows(lf: pl.LazyFrame, prepared: Prepared, path: Path, o: CsvOptions, width: int, display: str) -> tuple[int, int]:
    """Parse every field of every row once, so a ragged row or a bad byte is reported here, by line or offset.

    Returns:
        The data rows, and how many of them have no value in the last field (a short row has none).
    """
    try:
        counts = lf.select(pl.len().alias("__rows"), pl.all().null_count()).collect().row(0)
    except pl.exceptions.PolarsError as e:
        msg = parser_message(e)  # polars quotes the raw line: never shown
        if "more fields" in msg and (err := _ragged_error(prepared, o, width, display)):
            raise err from None
        _raise_if_undecodable(msg, path, o, display)
        if err := unparsed_record(prepared.path, o, width, display):
            raise err from None
        raise BadFileError(
            f"`{display}` cannot be read as delimited text: {msg}; check the file against the `source.csv` options",
            display,
        ) from None
    return int(counts[0]), int(counts[-1])


def _scan_transposed(prepared: Prepared, spec: DatasetSpec, display: str) -> pl.LazyFrame:
    """A file stored column-major (`source.csv.transpose`): see `shape.transposed`."""
    o = spec.source.csv
    names, df = transposed(prepared.path, o, display)
    found = match_header(_field_names(names, o, display), spec, display, rename_option="source.csv.column_names")
    return _pick(df.lazy(), df.columns, found).with_row_index(SOURCE_ROW, offset=1)


def _scan_delimited(path: Path, spec: DatasetSpec, display: str) -> pl.LazyFrame:
    o = spec.source.csv
    prepared = prepare_text(path, o.encoding, display)
    if o.transpose:
        return _scan_transposed(prepared, spec, display)
    first = _first_record(path, prepared, o, display)
    names = _field_names(first, o, display)
    found = match_header(names, spec, display, rename_option="source.csv.column_names")
    internal = [f"__f{i}" for i in range(len(first))]
    lf = pl.scan_csv(
        prepared.path, separator=o.delimiter, has_header=o.header, new_columns=internal, quote_char=o.quote_char,
        skip_rows=o.skip_rows, comment_prefix=o.comment_prefix, null_values=list(o.null_values),
        encoding=prepared.polars_encoding, infer_schema=False,
    )  # fmt: skip
    rows, last_empty = _check_rows(lf, prepared, path, o, len(first), display)
    if rows == 0 and o.header:
        raise BadFileError(f"`{display}` has a header but no data rows: remove the file or fill it", display, 0)
    short = short_rows(prepared.path, o, len(first), rows, display) if last_empty else None
    return with_short_columns(_pick(lf, internal, found).with_row_index(SOURCE_ROW, offset=1), short)


def _scan_whitespace(path: Path, spec: DatasetSpec, display: str) -> pl.LazyFrame:
    """Fields separated by runs of spaces or tabs (leading and trailing ones ignored), no header."""
    o = spec.source.csv
    prepared = prepare_text(path, o.encoding, display)
    names = list(o.column_names or ())
    lines = pl.scan_csv(
        prepared.path, separator="\x1f", has_header=False, new_columns=["__line"], quote_char=None, skip_rows=o.skip_rows,
        comment_prefix=o.comment_prefix, encoding=prepared.polars_encoding, infer_schema=False,
    ).filter(pl.col("__line").str.strip_chars() != "")  # fmt: skip
    fields = pl.col("__line").str.extract_all(r"\S+")
    try:
        bad = lines.select(
            pl.int_range(1, pl.len() + 1).filter(fields.list.len() != len(names)).first(),
            fields.list.len().filter(fields.list.len() != len(names)).first(),
        ).collect()
    except pl.exceptions.PolarsError as e:
        msg = parser_message(e)
        _raise_if_undecodable(msg, path, o, display)
        raise BadFileError(f"`{display}` cannot be read as text: {msg}; check the `source.csv` options") from None
    if bad.height and bad.row(0)[0] is not None:
        line, n = bad.row(0)
        raise BadFileError(
            f"`{display}`, data row {line}: {n} fields where `source.csv.column_names` names {len(names)}; "
            "list every field of the file in order"
        )
    found = match_header(names, spec, display)
    nulls = list(o.null_values)
    parts = [
        pl.when(fields.list.get(i).is_in(nulls)).then(None).otherwise(fields.list.get(i)).alias(f"__f{i}")
        for i in range(len(names))
    ]
    # `with_columns` then `select` (polars 2.1 can misorder a lazy `select` of when/then).
    internal = [f"__f{i}" for i in range(len(names))]
    return _pick(lines.with_columns(parts), internal, found).with_row_index(SOURCE_ROW, offset=1)


def _decimal_comma(lf: pl.LazyFrame, spec: DatasetSpec) -> pl.LazyFrame:
    """Read `12,5` as 12.5 in float columns: `,` and `.` swap, so a `.` (a thousands separator) fails conversion."""
    floats = [c.source_name for c in _source_columns(spec) if c.dtype in _FLOAT_DTYPES]
    return lf.with_columns(pl.col(floats).str.replace_many([",", "."], [".", ","])) if floats else lf


# ---------------------------------------------------------------------------------------------
# Excel


def _sheet_names(path: Path) -> list[str]:
    try:
        import fastexcel

        return list(fastexcel.read_excel(str(path)).sheet_names)
    except Exception:
        return []


def _read_sheet(path: Path, x: ExcelOptions, display: str) -> pl.DataFrame:
    """Every cell of the sheet as text, one frame row per sheet row from row 1 (so row i is Excel row i + 1)."""
    opts = {"header_row": None, "skip_rows": 0}  # keep leading empty rows: frame rows are sheet rows
    try:
        if isinstance(x.sheet, str):
            df = pl.read_excel(
                path, sheet_name=x.sheet, engine="calamine", read_options=opts, infer_schema_length=0,
                drop_empty_rows=False, drop_empty_cols=False, raise_if_empty=False,
            )  # fmt: skip
        else:
            df = pl.read_excel(
                path, sheet_id=x.sheet + 1, engine="calamine", read_options=opts, infer_schema_length=0,
                drop_empty_rows=False, drop_empty_cols=False, raise_if_empty=False,
            )  # fmt: skip
    except Exception as e:
        msg = parser_message(e)
        if "no matching sheet" in msg:
            sheets = _sheet_names(path)
            listed = ", ".join(f"{i}: `{s}`" for i, s in enumerate(sheets)) or "none readable"
            raise BadFileError(
                f"`{display}`: no sheet {x.sheet!r} (`source.excel.sheet`); the workbook's sheets are {listed}: "
                "set `source.excel.sheet` to one of their names or 0-based positions"
            ) from None
        raise BadFileError(f"`{display}` is not a readable Excel (.xlsx) workbook: {msg}") from None
    return df


def _scan_xlsx(path: Path, spec: DatasetSpec, display: str) -> pl.LazyFrame:
    x = spec.source.excel or ExcelOptions()
    df = _read_sheet(path, x, display)
    if x.transpose:  # field names down the first column, one record per column
        names, sideways = sheet_transposed(df, x, display)
        found = match_header(names, spec, display, where=f" (sheet {x.sheet!r})", rename_option="source.excel.column_names")
        return sideways.lazy().select([*(pl.col(f"__f{pos}").alias(src) for src, pos in found.items()), SOURCE_ROW])
    h = x.header_row
    where = f" (sheet {x.sheet!r}, header in Excel row {h + 1})"
    if df.height <= h:
        raise BadFileError(
            f"`{display}`{where}: the sheet has {df.height} rows, so no header in row {h + 1}; "
            "set `source.excel.header_row` to the 0-based row of the header (Excel row number minus 1)"
        )
    first = ["" if v is None else str(v) for v in df.row(h)]
    if x.column_names and len(x.column_names) != len(first):
        raise BadFileError(
            f"`{display}`{where}: the header has {len(first)} cells but `source.excel.column_names` names "
            f"{len(x.column_names)}; list every column of the sheet in order"
        )
    names = list(x.column_names) if x.column_names else first
    found = match_header(names, spec, display, where=where, rename_option="source.excel.column_names")
    nulls = list(x.null_values)
    data = (
        df.slice(h + 1)
        .with_row_index(SOURCE_ROW, offset=h + 2)  # Excel's row number, 1-based
        .filter(~pl.all_horizontal(pl.col(df.columns).is_null()))  # empty rows are spacing, not records
    )
    cells = [
        pl.when(pl.col(df.columns[pos]).is_in(nulls)).then(None).otherwise(pl.col(df.columns[pos])).alias(src)
        for src, pos in found.items()
    ]
    return data.lazy().with_columns(cells).select([*found, SOURCE_ROW])


# ---------------------------------------------------------------------------------------------
# JSON Lines


def _bad_json_line(path: Path, display: str) -> SourceError | None:
    """The first line of a JSON Lines file that is not a JSON object, as an error (None if all are)."""
    offset, objects = 0, 0
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            start, offset = offset, offset + len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return BadFileError(
                    f"`{display}`, line {n}: byte offset {start + e.start} is not valid UTF-8; JSON Lines must be UTF-8: "
                    "convert the file to UTF-8 or repair that byte"
                )
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                return BadFileError(
                    f"`{display}`, line {n}, column {e.colno}: not valid JSON ({e.msg}); each line must be one JSON "
                    'object such as {"tag": "FIC-101", "value": 12.5}: fix or remove the line'
                )
            if not isinstance(value, dict):
                return BadFileError(
                    f"`{display}`, line {n}: a JSON {type(value).__name__} where a JSON object {{...}} is expected; "
                    "each line must be one object: fix or remove the line"
                )
            objects += 1
    if objects == 0:
        return BadFileError(f"`{display}` holds no JSON object (it is empty or blank): remove the file or fill it")
    return None


def _scan_jsonl(path: Path, spec: DatasetSpec, display: str) -> pl.LazyFrame:
    prepared = prepare_text(path, "utf8", display, keep_bom=False)
    try:  # infers over every line, so a malformed line anywhere fails here rather than at the sink
        keys = pl.scan_ndjson(prepared.path, infer_schema_length=None).collect_schema().names()
    except pl.exceptions.PolarsError as e:
        err = _bad_json_line(path, display) or BadFileError(
            f"`{display}` cannot be read as JSON Lines: {parser_message(e)}; each line must be one JSON object"
        )
        raise err from None
    found = match_header(keys, spec, display)
    lf = pl.scan_ndjson(prepared.path, schema=dict.fromkeys(keys, pl.String))  # every value as its JSON text
    return _pick(lf, keys, found).with_row_index(SOURCE_ROW, offset=1)


# ---------------------------------------------------------------------------------------------
# Parquet


def _scan_parquet(path: Path, spec: DatasetSpec, display: str) -> pl.LazyFrame:
    try:
        names = list(pl.read_parquet_schema(path))
    except Exception as e:
        raise BadFileError(f"`{display}` is not a readable Parquet file: {parser_message(e)}") from None
    found = match_header(names, spec, display)
    return _pick(pl.scan_parquet(path), names, found).with_row_index(SOURCE_ROW, offset=1)


# ---------------------------------------------------------------------------------------------


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


def _scan_raw(path: Path, spec: DatasetSpec, display: str) -> pl.LazyFrame:
    """The source columns under their source names, and `_source_row`."""
    if spec.source.long is not None:
        from pipelines.ingest.historian import scan_long

        return scan_long(path, spec, display, _scan_raw)
    fmt = spec.source.format
    if fmt == "csv":
        if spec.source.csv.delimiter == "whitespace":
            lf = _scan_whitespace(path, spec, display)
        else:
            lf = _scan_delimited(path, spec, display)
        return _decimal_comma(lf, spec) if spec.source.csv.decimal_comma else lf
    if fmt == "xlsx":
        return _scan_xlsx(path, spec, display)
    if fmt == "jsonl":
        return _scan_jsonl(path, spec, display)
    return _scan_parquet(path, spec, display)


def scan_file(path: Path, spec: DatasetSpec, display: str) -> pl.LazyFrame:
    """Scan one raw file: the spec's source columns as raw values, plus `_source_file` and `_source_row`.

    Text files that are not UTF-8 or end lines with a lone CR are read from a temporary UTF-8 copy,
    which the returned frame needs until it is collected or sunk: call `release_temp_files()` after that.

    Args:
        path: The raw file.
        spec: The dataset spec (its `source` options say how to read the file).
        display: The file's path relative to the project root (`_source_file`, and messages).

    Returns:
        A lazy frame: the source columns (text, or Parquet's types), `_source_row` (the 1-based data row;
        for Excel the sheet's row number; for `source.long` the first long row of the pivoted row), the
        `from_path` columns and `_source_file`.

    Raises:
        SourceError: the file cannot be read as the spec says; the message names the file, where in it
            (line, row or byte offset), what was expected, and the fix.
    """
    wanted = [c.source_name for c in _source_columns(spec)]
    with discard_on_error():
        lf = _scan_raw(path, spec, display)
        short = [c for c in SHORT_COLUMNS if c in lf.collect_schema().names()]  # rows shorter than the header
        return lf.select([*wanted, SOURCE_ROW, *short]).with_columns(
            *_path_values(spec, display), pl.lit(display, dtype=pl.String).alias(SOURCE_FILE)
        )
