"""The shape of delimited text files: records by physical line, short rows, and files stored transposed.

- **Short rows.** A row with fewer fields than the header is never padded and published: the reader keeps
  it with `__short_fields` (its field count), `__short_expected` (the header's) and `__short_line` (the
  physical line it ends on), and the built-in rule `schema.fields` sends it to quarantine. A file where
  most rows are short is a bad file (`BadFileError`), set aside under `source.on_bad_file`.
- **Transposed files.** With `source.csv.transpose: true` the file's first column holds the field names and
  each further column is one record; `transposed` turns it back (`sheet_transposed` for `source.excel.transpose`). Without the option, `looks_transposed`
  tells a file whose first column holds the spec's names, so it is set aside with that reason and fix.

Fields are counted only when polars found a row whose last field is empty (a short row's is): by counting
delimiters per line in polars when the file has no quote character, else with Python's `csv` (quoted fields
may hold delimiters and line breaks).
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.errors import BadFileError
from pipelines.spec.models import CsvOptions, DatasetSpec, ExcelOptions

SHORT_FIELDS = "__short_fields"  # a short row's field count (null for a full row)
SHORT_EXPECTED = "__short_expected"  # the fields the header has
SHORT_LINE = "__short_line"  # the physical line (1-based, as an editor counts) the row ends on
SHORT_COLUMNS = (SHORT_FIELDS, SHORT_EXPECTED, SHORT_LINE)
_SHORT_SCHEMA: dict[str, pl.DataType] = {SHORT_FIELDS: pl.Int32(), SHORT_EXPECTED: pl.Int32(), SHORT_LINE: pl.Int64()}
_LOOK_LINES = 1000  # lines of a file whose first column is compared with the spec's names


def records(path: Path, o: CsvOptions) -> Iterator[tuple[int, list[str]]]:
    """(physical line number where it ends, fields) of each record after `skip_rows`, comments left out.

    Args:
        path: A UTF-8 file with LF or CRLF line endings (the prepared copy, see `encoding.prepare_text`).
        o: The spec's CSV options.

    Yields:
        One pair per record; a blank line is a record with no fields.
    """
    state = {"line": 0}
    first = True

    def lines(f: Iterator[str]) -> Iterator[str]:
        for line in f:
            state["line"] += 1
            if state["line"] <= o.skip_rows or (o.comment_prefix and line.startswith(o.comment_prefix)):
                continue
            yield line

    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(
            lines(f),
            delimiter=o.delimiter,
            quotechar=o.quote_char,
            quoting=csv.QUOTE_MINIMAL if o.quote_char else csv.QUOTE_NONE,
            strict=False,
        )
        for rec in reader:
            if first and rec:
                rec[0], first = rec[0].lstrip("\ufeff"), False  # a byte-order mark never names a column
            yield state["line"], rec


def _short_unquoted(path: Path, o: CsvOptions, width: int) -> tuple[list[tuple[int, int, int, int]], int] | None:
    """`_short` by counting delimiters per line in polars; None when the file has the quote character (or comments).

    Without quotes every line is one record and every delimiter separates two fields, so this is exact.
    """
    if o.comment_prefix:
        return None
    line = pl.col("line")
    lf = pl.scan_lines(path).with_row_index("__line", offset=1).slice(o.skip_rows + (1 if o.header else 0))
    quoted = line.str.contains(o.quote_char, literal=True).any() if o.quote_char else pl.lit(False)
    has_quote, n = lf.select(quoted, pl.len()).collect().row(0)
    if has_quote:
        return None
    fields = pl.when(line == "").then(0).otherwise(line.str.count_matches(o.delimiter, literal=True) + 1)
    short = (
        lf.with_row_index("__row", offset=1)
        .with_columns(fields.alias("__fields"))
        .filter(pl.col("__fields") < width)
        .select("__row", "__fields", "__line")
        .collect()
    )
    return [(int(r), int(f), width, int(ln)) for r, f, ln in short.iter_rows()], int(n)


def _short(path: Path, o: CsvOptions, width: int, rows: int) -> tuple[list[tuple[int, int, int, int]], int]:
    """(data row, fields, width, line) of each data record with fewer than `width` fields, and how many records."""
    fast = _short_unquoted(path, o, width)
    if fast is not None and fast[1] == rows:
        return fast
    recs = records(path, o)  # numbers physical lines, comments and quoted line breaks included
    if o.header:
        next(recs, None)
    found: list[tuple[int, int, int, int]] = []
    n = 0
    for n, (line, rec) in enumerate(recs, start=1):
        if len(rec) < width:
            found.append((n, len(rec), width, line))
    return found, n


def _alone(path: Path, line: int, o: CsvOptions) -> list[str]:
    """The fields of physical line `line` (1-based) parsed on its own: a quote it leaves open ends its last field."""
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        text = next(itertools.islice(f, line - 1, None), "")
    reader = csv.reader(
        [text],
        delimiter=o.delimiter,
        quotechar=o.quote_char,
        quoting=csv.QUOTE_MINIMAL if o.quote_char else csv.QUOTE_NONE,
        strict=False,
    )
    return next(reader, [])


def unparsed_record(path: Path, o: CsvOptions, width: int, display: str) -> BadFileError | None:
    """The first record a parser could not take (a quote left open, or not `width` fields), as an error that
    names its line and field but quotes none of its text (it may hold personal values); None if none is found.

    Args:
        path: The file polars read (the prepared copy).
        o: The spec's CSV options.
        width: The fields the header (or `column_names`) has.
        display: The file's path as shown in messages.
    """
    recs = records(path, o)
    header = list(o.column_names) if o.column_names else []
    prev = o.skip_rows
    if o.header:
        line, first = next(recs, (prev, []))
        header, prev = header or first, line
    for end, rec in recs:
        start, prev = prev + 1, end
        if not rec or len(rec) == width:
            continue
        field = len(rec)
        if end > start and o.quote_char:  # a quoted field ran over line ends: where did it open?
            field = len(_alone(path, start, o))
        named = f" (`{header[field - 1]}`)" if 0 < field <= len(header) else ""
        if end > start and o.quote_char and field < width:
            return BadFileError(
                f"`{display}`, line {start}, field {field}{named}: the quote `{o.quote_char}` that opens this field "
                f"is not closed on that line, so the field runs on to line {end}; close the quote (a `{o.quote_char}` inside "
                f"a quoted field is written twice) or remove it, or set `source.csv.quote_char` if the file quotes "
                "otherwise",
                display,
            )
        return BadFileError(
            f"`{display}`, line {start}: {field} fields where {width} expected; fix or remove the row (or check "
            "`source.csv.delimiter` and `quote_char`)",
            display,
        )
    return None


def short_rows(path: Path, o: CsvOptions, width: int, rows: int, display: str) -> pl.DataFrame | None:
    """The rows of a delimited file with fewer fields than `width`, by data row; None when there are none.

    Args:
        path: The file polars read (the prepared copy).
        o: The spec's CSV options.
        width: The fields the header (or `column_names`) has.
        rows: The data rows polars read, to check the records line up one to one.
        display: The file's path as shown in messages.

    Returns:
        `_source_row` (1-based data row) with `__short_fields`, `__short_expected` and `__short_line`.

    Raises:
        BadFileError: most rows are short (the file does not have the header's shape at all).
    """
    found, n = _short(path, o, width, rows)
    if n != rows:  # polars and `csv` split the file differently: do not guess which row is which
        raise BadFileError(
            f"`{display}`: its rows cannot be told apart reliably ({n} records by the CSV rules, {rows} as read); "
            "check `source.csv.quote_char` and `delimiter`, or re-export the file",
            display,
        )
    if not found:
        return None
    if 2 * len(found) > rows:
        _, fields, _, line = found[0]
        raise BadFileError(
            f"`{display}`, line {line}: {fields} fields where {width} expected, and {len(found)} of its {rows} rows are "
            "as short: the file does not have the header's shape; check `source.csv.delimiter`, or re-export the file",
            display,
            rows,
        )
    return pl.DataFrame(found, schema={"_source_row": pl.UInt32, **_SHORT_SCHEMA}, orient="row")


def with_short_columns(lf: pl.LazyFrame, short: pl.DataFrame | None) -> pl.LazyFrame:
    """`lf` (with `_source_row`) with the short-row columns from `short`; unchanged when there are none."""
    if short is None:
        return lf
    return lf.join(short.lazy(), on="_source_row", how="left", maintain_order="left")


def align(frames: list[tuple[pl.LazyFrame, dict[str, pl.DataType]]]) -> list[tuple[pl.LazyFrame, dict[str, pl.DataType]]]:
    """Give every frame the short-row columns when one has them (so they stack), else leave them as they are."""
    if not any(SHORT_FIELDS in s for _, s in frames):
        return frames
    out = []
    for lf, schema in frames:
        if SHORT_FIELDS not in schema:
            lf = lf.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in _SHORT_SCHEMA.items()])
            schema = {**schema, **_SHORT_SCHEMA}
        out.append((lf, schema))
    return out


def transposed(path: Path, o: CsvOptions, display: str) -> tuple[list[str], pl.DataFrame]:
    """Read a file stored column-major: each line is one field (its name first, with `header`), each column a record.

    Args:
        path: The file (the prepared UTF-8 copy).
        o: The spec's CSV options (`transpose: true`).
        display: The file's path as shown in messages.

    Returns:
        The field names, and the records as text, one column `__f<i>` per field, `null_values` as null.

    Raises:
        BadFileError: the file is empty, has no record columns, or its lines have different field counts.
    """
    lines = [(line, rec) for line, rec in records(path, o) if rec]  # blank lines are spacing
    if not lines:
        raise BadFileError(f"`{display}` is empty: expected a field name and its values on each line", display, 0)
    first_line, first = lines[0]
    for line, rec in lines:
        if len(rec) != len(first):
            raise BadFileError(
                f"`{display}`, line {line}: {len(rec)} fields where line {first_line} has {len(first)}; with "
                "`source.csv.transpose: true` each line is one field (its name, then one value per record): "
                "fix the line so every record has a value (empty for none)",
                display,
            )
    skip = 1 if o.header else 0
    names = [rec[0] for _, rec in lines] if o.header else [f"field {i + 1}" for i in range(len(lines))]
    records_n = len(first) - skip
    if records_n == 0:
        raise BadFileError(
            f"`{display}` has field names but no records (one column only): expected one column per record", display, 0
        )
    nulls = set(o.null_values)
    data = {f"__f{i}": [None if v in nulls else v for v in rec[skip:]] for i, (_, rec) in enumerate(lines)}
    return names, pl.DataFrame(data, schema=dict.fromkeys(data, pl.String))


def sheet_transposed(df: pl.DataFrame, x: ExcelOptions, display: str) -> tuple[list[str], pl.DataFrame]:
    """A sheet stored column-major (`source.excel.transpose`): field names down its first column, one record per column.

    Args:
        df: Every cell of the sheet as text, one frame row per sheet row from Excel row 1.
        x: The spec's Excel options: rows above `header_row` (a title) are skipped, empty rows and columns are spacing.
        display: The file's path as shown in messages.

    Returns:
        The field names (or `column_names`), and the records: one column `__f<i>` per field, `null_values` as null,
        and `_source_row`, the Excel column number of each record (column B is 2).

    Raises:
        BadFileError: the sheet has no field rows, no record columns, or another field count than `column_names`.
    """
    where = f"`{display}` (sheet {x.sheet!r}, transposed, names from Excel row {x.header_row + 1})"
    body = df.slice(x.header_row).filter(~pl.all_horizontal(pl.all().is_null()))
    if body.height == 0:
        raise BadFileError(f"{where}: no field rows; set `source.excel.header_row` to the row of the first field", display, 0)
    first, *rest = df.columns
    names = ["" if v is None else str(v) for v in body[first]]
    if x.column_names:
        if len(x.column_names) != len(names):
            raise BadFileError(
                f"{where}: the sheet has {len(names)} field rows but `source.excel.column_names` names "
                f"{len(x.column_names)}; list every field of the sheet in order",
                display,
            )
        names = list(x.column_names)
    cols = [c for c in rest if body[c].null_count() < body.height]  # an empty column is spacing
    if not cols:
        raise BadFileError(f"{where}: field names but no record columns: expected one column per record", display, 0)
    nulls = set(x.null_values)
    values = body.select(cols)
    data: dict[str, list[Any]] = {
        f"__f{i}": [None if v is None or v in nulls else str(v) for v in values.row(i)] for i in range(body.height)
    }
    data["_source_row"] = [df.columns.index(c) + 1 for c in cols]
    return names, pl.DataFrame(data, schema={**dict.fromkeys(data, pl.String()), "_source_row": pl.UInt32()})


def looks_transposed(path: Path, spec: DatasetSpec) -> tuple[list[str], int]:
    """The spec's source names found in a file's first column, when they show it is stored transposed.

    A file is taken as transposed when its first column holds at least half of the names the spec reads
    (at least one), and more of them than its first line does.

    Args:
        path: The file (the prepared UTF-8 copy).
        spec: The dataset spec (its `source.csv` options say how to split lines).

    Returns:
        The names found (empty when the file does not look transposed), and its record columns (the fields of
        its first line, less the names' column).
    """
    wanted = {c.source_name.strip().casefold(): c.source_name for c in spec.columns if c.from_path is None}
    firsts: set[str] = set()
    header: list[str] = []
    for i, (_, rec) in enumerate(records(path, spec.source.csv)):
        if i >= _LOOK_LINES:
            break
        if rec:
            header = header or rec
            firsts.add(rec[0].strip().casefold())
    hits = [name for key, name in wanted.items() if key in firsts]
    in_header = sum(h.strip().casefold() in wanted for h in header)
    if not wanted or len(hits) < max(1, math.ceil(len(wanted) / 2)) or len(hits) <= in_header:
        return [], 0
    return hits, max(len(header) - 1, 0)


__all__ = [
    "SHORT_COLUMNS",
    "SHORT_EXPECTED",
    "SHORT_FIELDS",
    "SHORT_LINE",
    "align",
    "looks_transposed",
    "records",
    "sheet_transposed",
    "short_rows",
    "transposed",
    "with_short_columns",
]
