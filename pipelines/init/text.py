"""Sample delimited text files: encoding, delimiter, header, column names, and the values as text."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from pathlib import Path

import polars as pl

from pipelines.errors import SourceError
from pipelines.ingest.encoding import UTF8, UTF8_BOM, detect_codec
from pipelines.init.sample import (
    DELIMITERS,
    FILE_BYTES,
    MAX_ROWS,
    NUMBER,
    PATH,
    SNIFF_LINES,
    TOTAL_BYTES,
    Sample,
    deduped,
    drift,
    spread,
)
from pipelines.paths import relative

_SPEC_ENCODINGS = {UTF8: "utf8", "gb18030": "gb18030", "gbk": "gb18030"}
_IDENTIFIER = re.compile(r"^[A-Za-z_\u4e00-\u9fff][\w \-\u4e00-\u9fff]{0,62}$")


def _head_bytes(path: Path, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of the file, cut after the last line break; and whether that is the whole file."""
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) <= limit:
        return data, True
    data = data[:limit]
    cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
    return (data[: cut + 1] if cut > 0 else data), False


def _decode(path: Path, data: bytes, display: str) -> tuple[str, str, list[str]]:
    """(text with LF line ends, `source.csv.encoding`, notes)."""
    notes: list[str] = []
    if data.startswith(UTF8_BOM):
        codec, encoding, data = UTF8, "utf8-sig", data[len(UTF8_BOM) :]
    else:
        codec = detect_codec(data[: 64 * 1024]) or ""
        if codec not in _SPEC_ENCODINGS:
            raise SourceError(
                f"`{display}`: cannot tell the text encoding from its first bytes (best guess: {codec or 'none'}); "
                "moshu reads utf8, gbk and gb18030: convert the file to UTF-8, or check it is a text file"
            )
        encoding = _SPEC_ENCODINGS[codec]
        codec = codecs.lookup(encoding.replace("utf8", UTF8)).name
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as e:
        text = data.decode(codec, errors="replace")
        encoding = "utf8-lossy" if codec == UTF8 else encoding
        notes.append(f"`{display}` has bytes that are not {codec} at offset {e.start}; `encoding: {encoding}` replaces them")
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding, notes


