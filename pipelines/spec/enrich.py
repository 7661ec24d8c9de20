"""Parse models of `enrich:`: lookup and paired files whose columns are joined onto a dataset's rows."""

from __future__ import annotations

import re
import string
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipelines.spec.models import NAME_PATTERN, Column, CsvOptions, ExcelOptions, _Frozen

# Placeholders a paired file's `path` may use, filled from each source file's path (relative to the project root).
PATH_FIELDS = ("stem", "name", "dir")


class Enrich(_Frozen):
    """A lookup or paired file whose columns are brought onto the rows, by key columns or by row position."""

    path: str = Field(
        description="The file, relative to the project root. With `by: position` it may name each source file's "
        "partner with `{stem}` (the source file's name without extension), `{name}` (its name) and `{dir}` (its "
        "folder), e.g. `seeds/secom/{stem}_labels.data`; without a placeholder there must be one source file."
    )
    name: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        description="Name of the enrichment in rule ids (`enrich.<name>.missing`) and reports; default: the file's "
        "stem in snake_case (`experiments.csv` -> `experiments`).",
    )
    format: Literal["csv", "parquet", "xlsx", "jsonl"] = Field(
        "csv", description="File format: csv (any delimited text), parquet, xlsx (Excel) or jsonl (JSON Lines)."
    )
    csv: CsvOptions = Field(default_factory=CsvOptions, description="Reader options for `format: csv`.")
    excel: ExcelOptions | None = Field(None, description="Reader options for `format: xlsx`.")
    by: Literal["key", "position"] = Field(
        "key",
        description="`key`: rows are matched on the `on` columns (each key must be unique in the file); `position`: "
        "the file has the same rows, in the same order, as its source file (a features file and its labels file).",
    )
    on: dict[str, str] | tuple[str, ...] = Field(
        (),
        description="With `by: key`: spec column -> the file's column (e.g. `{experiment: No}`), or a list of columns "
        "named the same in both. Spec columns read from the source files or `from_path` can be keys; the file's "
        "key is converted to the spec column's dtype.",
    )
    columns: tuple[Column, ...] = Field(
        min_length=1,
        description="Columns brought in, declared like source columns (`source` is the file's column name): typed, "
        "unit-converted, classified and published like any other.",
    )
    on_missing: Literal["quarantine", "null", "fail"] = Field(
        "quarantine",
        description="A row whose key has no match in the file (`by: key`): quarantined under rule "
        "`enrich.<name>.missing` (`quarantine`), published with the brought columns null (`null`), or the run "
        "stops with the unmatched keys (`fail`).",
    )

    @field_validator("path")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(v) if f is not None]
        except ValueError as e:
            raise ValueError(f"`{v}`: {e}; write placeholders as `{{stem}}`, and a literal brace as `{{{{`") from None
        bad = [f for f in fields if f not in PATH_FIELDS]
        if bad:
            raise ValueError(f"`{v}` uses `{{{bad[0]}}}`; the placeholders are {', '.join(f'`{{{f}}}`' for f in PATH_FIELDS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Enrich:
        if self.excel is not None and self.format != "xlsx":
            raise ValueError(f"`excel` options apply to `format: xlsx`, not `format: {self.format}`")
        if self.by == "key" and not self.on:
            raise ValueError("`by: key` needs `on:`, the key columns (e.g. `on: {experiment: No}`)")
        if self.by == "position" and self.on:
            raise ValueError("`by: position` pairs rows by their order: remove `on:` (or use `by: key`)")
        if self.by == "key" and self.templated:
            raise ValueError("placeholders in `path` name one partner file per source file: use them with `by: position`")
        for c in self.columns:
            if c.from_path is not None or c.expr is not None:
                which = "from_path" if c.from_path is not None else "expr"
                raise ValueError(
                    f"column `{c.name}` declares `{which}`: columns of `enrich` are read from its file; "
                    "declare path and derived columns under `columns`"
                )
        return self

    @property
    def templated(self) -> bool:
        """Whether `path` names a partner per source file (has placeholders)."""
        return any(f is not None for _, f, _, _ in string.Formatter().parse(self.path))

    @property
    def label(self) -> str:
        """The enrichment's name in rule ids and reports."""
        if self.name:
            return self.name
        stem = PurePosixPath(re.sub(r"\{[^}]*\}", "", self.path)).stem  # placeholders left out
        out = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_") or "lookup"
        return out if out[0].isalpha() else f"f_{out}"

    @property
    def keys(self) -> dict[str, str]:
        """Spec column -> the file's column, for `by: key`."""
        return dict(self.on) if isinstance(self.on, dict) else {k: k for k in self.on}

    def partner(self, source: str) -> str:
        """The file paired with a source file (its path relative to the project root); `path` itself without placeholders."""
        p = PurePosixPath(source)
        return self.path.format(stem=p.stem, name=p.name, dir=str(p.parent))


__all__ = ["PATH_FIELDS", "Enrich"]
