"""Read a bounded sample of a new dataset's raw files: format, encoding, delimiter, header, and the values as text."""

from __future__ import annotations

import codecs
import glob
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.errors import SourceError
from pipelines.ingest.encoding import UTF8, UTF8_BOM, detect_codec
from pipelines.paths import relative

MAX_FILES = 16  # files sampled, spread over the sorted matches
FILE_BYTES = 8 << 20  # bytes read from the head of each text file
TOTAL_BYTES = 32 << 20  # bytes read over all files
MAX_ROWS = 200_000  # rows kept over all files
SNIFF_LINES = 50  # lines the delimiter and header are judged on
DELIMITERS = (",", "\t", ";", "|")
FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".data": "csv",
    ".dat": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
_SPEC_ENCODINGS = {UTF8: "utf8", "gb18030": "gb18030", "gbk": "gb18030"}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_\u4e00-\u9fff][\w \-\u4e00-\u9fff]{0,62}$")


@dataclass
class Sample:
    """What was read of the raw files, and how they must be read.

    Attributes:
        files: Every matched file, sorted.
        sampled: The files that were read (relative to the project root).
        format: `csv`, `xlsx`, `jsonl` or `parquet`.
        frame: The sampled rows: one column per raw column (text for csv and xlsx), plus `PATH` (the file).
        raw_names: The raw column names in file order (generated `col_NN` for a file without a header).
        native: Raw polars types of columns that are not text (jsonl, parquet).
        complete: Whether every row of every file was read.
        encoding: `source.csv.encoding` to declare (csv only).
        delimiter: `source.csv.delimiter` (csv only).
        header: Whether the files start with a header line (csv only).
        names_from: The file the column names were taken from, for a headerless file with a names file.
        null_values: Extra texts that mean 'no value', seen in otherwise numeric columns.
        notes: Things a person should review, as text.
    """

    files: list[Path]
    sampled: list[str]
    format: str
    frame: pl.DataFrame
    raw_names: list[str]
    native: dict[str, pl.DataType] = field(default_factory=dict)
    complete: bool = True
    encoding: str = "utf8"
    delimiter: str = ","
    header: bool = True
    names_from: str | None = None
    null_values: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows sampled."""
        return self.frame.height


PATH = "__path"


def match_files(root: Path, pattern: str) -> tuple[str, list[Path]]:
    """The glob relative to the project root, and the files it matches.

    Args:
        root: The project root.
        pattern: A file, folder or glob, relative to the project root (or absolute inside it).

    Raises:
        SourceError: the pattern points outside the project, or matches no file.
    """
    root = root.resolve()
    given = Path(pattern)
    full = Path(os.path.normpath(given if given.is_absolute() else root / given))
    try:
        rel = full.relative_to(root).as_posix()
    except ValueError:
        raise SourceError(
            f"`{pattern}` is outside the project `{root}`: raw files must lie inside it (copy them under `seeds/` or a landing folder)"
        ) from None
    if (root / rel).is_dir():
        inside = sorted(f for f in (root / rel).iterdir() if f.is_file() and f.suffix.lower() in FORMATS)
        if not inside:
            raise SourceError(f"folder `{rel}` holds no file moshu reads ({', '.join(sorted(FORMATS))}); give a glob instead")
        ext = Counter(f.suffix for f in inside).most_common(1)[0][0]
        rel = f"{rel.rstrip('/')}/*{ext}"
    files = sorted(Path(f) for f in glob.glob(str(root / rel), recursive=True) if Path(f).is_file())
    if not files:
        raise SourceError(
            f"no file matches `{rel}` in the project `{root}`; check the path (globs such as `seeds/press/*.csv` work)"
        )
    return rel, files


def format_of(files: list[Path]) -> str:
    """The source format from the files' extension (unknown extensions are sniffed as delimited text)."""
    kinds = {FORMATS.get(f.suffix.lower(), "csv") for f in files}
    if len(kinds) > 1:
        raise SourceError(
            f"the files mix formats ({', '.join(sorted(kinds))}); one dataset reads one format: narrow the glob (e.g. `*.csv`)"
        )
    return kinds.pop()


