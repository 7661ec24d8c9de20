"""The column model of a dataset spec: one published column, and the name of the raw-text copy a time column keeps."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipelines.spec.base import NAME_PATTERN, DType, Role, Sensitivity, _Frozen

ORIGINAL_SUFFIX = "_original"


def original_name(name: str) -> str:
    """Name of the column that keeps a time column's raw text (`keep_original`)."""
    return name + ORIGINAL_SUFFIX


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
