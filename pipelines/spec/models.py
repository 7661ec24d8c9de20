"""Frozen pydantic models of a dataset spec (`dataset_specs/<name>.yaml`)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.spec.rules import Rule

# Names a dataset may not take: they are catalog tables, views or macros.
RESERVED_NAMES = frozenset(
    {
        "datasets",
        "versions",
        "columns",
        "rule_results",
        "source_files",
        "quarantine_summary",
        "runs",
        "schema_migrations",
        "dataset",
        "quarantine",
        "latest_versions",
        "measures",
        "dimension_scores",
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
    }
)
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"

DType = Literal[
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "bool",
    "string",
    "date",
    "datetime",
]
NUMERIC_DTYPES: frozenset[str] = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"}
)
TIME_DTYPES: frozenset[str] = frozenset({"datetime", "date"})
Role = Literal["timestamp", "entity", "measurement", "label", "attribute"]
Sensitivity = Literal["personal", "confidential", "public"]
Grade = Literal["general", "important", "core"]
GRADE_ORDER: tuple[str, ...] = ("general", "important", "core")
Domain = Literal["r_and_d", "production", "operations_maintenance", "management", "external"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CsvOptions(_Frozen):
    """How to read a delimited text file."""

    delimiter: str = Field(
        ",",
        min_length=1,
        description="Field separator: one character, or `whitespace` for runs of spaces/tabs (fixed-width exports).",
    )
    header: bool = Field(True, description="Whether the first line holds column names.")
    column_names: tuple[str, ...] | None = Field(
        None, description="Names of the columns in file order; required when `header` is false."
    )
    null_values: tuple[str, ...] = Field(
        ("",), description="Strings that mean 'no value' (matched exactly, before type conversion)."
    )
    encoding: Literal["utf8", "utf8-lossy"] = Field(
        "utf8", description="Text encoding; `utf8-lossy` replaces undecodable bytes instead of failing."
    )
    quote_char: str | None = Field('"', description="Quote character, or null for none.")
    skip_rows: int = Field(0, ge=0, description="Lines to skip before the header (or the first row).")
    comment_prefix: str | None = Field(None, description="Lines starting with this are ignored.")

    @model_validator(mode="after")
    def _names_when_headerless(self) -> CsvOptions:
        if not self.header and not self.column_names:
            raise ValueError("`column_names` is required when `header` is false")
        if len(self.delimiter) != 1 and self.delimiter != "whitespace":
            raise ValueError(f"`delimiter` must be one character or `whitespace`, not {self.delimiter!r}")
        if self.delimiter == "whitespace" and self.header:
            raise ValueError("`delimiter: whitespace` reads files without a header: set `header: false` and `column_names`")
        return self


class Source(_Frozen):
    """Where the raw files are and how to read them."""

    format: Literal["csv", "parquet"] = Field(description="File format of the raw files.")
    path: str = Field(description="Glob of raw files, relative to the project root (e.g. `seeds/ai4i2020/*.csv`).")
    csv: CsvOptions = Field(default_factory=CsvOptions, description="Reader options for `format: csv`.")


class Column(_Frozen):
    """One column of the published dataset."""

    name: str = Field(pattern=NAME_PATTERN, description="Clean column name in the published data (snake_case).")
    source: str | None = Field(None, description="Column name in the raw file, when it differs from `name`.")
    from_path: str | None = Field(
        None,
        description="Take the value from the raw file's path instead: a regular expression with one group, "
        r"matched against the path relative to the project root (e.g. `train_(FD\d{3})`).",
    )
    dtype: DType = Field(description="Type the raw value is converted to; a value that does not convert fails `schema.dtype`.")
    format: str | None = Field(None, description="strftime format for `date`/`datetime` columns (e.g. `%Y-%m-%d %H:%M:%S`).")
    nullable: bool = Field(True, description="If false, a null value fails the generated `not_null` rule.")
    unit: str | None = Field(None, description="Physical unit of the values (e.g. `K`, `rpm`, `Nm`).")
    role: Role = Field("attribute", description="What the column is: timestamp, entity, measurement, label or attribute.")
    description: str = Field("", description="What the column means, for the field dictionary.")
    sensitivity: Sensitivity | None = Field(
        None,
        description="personal (pseudonymised at ingest by a keyed HMAC), confidential or public; "
        "default: the dataset's `classification.default_sensitivity`.",
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

    @property
    def source_name(self) -> str:
        """Name of the column in the raw file."""
        return self.source if self.source is not None else self.name


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
    columns: tuple[Column, ...] = Field(min_length=1, description="Columns of the published dataset, in order.")
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

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_NAMES:
            raise ValueError(f"`{v}` is reserved for the catalog; choose another name")
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
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"column names must be unique; repeated: {dupes}")
        sources = [c.source_name for c in self.columns if c.from_path is None]
        dup_src = sorted({n for n in sources if sources.count(n) > 1})
        if dup_src:
            raise ValueError(f"two columns read the same source column: {dup_src}")
        missing = [k for k in self.primary_key if k not in names]
        if missing:
            raise ValueError(f"primary_key names unknown columns {missing}; columns are {names}")
        if self.source.format == "csv" and not self.source.csv.header:
            given = self.source.csv.column_names or ()
            unknown = [s for s in sources if s not in given]
            if unknown:
                raise ValueError(f"columns read source columns {unknown} that are not in `source.csv.column_names`")
        for c in self.columns:
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
        return self

    def sensitivity(self, column: str) -> str:
        """A column's sensitivity (its own, else the dataset's default)."""
        return self.column(column).sensitivity or self.classification.default_sensitivity

    @property
    def personal_columns(self) -> list[str]:
        """Columns pseudonymised at ingest."""
        return [c.name for c in self.columns if self.sensitivity(c.name) == "personal"]

    def column(self, name: str) -> Column:
        """Return the column called `name`."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        """Published column names, in order."""
        return [c.name for c in self.columns]


def slug(text: str) -> str:
    """Lowercase snake_case form of a raw header (used in hints)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class RuleFile(_Frozen):
    """A quality-rule file (`quality_rules/*.yaml`)."""

    rules: tuple[Annotated[Rule, Field(discriminator="kind")], ...] = Field(
        min_length=1, description="The rules, each with a unique `id` and a `kind`."
    )
