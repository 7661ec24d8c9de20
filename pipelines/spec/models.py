"""Frozen pydantic models of a dataset spec (`dataset_specs/<name>.yaml`)."""

from __future__ import annotations

import re
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pipelines.spec.anomalies import Anomalies, did_you_mean
from pipelines.spec.base import NAME_PATTERN, TIME_DTYPES, DType, Role, Sensitivity, _Frozen
from pipelines.spec.base import NUMERIC_DTYPES as NUMERIC_DTYPES  # re-exported: importers use `models`
from pipelines.spec.groups import ColumnGroup
from pipelines.spec.rules import Rule

if TYPE_CHECKING:  # `pipelines.spec` rebuilds DatasetSpec once `enrich.py` (which builds on Column) is loaded
    from pipelines.spec.enrich import Enrich

# Names a dataset may not take: they are catalog tables, views or macros.
RESERVED_NAMES = frozenset(
    {
        "datasets",
        "versions",
        "columns",
        "rule_results",
        "source_files",
        "quarantine_summary",
        "set_aside_files",
        "runs",
        "anomalies",
        "schema_migrations",
        "dataset",
        "quarantine",
        "latest_versions",
        "measures",
        "dimension_scores",
        "column_profiles",
        "dataset_profiles",
        "score_trend",
        "dimension_trend",
        "worst_rules",
        "demands",
        "demand_results",
        "demand_gaps",
        "demand_counts",
        "splits",
        "split",
        "model_runs",
        "model_metrics",
        "model_scores",
        "feedback",
        "feedback_reviews",
        "feedback_status",
        "corrections",
        "changelog",
        "version_diffs",
        "diff_rows",
        "trial_trend",
        "version_partitions",
        "frozen_evals",
        "frozen_eval",
    }
)
Grade = Literal["general", "important", "core"]
GRADE_ORDER: tuple[str, ...] = ("general", "important", "core")
Domain = Literal["r_and_d", "production", "operations_maintenance", "management", "external"]


ORIGINAL_SUFFIX = "_original"


def original_name(name: str) -> str:
    """Name of the column that keeps a time column's raw text (`keep_original`)."""
    return name + ORIGINAL_SUFFIX


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


