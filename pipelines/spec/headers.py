"""Read only the header of raw files (never their data rows), for column groups resolved at load time."""

from __future__ import annotations

import csv
import glob
import json
from collections.abc import Iterator
from pathlib import Path

from pipelines.spec.models import CsvOptions, DatasetSpec, ExcelOptions


class HeaderError(ValueError):
    """A raw file's header cannot be read; the message names the file and the fix."""


def source_files(spec: DatasetSpec, root: Path) -> list[Path]:
    """The files `source.path` matches, sorted (none is not an error here)."""
    return sorted(Path(p) for p in glob.glob(str(root / spec.source.path), recursive=True) if Path(p).is_file())


def _codec(path: Path, o: CsvOptions) -> str:
    from pipelines.ingest.encoding import DECLARED_CODECS, SAMPLE_BYTES, UTF8, UTF8_BOM, detect_codec

    if o.encoding != "auto":
        return DECLARED_CODECS[o.encoding]
    with path.open("rb") as f:
        head = f.read(SAMPLE_BYTES)
    return UTF8 if head.startswith(UTF8_BOM) else (detect_codec(head) or UTF8)


def _csv_header(path: Path, o: CsvOptions, display: str) -> list[str]:
    """The first record after `skip_rows` and comment lines, read line by line (a quoted field may span lines)."""
    with path.open(encoding=_codec(path, o), errors="replace", newline="") as f:

        def lines() -> Iterator[str]:
            for n, line in enumerate(f, start=1):
                if n <= o.skip_rows or (o.comment_prefix and line.startswith(o.comment_prefix)):
                    continue
                yield line

        quoting = csv.QUOTE_MINIMAL if o.quote_char else csv.QUOTE_NONE
        reader = csv.reader(lines(), delimiter=o.delimiter, quotechar=o.quote_char, quoting=quoting, strict=False)  # type: ignore[arg-type]
        first = next(reader, None)
    if not first:
        raise HeaderError(f"`{display}` has no header line; remove the file or fill it")
    first[0] = first[0].lstrip("\ufeff")
    return first


def _xlsx_header(path: Path, x: ExcelOptions, display: str) -> list[str]:
    import polars as pl

    opts = {"header_row": None, "skip_rows": 0, "n_rows": x.header_row + 1}
    try:
        if isinstance(x.sheet, str):
            df = pl.read_excel(path, sheet_name=x.sheet, engine="calamine", read_options=opts, infer_schema_length=0)
        else:
            df = pl.read_excel(path, sheet_id=x.sheet + 1, engine="calamine", read_options=opts, infer_schema_length=0)
    except Exception as e:
        raise HeaderError(f"`{display}`: cannot read sheet {x.sheet!r}: {str(e).splitlines()[0]}") from None
    if df.height <= x.header_row:
        raise HeaderError(f"`{display}`: no header in Excel row {x.header_row + 1}; fix `source.excel.header_row`")
    return ["" if v is None else str(v) for v in df.row(x.header_row)]


def _jsonl_header(path: Path, display: str) -> list[str]:
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise HeaderError(f"`{display}`, line {n}: not valid JSON ({e.msg})") from None
            if not isinstance(value, dict):
                raise HeaderError(f"`{display}`, line {n}: not a JSON object")
            return list(value)
    raise HeaderError(f"`{display}` holds no JSON object")


def read_header(path: Path, spec: DatasetSpec, display: str) -> list[str]:
    """The names of a raw file's fields, in file order, as the reader will see them.

    `csv.column_names` or `excel.column_names`, when given, are the names and no file is opened.

    Raises:
        HeaderError: the header cannot be read.
    """
    fmt = spec.source.format
    try:
        if fmt == "csv":
            o = spec.source.csv
            return list(o.column_names) if o.column_names else _csv_header(path, o, display)
        if fmt == "xlsx":
            x = spec.source.excel or ExcelOptions()
            return list(x.column_names) if x.column_names else _xlsx_header(path, x, display)
        if fmt == "jsonl":
            return _jsonl_header(path, display)
        import polars as pl

        return list(pl.read_parquet_schema(path))
    except (OSError, UnicodeError) as e:
        raise HeaderError(f"`{display}`: cannot read the header: {e}") from None
    except HeaderError:
        raise
    except Exception as e:  # pyarrow and polars raise their own types for a file that is not Parquet
        raise HeaderError(f"`{display}`: cannot read the header: {str(e).splitlines()[0]}") from None