def _spread(files: list[Path]) -> list[Path]:
    if len(files) <= MAX_FILES:
        return files
    step = len(files) / MAX_FILES
    return [files[int(i * step)] for i in range(MAX_FILES)]


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
    """The delimiter most lines agree on: `,`, tab, `;`, `|`, or `whitespace` (runs of spaces), else `,`."""
    best, best_count = ",", 0
    for d in DELIMITERS:
        counts = Counter(ln.count(d) for ln in lines)
        n, seen = counts.most_common(1)[0] if counts else (0, 0)
        if n > 0 and seen >= 0.9 * len(lines) and n > best_count:
            best, best_count = d, n
    if best_count:
        return best
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
        return bool(rows) and not any(_NUMBER.match(v.strip()) for v in rows[0])
    first, rest = rows[0], rows[1:]
    recurs = any(first[i] in {r[i] for r in rest if i < len(r)} for i in range(len(first)))
    numbers = [bool(_NUMBER.match(v.strip())) for v in first]
    if any(numbers):
        # Numbers as names (a spectrum's `0,1,2,...`): integers over columns of decimals, none recurring below.
        ints_over_decimals = all(
            not is_num or ("." not in v and any("." in r[i] for r in rest if i < len(r)))
            for i, (v, is_num) in enumerate(zip(first, numbers, strict=True))
        )
        return ints_over_decimals and not recurs
    for i in range(len(first)):
        below = [r[i].strip() for r in rest if i < len(r) and r[i].strip()]
        if below and sum(bool(_NUMBER.match(b)) for b in below) >= 0.9 * len(below):
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


def _text_frame(text: str, delimiter: str, header: bool, names: list[str], display: str) -> pl.DataFrame:
    import io

    try:
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
        return pl.read_csv(
            io.BytesIO(text.encode()), separator=delimiter, has_header=header, new_columns=names, infer_schema=False,
            null_values=[""],
        )  # fmt: skip
    except pl.exceptions.PolarsError as e:
        raise SourceError(
            f"`{display}` cannot be read as `{delimiter}`-delimited text: {str(e).splitlines()[0]}; "
            "check that every line has the same number of fields"
        ) from None


def _sample_text(root: Path, files: list[Path], names_path: Path | None) -> Sample:
    budget, parts, sampled, complete, notes = TOTAL_BYTES, [], [], True, []
    layout: tuple[str, str, bool, list[str]] | None = None
    names_from = None
    for path in _spread(files):
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
            elif names_path is not None or (names_path := names_file(files, width)) is not None:
                names = _read_names(names_path, width, relative(names_path, root))
                names_from = relative(names_path, root)
            else:
                names = [f"col_{i + 1:0{max(2, len(str(width)))}d}" for i in range(width)]
            layout = (encoding, delimiter, header, names)
        frame = _text_frame(text, layout[1], layout[2], layout[3], display)
        parts.append(frame.with_columns(pl.lit(display).alias(PATH)))
        sampled.append(display)
    assert layout is not None
    complete &= len(sampled) == len(files)
    frame = pl.concat(parts, how="vertical")
    if frame.height > MAX_ROWS:
        frame, complete = frame.head(MAX_ROWS), False
    return Sample(
        files, sampled, "csv", frame, layout[3], complete=complete, encoding=layout[0], delimiter=layout[1],
        header=layout[2], names_from=names_from, notes=notes,
    )  # fmt: skip


def _sample_typed(root: Path, files: list[Path], fmt: str) -> Sample:
    parts, sampled, complete = [], [], True
    per_file = max(1, MAX_ROWS // min(len(files), MAX_FILES))
    for path in _spread(files):
        display = relative(path, root)
        try:
            if fmt == "parquet":
                lf = pl.scan_parquet(path)
            elif fmt == "jsonl":
                lf = pl.scan_ndjson(path, infer_schema_length=1000)
            else:
                lf = pl.read_excel(path, engine="calamine", infer_schema_length=0, read_options={"n_rows": per_file + 1}).lazy()
            df = lf.head(per_file + 1).collect()
        except Exception as e:  # polars, fastexcel and the file system raise many kinds
            raise SourceError(
                f"`{display}` cannot be read as {fmt}: {str(e).splitlines()[0] if str(e) else type(e).__name__}; "
                "check the file is complete and of that format"
            ) from None
        complete &= df.height <= per_file
        parts.append(df.head(per_file).with_columns(pl.lit(display).alias(PATH)))
        sampled.append(display)
    complete &= len(sampled) == len(files)
    frame = pl.concat(parts, how="diagonal_relaxed")
    names = [c for c in frame.columns if c != PATH]
    native = {c: frame.schema[c] for c in names if frame.schema[c] != pl.String}
    return Sample(files, sampled, fmt, frame, names, native=native, complete=complete)


def read_sample(root: Path, files: list[Path], names_path: Path | None = None) -> Sample:
    """Read a bounded sample of the files: at most `MAX_FILES` files, `FILE_BYTES` each, `MAX_ROWS` rows in all.

    Args:
        root: The project root.
        files: The matched raw files.
        names_path: A file with one column name per line, for files without a header.

    Raises:
        SourceError: a file cannot be read; the message names it, says why and what to do.
    """
    fmt = format_of(files)
    if fmt == "csv":
        return _sample_text(root, files, names_path)
    return _sample_typed(root, files, fmt)