class Column(_Frozen):
    """One column of the published dataset."""

    ADDED_LATER = ("time_encoding", "timezone", "keep_original", "source_unit", "expr", "map")

    name: str = Field(pattern=NAME_PATTERN, description="Clean column name in the published data (snake_case).")
    source: str | None = Field(None, description="Column name in the raw file, when it differs from `name`.")
    from_path: str | None = Field(
        None,
        description="Take the value from the raw file's path instead: a regular expression with one group, "
        r"matched against the path relative to the project root (e.g. `train_(FD\d{3})`).",
    )
    dtype: DType = Field(description="Type the raw value is converted to; a value that does not convert fails `schema.dtype`.")
    format: str | None = Field(
        None,
        description="strftime format for `date`/`datetime` text (e.g. `%Y-%m-%d %H:%M:%S`), or `auto`: detected per file "
        "from its first values among ISO 8601 (with or without `T`, fractions, offsets), `%Y/%m/%d %H:%M:%S`, "
        "`%d.%m.%Y %H:%M:%S`, `%m/%d/%Y %H:%M`, `%d/%m/%Y %H:%M`, `%Y年%m月%d日 %H:%M:%S` and their variants; "
        "a file whose values read both day-first and month-first is refused.",
    )
    time_encoding: Literal["epoch_s", "epoch_ms", "epoch_us", "excel_serial"] | None = Field(
        None,
        description="How a `date`/`datetime` column's numeric raw values encode time: seconds, milliseconds or "
        "microseconds since 1970-01-01 UTC, or an Excel serial date (1900 date system: days since 1899-12-30, "
        "the fraction is the time of day, to the millisecond; serial 60, Excel's 1900-02-29, is invalid).",
    )
    timezone: str | None = Field(
        None,
        description="IANA time zone of the raw file's local times (e.g. `Asia/Shanghai`); they are converted to UTC "
        "and published as naive UTC datetimes. Without it, times are taken to be UTC already. A local time skipped "
        "by a daylight-saving gap fails `schema.dtype`; one repeated by the autumn overlap is read as the earlier "
        "instant. Values that carry an offset (`+08:00`, `Z`) and epoch values use their own offset.",
    )
    keep_original: bool = Field(
        False, description="Also publish the raw text of a `date`/`datetime` column as `<name>_original` (string)."
    )
    nullable: bool = Field(True, description="If false, a null value fails the generated `not_null` rule.")
    unit: str | None = Field(None, description="Physical unit of the published values (e.g. `K`, `rpm`, `Nm`).")
    source_unit: str | None = Field(
        None,
        description="Unit of the raw values when it differs from `unit` (e.g. `degF` for a `degC` column): "
        "converted at ingest with pint, offsets included; the column's dtype must be float.",
    )
    role: Role = Field("attribute", description="What the column is: timestamp, entity, measurement, label or attribute.")
    description: str = Field("", description="What the column means, for the field dictionary.")
    sensitivity: Sensitivity | None = Field(
        None,
        description="personal (pseudonymised at ingest by a keyed HMAC), confidential or public; "
        "default: the dataset's `classification.default_sensitivity`.",
    )
    expr: str | None = Field(
        None,
        description="Derive the column instead of reading it: a SQL expression (as in `expression` rules) over the "
        "source, path and `enrich` columns, earlier derived columns, `_file_row` (the row's 1-based position in its "
        "file), `_entity_row` (in its entity: the `entity` columns, ordered by file then row), `_source_row` and "
        "`_source_file`; its value is converted to `dtype` like a raw value (e.g. `day || ' ' || clock` with `format`).",
    )
    map: dict[str, str] | None = Field(
        None,
        description="Respell values of a string column after reading (e.g. `{end: End, END: End}`); values not "
        "listed are kept. The manifest records how many values each entry changed.",
    )

    @field_validator("from_path")
    @classmethod
    def _one_group(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            n = re.compile(v).groups
        except re.error as e:
            raise ValueError(f"`{v}` is not a valid regular expression: {e}") from None
        if n != 1:
            raise ValueError(f"`from_path` needs exactly one group `( )` to capture, `{v}` has {n}")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import difflib
        from zoneinfo import available_timezones

        zones = available_timezones()
        if v not in zones:
            close = difflib.get_close_matches(v, sorted(zones), n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else "write an IANA name such as `Asia/Shanghai` or `Europe/Berlin`"
            raise ValueError(f"`{v}` is not an IANA time zone; {hint}")
        return v

    @model_validator(mode="after")
    def _conversions_consistent(self) -> Column:
        from pipelines.spec.derive import derived_problem

        problem = self._time_problem() or self._unit_problem() or derived_problem(self)
        if problem:
            raise ValueError(f"column `{self.name}`: {problem}")
        return self

    def _time_problem(self) -> str | None:
        """What is wrong with the column's time options, if anything."""
        used = [k for k in ("time_encoding", "timezone", "keep_original") if getattr(self, k)]
        if used and self.dtype not in ("date", "datetime"):
            return f"`{used[0]}` only applies to date/datetime columns"
        if self.format and self.time_encoding:
            return "`format` reads text and `time_encoding` numbers: declare only one"
        if self.timezone and self.dtype == "date":
            return "a date has no time of day, so no `timezone`: remove it or declare `dtype: datetime`"
        if self.timezone and self.time_encoding and self.time_encoding.startswith("epoch"):
            return "epoch values are UTC instants already: remove `timezone`"
        if self.timezone and self.format and re.search(r"%[:#]?z", self.format):
            return "`format` reads each value's UTC offset (`%z`): remove `timezone`"
        if self.keep_original and len(self.name) > 63 - len(ORIGINAL_SUFFIX):
            return "`keep_original` publishes `<name>_original`, which would be longer than 63 characters"
        return None

    def _unit_problem(self) -> str | None:
        """What is wrong with the column's unit conversion, if anything (pint is loaded only for `source_unit`)."""
        if self.source_unit is None:
            return None
        if not self.unit:
            return f"`source_unit: {self.source_unit}` needs `unit:`, the unit the values are converted to"
        if self.dtype not in ("float32", "float64"):
            return f"values converted from `{self.source_unit}` to `{self.unit}` are fractional: declare `dtype: float64`"
        from pipelines.spec.column_checks import unit_conversion

        try:
            unit_conversion(self.source_unit, self.unit)
        except ValueError as e:
            return f"cannot convert `source_unit: {self.source_unit}` to `unit: {self.unit}`: {e}"
        return None

    @property
    def source_name(self) -> str:
        """Name of the column in the raw file."""
        return self.source if self.source is not None else self.name

    @property
    def original_column(self) -> Column | None:
        """With `keep_original`, the published string column `<name>_original` holding the raw text; else None."""
        if not self.keep_original:
            return None
        return Column(
            name=original_name(self.name),
            source=self.source_name,
            dtype="string",
            role="attribute",
            description=f"`{self.name}` as written in the raw file, before conversion.",
            sensitivity=self.sensitivity,
        )


class Partitions(_Frozen):
    """Time partitions of a stream: each raw file belongs to one day (or hour), taken from its path.

    Dagster partitions and backfills then run per partition; a run rebuilds only its partitions and
    the new version takes every other partition from its parent unchanged (hard links, not copies).
    """

    column: str = Field(
        description="The `datetime` (or `date`) column the partitions cut; a row outside its file's window is quarantined."
    )
    granularity: Literal["daily", "hourly"] = Field("daily", description="One partition per UTC day or per UTC hour.")
    start: str = Field(
        description="First partition: `YYYY-MM-DD` (daily) or `YYYY-MM-DD-HH:00` (hourly), as Dagster writes partition keys."
    )
    end: str | None = Field(None, description="Partition after the last one, same form; default: up to now.")
    path_pattern: str = Field(
        description="Regular expression with one group, matched against each raw file's path (relative to the project "
        r"root), capturing the partition's date or hour (e.g. `(\d{4}-\d{2}-\d{2})\.csv$`)."
    )
    path_format: str = Field(
        "%Y-%m-%d",
        description="strptime format of the captured text (e.g. `%Y%m%d`, or `%Y%m%d%H` for hourly files).",
    )

    @field_validator("path_pattern")
    @classmethod
    def _one_group(cls, v: str) -> str:
        try:
            n = re.compile(v).groups
        except re.error as e:
            raise ValueError(f"`{v}` is not a valid regular expression: {e}") from None
        if n != 1:
            raise ValueError(f"`path_pattern` needs exactly one group `( )` capturing the date, `{v}` has {n}")
        return v

    @model_validator(mode="after")
    def _keys_parse(self) -> Partitions:
        from pipelines.partitions import parse_key

        for field in ("start", "end"):
            value = getattr(self, field)
            if value is not None:
                try:
                    parse_key(value, self.granularity)
                except ValueError as e:
                    raise ValueError(f"`{field}`: {e}") from None
        return self


class Synthetic(_Frozen):
    """Marks generated data (GB 45438): what made it and how."""

    generator: str = Field(description="The program that generated the data.")
    generator_version: str = Field("1", description="Version of the generator.")
    seed: int | None = Field(None, description="Random seed the data was generated with.")
    description: str = Field("", description="How the data was generated and what it imitates.")


class Classification(_Frozen):
    """Who is accountable for a dataset and how it must be protected (GB/T 43697)."""

    grade: Grade = Field(description="GB/T 43697 data grade: general, important or core.")
    domain: Domain = Field(
        description="Industrial data domain: r_and_d, production, operations_maintenance, management or external."
    )
    cdo: str = Field(min_length=1, description="The accountable chief data officer.")
    retention: str = Field(
        pattern=r"^P(\d+Y)?(\d+M)?(\d+D)?$",
        description="How long versions are kept, as an ISO 8601 duration (e.g. `P5Y`, `P18M`).",
    )
    default_sensitivity: Sensitivity = Field(
        description="Sensitivity of columns that do not declare their own: personal, confidential or public."
    )
    derived_from: tuple[str, ...] = Field(
        (), description="Datasets this one is derived from; its grade must be at least the highest of theirs."
    )
    known_limitations: tuple[str, ...] = Field((), description="What a model team must know before using the data.")


class DatasetSpec(_Frozen):
    """A dataset: where its raw data comes from, what its columns are, which rules it must meet."""

    ADDED_LATER = ("partitions", "enrich", "columns_from", "anomalies")

    name: str = Field(pattern=NAME_PATTERN, description="Dataset id: lowercase, digits and `_`; names the catalog view.")
    title: str = Field(description="Human title.")
    description: str = Field(description="What the dataset holds and what it is for.")
    owner: str = Field(description="Team or person accountable for the dataset.")
    license: str | None = Field(None, description="License of the data (SPDX id where one exists).")
    attribution: str | None = Field(None, description="Required attribution / citation for the source data.")
    synthetic: Synthetic | None = Field(None, description="Set when the data is generated rather than measured.")
    classification: Classification = Field(
        description="Grade, domain, CDO, retention and default column sensitivity; required for every dataset."
    )
    source: Source = Field(description="Where the raw files are and how to read them.")
    columns: tuple[Column, ...] = Field(
        (), description="Columns of the published dataset, in order (then the members of `columns_from`)."
    )
    columns_from: tuple[ColumnGroup, ...] = Field(
        (),
        description="Column groups: many raw columns declared at once by a regex over the header names or by "
        "position, resolved into columns when the spec is loaded (see docs/ingest.md).",
    )
    primary_key: tuple[str, ...] = Field(
        (), description="Columns that identify a row; generates a `unique` rule and `not_null` rules."
    )
    rules: tuple[str, ...] = Field((), description="Rule files, relative to the project root.")
    schedule: str | None = Field(None, description="Cron expression for the Dagster schedule, e.g. `0 2 * * *`.")
    min_level: Literal["uncertified", "bronze", "silver", "gold"] = Field(
        "uncertified",
        description="Publish gate: the lowest certification level a version needs to become `latest`; "
        "a version below it is kept as a rejected candidate.",
    )
    tags: tuple[str, ...] = Field((), description="Free-form tags for search.")
    partitions: Partitions | None = Field(
        None,
        description="Time partitions (daily or hourly) for a stream delivered as one file per day or hour: runs and "
        "backfills then build only the partitions asked for, and each version records the partitions it holds.",
    )
    enrich: tuple[Enrich, ...] = Field(
        (),
        description="Lookup or paired files whose columns are joined onto the rows by key columns (`by: key`, e.g. "
        "one label row per experiment) or by row position (`by: position`, a labels file beside each features "
        "file). Their columns are published after `columns`, and their files are part of the data hash.",
    )
    anomalies: Anomalies | None = Field(
        None,
        description="Flag changes against the previous versions (or the last partitions): row count, null shares, "
        "distinct counts and distributions; each flagged measure lowers the consistency score (clause K-6).",
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_NAMES:
            raise ValueError(f"`{v}` is reserved for the catalog; choose another name")
        if "__" in v:
            raise ValueError(f"`{v}`: Dagster step names join the dataset and the stage with `__`; use single `_`")
        return v

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError(f"`{v}` is not a valid cron expression (five fields: minute hour day month weekday)")
        return v

    @model_validator(mode="after")
    def _columns_consistent(self) -> DatasetSpec:
        from pipelines.spec.groups import shape_problem

        if problem := shape_problem(self.columns, self.columns_from, self.source.csv):
            raise ValueError(problem)
        names = [c.name for c in self.declared_columns]
        grouped = bool(self.columns_from)  # members are known once the groups are resolved (expand.py)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"column names must be unique; repeated: {dupes}")
        sources = [c.source_name for c in self.columns if c.from_path is None and c.expr is None]
        dup_src = sorted({n for n in sources if sources.count(n) > 1})
        if dup_src:
            raise ValueError(f"two columns read the same source column: {dup_src}")
        missing = [k for k in self.primary_key if k not in names]
        if missing and not grouped:
            raise ValueError(f"primary_key names unknown columns {missing}; columns are {names}")
        if self.source.format == "csv" and not self.source.csv.header and not grouped:
            given = self.source.csv.column_names or ()
            unknown = [s for s in sources if s not in given]
            if unknown:
                raise ValueError(f"columns read source columns {unknown} that are not in `source.csv.column_names`")
        for c in self.declared_columns:
            if (c.sensitivity or self.classification.default_sensitivity) == "personal" and c.dtype != "string":
                raise ValueError(
                    f"column `{c.name}` is personal, so it is replaced by a pseudonym (text): declare `dtype: string`"
                )
            if (c.sensitivity or self.classification.default_sensitivity) == "personal" and c.name in self.primary_key:
                raise ValueError(
                    f"column `{c.name}` is personal and cannot be part of the primary key (row keys are shown to model teams)"
                )
            if c.format and c.dtype not in ("date", "datetime"):
                raise ValueError(f"column `{c.name}`: `format` only applies to date/datetime columns")
        if self.anomalies is not None and not grouped and (unknown := self.anomalies.unknown_columns(names)):
            raise ValueError(f"`anomalies.columns` names unknown columns {unknown}{did_you_mean(unknown[0], names)}")
        if self.partitions is not None:
            col = next((c for c in self.columns if c.name == self.partitions.column), None)
            if col is None and grouped:
                return self
            if col is None:
                raise ValueError(f"`partitions.column` names unknown column `{self.partitions.column}`; columns are {names}")
            if col.dtype not in TIME_DTYPES:
                raise ValueError(f"`partitions.column` `{col.name}` is {col.dtype}: partitions cut a `datetime` or `date` column")
            if col.dtype == "date" and self.partitions.granularity == "hourly":
                raise ValueError(f"hourly partitions need a `datetime` column; `{col.name}` is a date")
            if col.timezone:
                raise ValueError(
                    f"`partitions.column` `{col.name}` declares `timezone: {col.timezone}`: it is stored in UTC, while "
                    "partitions are UTC days or hours named by the file's date, so a local day would straddle two "
                    "partitions; deliver files per UTC day (and drop `timezone`) or do not partition"
                )
            if self.partitions.granularity == "hourly" and "%H" not in self.partitions.path_format:
                raise ValueError("hourly partitions need the hour in the file name: add `%H` to `partitions.path_format`")
            if self.schedule:
                raise ValueError(
                    "a partitioned dataset is scheduled per partition (each runs once its day or hour is over): remove `schedule`"
                )
            if self.primary_key and col.name not in self.primary_key:
                raise ValueError(
                    f"the primary key {list(self.primary_key)} must include the partition column `{col.name}`: keys are "
                    "checked within a partition, and only a key holding the partition's time cannot repeat in another"
                )
        return self

    def sensitivity(self, column: str) -> str:
        """A column's sensitivity (its own, else the dataset's default)."""
        return self.column(column).sensitivity or self.classification.default_sensitivity

    def parquet_metadata(self) -> dict[str, str]:
        """Key-value metadata of every Parquet file of a version: dataset, grade and the synthetic-content label (GB 45438)."""
        import json

        return {
            "moshu.dataset": self.name,
            "moshu.grade": self.classification.grade,
            "moshu.synthetic": "true" if self.synthetic else "false",
            "moshu.synthetic.generator": json.dumps(self.synthetic.model_dump(mode="json")) if self.synthetic else "",
            "moshu.personal_columns": json.dumps(self.personal_columns),
        }

    @property
    def personal_columns(self) -> list[str]:
        """Columns pseudonymised at ingest."""
        return [c.name for c in self.declared_columns if self.sensitivity(c.name) == "personal"]

    @property
    def declared_columns(self) -> list[Column]:
        """The spec's `columns`, then the columns its `enrich` files bring in."""
        return [*self.columns, *(c for e in self.enrich for c in e.columns)]

    @property
    def published_columns(self) -> list[Column]:
        """Published columns, in order: each declared column, then its `<name>_original` if it keeps one."""
        return [p for c in self.declared_columns for p in (c, c.original_column) if p is not None]

    def column(self, name: str) -> Column:
        """Return the published column called `name`."""
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, Column]:
        """Published columns by name, built once (a wide spec asks for hundreds of them)."""
        return {c.name: c for c in self.published_columns}

    @property
    def column_names(self) -> list[str]:
        """Published column names, in order."""
        return [c.name for c in self.published_columns]


def slug(text: str) -> str:
    """Lowercase snake_case form of a raw header (used in hints)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class RuleFile(_Frozen):
    """A quality-rule file (`quality_rules/*.yaml`)."""

    rules: tuple[Annotated[Rule, Field(discriminator="kind")], ...] = Field(
        min_length=1, description="The rules, each with a unique `id` and a `kind`."
    )
