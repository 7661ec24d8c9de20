"""Frozen pydantic models of a dataset spec (`dataset_specs/<name>.yaml`)."""

from __future__ import annotations

import re
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pipelines.spec.anomalies import Anomalies, did_you_mean
from pipelines.spec.base import NAME_PATTERN, TIME_DTYPES, Sensitivity, _Frozen
from pipelines.spec.base import NUMERIC_DTYPES as NUMERIC_DTYPES  # re-exported: importers use `models`
from pipelines.spec.base import DType as DType
from pipelines.spec.base import Role as Role
from pipelines.spec.column import ORIGINAL_SUFFIX as ORIGINAL_SUFFIX  # re-exported: importers use `models`
from pipelines.spec.column import Column as Column
from pipelines.spec.column import original_name as original_name
from pipelines.spec.groups import ColumnGroup
from pipelines.spec.rules import Rule
from pipelines.spec.source import CsvOptions as CsvOptions  # re-exported: importers use `models`
from pipelines.spec.source import ExcelOptions as ExcelOptions
from pipelines.spec.source import LandingOptions as LandingOptions
from pipelines.spec.source import LongOptions as LongOptions
from pipelines.spec.source import Source as Source

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
        "access_policies",
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
