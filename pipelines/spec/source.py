"""Source models of a dataset spec: where the raw files are and how to read them (csv, Excel, historian long format, landing folder)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from pipelines.spec.base import NAME_PATTERN, _Frozen


class CsvOptions(_Frozen):
    """How to read a delimited text file."""

    ADDED_LATER = ("decimal_comma", "transpose")

    delimiter: str = Field(
        ",",
        min_length=1,
        description="Field separator: one character, or `whitespace` for runs of spaces/tabs (fixed-width exports).",
    )
    header: bool = Field(True, description="Whether the first line holds column names.")
    column_names: tuple[str, ...] | None = Field(
        None,
        description="Names of the columns in file order; required when `header` is false. With `header: true` they "
        "replace the header's names position by position (the way to tell apart two columns with the same header).",
    )
    null_values: tuple[str, ...] = Field(
        ("",), description="Strings that mean 'no value' (matched exactly, before type conversion)."
    )
    encoding: Literal["utf8", "utf8-lossy", "utf8-sig", "gbk", "gb18030", "auto"] = Field(
        "utf8",
        description="Text encoding: `utf8` (a byte-order mark is dropped), `utf8-sig` (the same, named for exports that "
        "write one), `utf8-lossy` (undecodable bytes replaced instead of failing), `gbk`, `gb18030`, or `auto` "
        "(a byte-order mark, else detected from the first 64 KiB). Files not in UTF-8 are transcoded to a temporary "
        "UTF-8 copy before reading.",
    )
    decimal_comma: bool = Field(
        False,
        description="Numbers in float columns use a decimal comma (`12,5` is 12.5), as in European lab exports; "
        'usually with `delimiter: ";"`. A value with a `.` (e.g. a thousands separator) then fails conversion.',
    )
    quote_char: str | None = Field('"', description="Quote character, or null for none.")
    transpose: bool = Field(
        False,
        description="The file is stored column-major: its first column holds the field names and each further column "
        "is one record (a matrix exported sideways). Record n (`_source_row` n) is the file's column n + 1.",
    )
    skip_rows: int = Field(0, ge=0, description="Lines to skip before the header (or the first row).")
    comment_prefix: str | None = Field(None, description="Lines starting with this are ignored.")

    @model_validator(mode="after")
    def _names_when_headerless(self) -> CsvOptions:
        if len(self.delimiter) != 1 and self.delimiter != "whitespace":
            raise ValueError(f"`delimiter` must be one character or `whitespace`, not {self.delimiter!r}")
        if self.delimiter == "whitespace" and self.header:
            raise ValueError("`delimiter: whitespace` reads files without a header: set `header: false` and `column_names`")
        if self.transpose and self.delimiter == "whitespace":
            raise ValueError("`transpose` reads delimited files: set `delimiter` to the file's separator, not `whitespace`")
        return self


class ExcelOptions(_Frozen):
    """How to read an Excel workbook (`.xlsx`): which sheet, and where its header is."""

    ADDED_LATER = ("transpose",)

    sheet: str | int = Field(0, description="Sheet to read: its name, or its 0-based position in the workbook.")
    header_row: int = Field(
        0, ge=0, description="0-based row of the header (the Excel row number minus 1); rows above it are skipped."
    )
    column_names: tuple[str, ...] | None = Field(
        None, description="Names replacing the header's, position by position (e.g. to tell apart two equal headers)."
    )
    null_values: tuple[str, ...] = Field(
        ("",), description="Cell texts that mean 'no value' (matched exactly, before type conversion); empty cells are null."
    )
    transpose: bool = Field(
        False,
        description="The sheet is stored column-major: from `header_row` down, its first column holds the field names "
        "and each further non-empty column is one record; `_source_row` is the record's Excel column number (B is 2).",
    )


class LongOptions(_Frozen):
    """A historian export in long format: one row per (tag, timestamp, value, quality), pivoted to one row per timestamp."""

    tag: str = Field(description="Raw column holding the tag name (e.g. `TagName`).")
    timestamp: str = Field(
        description="Raw column holding the timestamp; a spec column must read it (`source:` this name, or be named so)."
    )
    value: str = Field(description="Raw column holding the value.")
    quality: str | None = Field(
        None,
        description="Raw column holding the OPC UA status code: a number or hex text (`0x80340000`; severity bits "
        "0x40000000 Uncertain, 0x80000000 Bad) or a name (`Good`, `Uncertain...`, `Bad...`). Each tag column `<c>` "
        "gets `<c>__quality` (QARTOD: 1 good, 2 no code, 3 uncertain, 4 bad (value set to null), 9 no row for the tag).",
    )
    keys: tuple[str, ...] = Field(
        (), description="Raw columns that, with the timestamp, identify a pivoted row (e.g. a unit or line id)."
    )
    tags: dict[str, str] = Field(
        min_length=1, description="Tag name in the file -> spec column name, one column per tag (e.g. `FIC101.PV: flow`)."
    )
    ignore_tags: tuple[str, ...] = Field(
        (), description="Tags in the files that are deliberately not read; any other tag missing from `tags` is an error."
    )

    @model_validator(mode="after")
    def _distinct(self) -> LongOptions:
        cols = list(self.tags.values())
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        if dupes:
            raise ValueError(f"`tags` maps two tags to the same column: {dupes}")
        bad = [c for c in cols if not re.match(NAME_PATTERN, c)]
        if bad:
            raise ValueError(f"`tags` values must be spec column names (snake_case): {bad}")
        both = sorted(set(self.tags) & set(self.ignore_tags))
        if both:
            raise ValueError(f"tags both mapped and ignored: {both}")
        raw = [self.tag, self.timestamp, self.value, *([self.quality] if self.quality else []), *self.keys]
        if len(set(raw)) != len(raw):
            raise ValueError(f"`tag`, `timestamp`, `value`, `quality` and `keys` must be distinct raw columns: {raw}")
        return self


class LandingOptions(_Frozen):
    """A landing folder watched by a Dagster sensor: each new, complete, readable file triggers one run."""

    path: str = Field(
        description="Folder, relative to the project root, where raw files are delivered (e.g. `landing/press`). "
        "`source.path` must be a non-recursive glob inside it (e.g. `landing/press/*.csv`), so the `_quarantine/` "
        "and `_duplicates/` subfolders are never read."
    )
    stable_seconds: int = Field(
        5,
        ge=0,
        description="A file is left alone until it is this many seconds old and its size and modification time "
        "are unchanged since the sensor's previous tick.",
    )
    temp_suffixes: tuple[str, ...] = Field(
        (".tmp", ".part", ".filepart", "~"),
        description="Files ending in one of these are still being written and are never read.",
    )


class Source(_Frozen):
    """Where the raw files are and how to read them."""

    ADDED_LATER = ("excel", "long", "drift", "landing", "on_bad_file")

    format: Literal["csv", "parquet", "xlsx", "jsonl"] = Field(
        description="File format of the raw files: csv (any delimited text), parquet, xlsx (Excel) or jsonl (JSON Lines)."
    )
    path: str = Field(description="Glob of raw files, relative to the project root (e.g. `seeds/ai4i2020/*.csv`).")
    csv: CsvOptions = Field(default_factory=CsvOptions, description="Reader options for `format: csv`.")
    excel: ExcelOptions | None = Field(
        None, description="Reader options for `format: xlsx` (default: the first sheet, header in its first row)."
    )
    long: LongOptions | None = Field(
        None,
        description="Historian long format (csv, parquet or jsonl): one row per tag and timestamp, pivoted to one row "
        "per timestamp (and `keys`) with one column per mapped tag plus its `<column>__quality` flag.",
    )
    drift: Literal["fail", "quarantine_file", "allow_new_nullable"] = Field(
        "fail",
        description="What a file whose columns differ from what the spec reads does: a missing or renamed column "
        "stops the run (`fail`), or sets the file aside, reported with its rows (`quarantine_file`, which also sets "
        "aside a Parquet file whose column types differ from most files'); `allow_new_nullable` reads a column the "
        "file lacks as null (a column added to the spec after older files were written) but still fails on a rename. "
        "Columns the spec does not read are always allowed; new and retyped columns are listed in the drift report.",
    )
    on_bad_file: Literal["quarantine_file", "fail"] = Field(
        "quarantine_file",
        description="What a file whose structure does not fit the spec does (empty, header only, undecodable, a row "
        "with more fields than the header, most rows short, unreadable, or stored transposed): set it aside with its "
        "reason and read the others (`quarantine_file`; the run fails, listing every file and its reason, when every "
        "file is bad), or stop the run (`fail`). Missing or renamed columns follow `drift`.",
    )
    landing: LandingOptions | None = Field(
        None,
        description="Watch a landing folder with a Dagster sensor (`<name>_landing_sensor`): new stable files are "
        "checked, unreadable ones moved to `<landing>/_quarantine/` with a `.reason.txt`, copies of bytes already "
        "seen moved to `<landing>/_duplicates/`, and one run of the dataset's job is requested per new set of "
        "contents (a ledger keyed by sha256 makes the same bytes never trigger twice).",
    )

    @model_validator(mode="after")
    def _excel_only_for_xlsx(self) -> Source:
        if self.excel is not None and self.format != "xlsx":
            raise ValueError(f"`excel` options apply to `format: xlsx`, not `format: {self.format}`")
        if self.long is not None and self.format == "xlsx":
            raise ValueError("`long` applies to `format: csv`, `parquet` or `jsonl`, not `format: xlsx`")
        if self.long is not None and self.csv.transpose:
            raise ValueError("`csv.transpose` and `long` cannot be combined: a long-format file is read row by row")
        if self.landing is not None:
            folder = self.landing.path.strip("/")
            if "**" in self.path or not self.path.startswith(folder + "/") or "/" in self.path[len(folder) + 1 :]:
                raise ValueError(
                    f"with `landing.path: {self.landing.path}`, `path` must be a non-recursive glob directly in "
                    f"that folder (e.g. `{folder}/*.{self.format}`), not `{self.path}`"
                )
        return self
