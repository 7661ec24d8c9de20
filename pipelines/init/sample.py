"""The sample of a new dataset's raw files: which files, which format, and the shared limits and helpers."""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.errors import SourceError

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
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


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
        renamed: Whether repeated header names were made unique (then `column_names` lists them).
        decimal_comma: Whether numbers are written with a decimal comma.
        header_row: The 0-based row of an Excel sheet's header.
        drift: Whether some files lack columns others have.
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
    renamed: bool = False
    decimal_comma: bool = False
    header_row: int = 0
    drift: bool = False

    @property
    def rows(self) -> int:
        """Rows sampled."""
        return self.frame.height


PATH = "__path"
_NOT_DATA = ("readme", "license", "licence", "notes", "changelog")  # documents beside the data in a folder


def match_files(root: Path, pattern: str) -> tuple[str, list[Path]]:
    """The glob relative to the project root, and the files it matches.

    Args:
        root: The project root.
        pattern: A file, folder or glob, relative to the project root (or absolute inside it). A folder means its
            files of the most common extension, leaving out documents such as `readme.txt`.

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
        data = [f.name for f in inside if f.suffix == ext and not f.name.lower().startswith(_NOT_DATA)]
        stem = os.path.commonprefix(data) if data and len(data) < len(inside) else ""  # noqa: RUF071  (a name prefix)
        rel = f"{rel.rstrip('/')}/{stem}*{ext}"
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


def spread(files: list[Path]) -> list[Path]:
    """At most `MAX_FILES` of the files, evenly spread over the sorted list (first and late files both sampled)."""
    if len(files) <= MAX_FILES:
        return files
    step = len(files) / MAX_FILES
    return [files[int(i * step)] for i in range(MAX_FILES)]


def deduped(names: list[str]) -> list[str]:
    """Header names made unique by position (`Torque [Nm]`, `Torque [Nm] 2`), for `column_names`."""
    out: list[str] = []
    for name in names:
        new, k = name, 2
        while new in out:  # the number goes before a unit in brackets: `Torque 2 [Nm]`
            new, k = re.sub(r"^(.*?)(\s*[\[(（][^\])）]*[\])）]\s*)?$", rf"\g<1> {k}\g<2>", name, count=1), k + 1
        out.append(new)
    return out


def drift(parts: list[pl.DataFrame]) -> list[str]:
    """Notes on columns that some sampled files lack (the files' columns drift)."""
    everywhere = set.intersection(*(set(p.columns) for p in parts)) if parts else set()
    lacking = {c: sum(c not in p.columns for p in parts) for p in parts for c in p.columns if c not in everywhere}
    if not lacking:
        return []
    listed = ", ".join(f"`{c}` ({k} of {len(parts)} files lack it)" for c, k in lacking.items())
    return [f"REVIEW: the files' columns differ: {listed}; `drift: allow_new_nullable` reads a missing column as null"]