def _lines(text: str) -> list[str]:
    return [ln for ln in text.split("\n")[: SNIFF_LINES * 2] if ln.strip()][:SNIFF_LINES]


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits (quotes honoured) the most lines into the same number of fields: `,`, tab, `;`, `|`;
    else `whitespace` (runs of spaces), else `,`. A delimiter every line agrees on wins over one most lines do."""
    import csv

    best: tuple[tuple[bool, int], str] | None = None
    for d in DELIMITERS:
        widths = Counter(len(r) for r in csv.reader(lines, delimiter=d))
        width, seen = widths.most_common(1)[0] if widths else (0, 0)
        score = (seen == len(lines), width)
        if width > 1 and seen >= 0.9 * len(lines) and (best is None or score > best[0]):
            best = (score, d)
    if best is not None:
        return best[1]
    widths = Counter(len(ln.split()) for ln in lines)
    if widths and widths.most_common(1)[0][0] > 1 and widths.most_common(1)[0][1] >= 0.9 * len(lines):
        return "whitespace"
    return ","


def _split(lines: list[str], delimiter: str) -> list[list[str]]:
    if delimiter == "whitespace":
        return [ln.split() for ln in lines]
    import csv

    return list(csv.reader(lines, delimiter=delimiter))


def sniff_header(rows: list[list[str]]) -> bool:
    """Whether the first row is a header: a field is text over a column of numbers, or no first-row value recurs below."""
    if len(rows) < 2:
        return bool(rows) and not any(NUMBER.match(v.strip()) for v in rows[0])
    first, rest = rows[0], rows[1:]
    recurs = any(first[i] in {r[i] for r in rest if i < len(r)} for i in range(len(first)))
    numbers = [bool(NUMBER.match(v.strip())) for v in first]
    if any(numbers):
        # Numbers as names (a spectrum's `0,1,2,...`): integers over columns of decimals, none recurring below.
        ints_over_decimals = all(
            not is_num or ("." not in v and any("." in r[i] for r in rest if i < len(r)))
            for i, (v, is_num) in enumerate(zip(first, numbers, strict=True))
        )
        return ints_over_decimals and not recurs
    for i in range(len(first)):
        below = [r[i].strip() for r in rest if i < len(r) and r[i].strip()]
        if below and sum(bool(NUMBER.match(b)) for b in below) >= 0.9 * len(below):
            return True
    return not recurs


def names_file(files: list[Path], width: int) -> Path | None:
    """A file beside the data listing one name per line, exactly as many as the data has columns (e.g. `*_var`, `*.names`)."""
    folder = files[0].parent
    for f in sorted(folder.iterdir()):
        if f in files or not f.is_file() or f.stat().st_size > 64 * 1024 or f.suffix.lower() in (".md", ".parquet", ".xlsx"):
            continue
        try:
            lines = [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except (UnicodeDecodeError, OSError):
            continue
        if len(lines) == width and len(set(lines)) == width and all(_IDENTIFIER.match(ln) for ln in lines):
            return f
    return None


def _read_names(path: Path, width: int, display: str) -> list[str]:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(lines) != width:
        raise SourceError(
            f"`{display}` lists {len(lines)} names, but the data has {width} columns; list one name per line, in order"
        )
    return lines


def _ragged(text: str, delimiter: str, width: int, display: str) -> SourceError:
    import csv

    for i, row in enumerate(csv.reader(text.split("\n"), delimiter=delimiter), start=1):
        if row and len(row) != width:
            return SourceError(
                f"`{display}`, line {i}: {len(row)} fields where the first line has {width}; quote fields that hold "
                f"`{delimiter}` (or repair the line), then run `moshu init` again"
            )
    return SourceError(f"`{display}` cannot be read as `{delimiter}`-delimited text; check that every line has {width} fields")


def _text_frame(text: str, delimiter: str, header: bool, names: list[str], display: str) -> pl.DataFrame:
    import io

    if delimiter == "whitespace":
        lines = [ln.split() for ln in text.split("\n") if ln.strip()]
        lines = lines[1:] if header else lines
        bad = next((i for i, r in enumerate(lines) if len(r) != len(names)), None)
        if bad is not None:
            raise SourceError(
                f"`{display}`, data row {bad + 1}: {len(lines[bad])} fields where the first row has {len(names)}; "
                "a whitespace-separated file needs the same number of fields on every line"
            )
        return pl.DataFrame([list(c) for c in zip(*lines, strict=True)] or [[] for _ in names], schema=names, orient="col")
    try:
        return pl.read_csv(
            io.BytesIO(text.encode()), separator=delimiter, has_header=False, skip_rows=1 if header else 0,
            new_columns=names, infer_schema=False, null_values=[""],
        )  # fmt: skip
    except pl.exceptions.PolarsError:
        raise _ragged(text, delimiter, len(names), display) from None


_DECIMAL_COMMA = r"^[+-]?\d+(,\d+)?$"


def decimal_comma(frame: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
    """Columns of numbers written with a decimal comma (`12,5`) rewritten with a point, and whether there were any."""
    fixed = []
    for name in frame.columns:
        v = frame.get_column(name).drop_nulls().str.strip_chars()
        if v.len() and v.str.contains(_DECIMAL_COMMA).all() and v.str.contains(",").any():
            fixed.append(name)
    if not fixed:
        return frame, False
    return frame.with_columns(pl.col(fixed).str.replace(",", ".", literal=True)), True


def sample_text(root: Path, files: list[Path], names_path: Path | None) -> Sample:
    """Sample delimited text files: the head of each (`FILE_BYTES`, `TOTAL_BYTES` in all), decoded, every value as text.

    Encoding, delimiter and header are judged on the first file; later files are read with their own header names.

    Args:
        root: The project root.
        files: The matched files.
        names_path: A file with one column name per line, for files without a header.

    Raises:
        SourceError: a file is empty, not text, or has a line with another number of fields.
    """
    budget, complete = TOTAL_BYTES, True
    parts: list[pl.DataFrame] = []
    sampled: list[str] = []
    notes: list[str] = []
    renamed = False
    layout: tuple[str, str, bool, list[str]] | None = None
    names_from = None
    for path in spread(files):
        display = relative(path, root)
        if budget <= 0:
            complete = False
            break
        data, whole = _head_bytes(path, min(FILE_BYTES, budget))
        budget -= len(data)
        complete &= whole
        text, encoding, found = _decode(path, data, display)
        notes += found
        if layout is None:
            lines = _lines(text)
            if not lines:
                raise SourceError(f"`{display}` is empty; give files that hold data")
            delimiter = sniff_delimiter(lines)
            rows = _split(lines, delimiter)
            header = sniff_header(rows)
            width = len(rows[0])
            if header:
                names = [v.strip() for v in rows[0]]
                if len(set(names)) < len(names):
                    names, renamed = deduped(names), True
            elif names_path is not None or (names_path := names_file(files, width)) is not None:
                names = _read_names(names_path, width, relative(names_path, root))
                names_from = relative(names_path, root)
            else:
                names = [f"col_{i + 1:0{max(2, len(str(width)))}d}" for i in range(width)]
            layout = (encoding, delimiter, header, names)
        names = layout[3]
        if layout[2] and layout[1] != "whitespace" and sampled:  # a later file's own header, matched ignoring case
            canon = {n.strip().lower(): n for n in layout[3]}
            names = [canon.get(n.lower(), n) for n in deduped([v.strip() for v in _split(_lines(text)[:1], layout[1])[0]])]
        frame = _text_frame(text, layout[1], layout[2], names, display)
        parts.append(frame.with_columns(pl.lit(display).alias(PATH)))
        sampled.append(display)
    assert layout is not None
    complete &= len(sampled) == len(files)
    drifted = drift(parts)
    frame = pl.concat(parts, how="diagonal")
    if frame.height > MAX_ROWS:
        frame, complete = frame.head(MAX_ROWS), False
    comma = False
    if layout[1] != ",":
        frame, comma = decimal_comma(frame)
    return Sample(
        files, sampled, "csv", frame, [c for c in frame.columns if c != PATH], complete=complete, encoding=layout[0],
        delimiter=layout[1], header=layout[2], names_from=names_from, notes=notes + drifted, renamed=renamed,
        decimal_comma=comma, drift=bool(drifted),
    )  # fmt: skip
