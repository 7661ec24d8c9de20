"""Historian long format: one row per (tag, timestamp, value, quality) -> one row per timestamp, one column per tag.

`source.long` names the raw columns holding the tag, the timestamp, the value, the OPC UA quality and
any further `keys`; `tags` maps each tag to a spec column. Each file is read with the ordinary reader
of its format (so header matching, encodings, line endings and `_source_row` work as for wide files),
collected, checked and pivoted:

- a tag that is neither in `tags` nor in `ignore_tags`, a row without a tag, an unknown quality code,
  and two rows for the same (tag, timestamp, keys) stop the run with the file, the line and the tag:
  duplicates are never dropped;
- rows are grouped by the raw text of the timestamp and keys (surrounding spaces stripped), in the order
  they first appear; `_source_row` of a pivoted row is the first long row that contributed to it;
- the OPC UA StatusCode (a number, hex text such as `0x80340000`, or a name such as `Good`,
  `Uncertain_...`, `Bad_SensorFailure`, any case) becomes a QARTOD flag in `<column>__quality`:
  1 Good, 3 Uncertain (value kept), 4 Bad (value set to null, so it is never published as a measurement),
  2 no code in the row, 9 no row for the tag at that timestamp. Severity is the top two bits of the code
  (0x40000000 Uncertain, 0x80000000 Bad); negative numbers are read as signed 32-bit codes.

Rows of `ignore_tags` are left out by declaration and are not counted anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from pipelines.errors import SourceError
from pipelines.spec.models import Column, DatasetSpec, LongOptions

QUALITY_SUFFIX = "__quality"
GOOD, NOT_EVALUATED, SUSPECT, BAD, MISSING = 1, 2, 3, 4, 9
_SEVERITY = 1 << 30
_U32 = 1 << 32
_T, _Q = "__long_tag", "__long_flag"
_SHOWN = 10


def quality_column(name: str) -> str:
    """The QARTOD flag column of a tag column."""
    return name + QUALITY_SUFFIX


def _long(spec: DatasetSpec) -> LongOptions:
    assert spec.source.long is not None
    return spec.source.long


def long_spec(spec: DatasetSpec) -> DatasetSpec:
    """A copy of `spec` whose source columns are the long file's raw columns (read as text, or Parquet's types)."""
    lo = _long(spec)
    value_dtype = "float64" if spec.source.format == "csv" and spec.source.csv.decimal_comma else "string"
    raw = [("long_tag", lo.tag, "string"), ("long_timestamp", lo.timestamp, "string"), ("long_value", lo.value, value_dtype)]
    if lo.quality:
        raw.append(("long_quality", lo.quality, "string"))
    raw += [(f"long_key_{i}", k, "string") for i, k in enumerate(lo.keys)]
    columns = tuple(Column(name=n, source=s, dtype=d) for n, s, d in raw)  # type: ignore[arg-type]
    return spec.model_copy(update={"columns": columns, "source": spec.source.model_copy(update={"long": None})})


def _check_spec(spec: DatasetSpec) -> None:
    """Every spec column must be produced by the pivot: the timestamp, a key, a mapped tag or its quality flag."""
    lo = _long(spec)
    by_name = {c.name: c for c in spec.columns}
    produced = {lo.timestamp, *lo.keys}
    problems = []
    for tag, name in lo.tags.items():
        col = by_name.get(name)
        if col is None:
            problems.append(f"`source.long.tags` maps `{tag}` to column `{name}`, which the spec does not declare: add it")
            continue
        produced.add(col.source_name)
        if lo.quality:
            q = by_name.get(quality_column(name))
            if q is None or q.dtype != "uint8":
                problems.append(
                    f"tag column `{name}` needs its quality flag column: add "
                    f"`{{name: {quality_column(name)}, dtype: uint8}}` to `columns`"
                )
            else:
                produced.add(q.source_name)
    for c in spec.columns:
        if c.from_path is None and c.source_name not in produced:
            problems.append(
                f"column `{c.name}` reads `{c.source_name}`, which a long-format file does not provide: map a tag to it "
                f"in `source.long.tags`, list it in `source.long.keys`, or read `source.long.timestamp` ({lo.timestamp!r})"
            )
    if problems:
        raise SourceError(f"dataset `{spec.name}`: `source.long` and `columns` do not agree:\n  " + "\n  ".join(problems))


def _line(spec: DatasetSpec, row: int) -> str:
    """Where data row `row` is, in words (a physical line for delimited text with a header and no comments)."""
    o = spec.source.csv
    if spec.source.format == "csv" and o.delimiter != "whitespace" and not o.comment_prefix:
        return f"line {row + o.skip_rows + (1 if o.header else 0)}"
    return f"row {row}"


def quality_flag(code: pl.Expr) -> pl.Expr:
    """OPC UA status code (number, hex text or name) -> QARTOD flag; null for a code that is not understood."""
    q = code.cast(pl.String).str.strip_chars()
    low = q.str.to_lowercase()
    number = pl.coalesce(
        pl.when(low.str.starts_with("0x")).then(low.str.slice(2).str.to_integer(base=16, strict=False)),
        low.str.to_integer(base=10, strict=False),
    )
    number = pl.when(number < 0).then(number + _U32).otherwise(number)
    valid = number.is_between(0, _U32 - 1)
    severity = number // _SEVERITY
    return (
        pl.when(q.is_null() | (q == ""))
        .then(NOT_EVALUATED)
        .when(valid & (severity == 0))
        .then(GOOD)
        .when(valid & (severity == 1))
        .then(SUSPECT)
        .when(valid)
        .then(BAD)
        .when(number.is_null() & low.str.starts_with("good"))
        .then(GOOD)
        .when(number.is_null() & low.str.starts_with("uncertain"))
        .then(SUSPECT)
        .when(number.is_null() & low.str.starts_with("bad"))
        .then(BAD)
        .otherwise(None)
        .cast(pl.UInt8)
    )


def _collect(lf: pl.LazyFrame, display: str) -> pl.DataFrame:
    try:
        return lf.collect()
    except pl.exceptions.PolarsError as e:
        raise SourceError(f"`{display}` cannot be read: {str(e).splitlines()[0]}; check the spec's `source` options") from None


def _check_rows(df: pl.DataFrame, spec: DatasetSpec, display: str, index: list[str], row: str) -> None:
    lo = _long(spec)
    no_tag = df.filter(pl.col(_T).is_null() | (pl.col(_T) == ""))
    if no_tag.height:
        raise SourceError(
            f"`{display}`, {_line(spec, no_tag[row][0])}: no tag in column `{lo.tag}`; every row of a historian "
            "export names its tag: fix or remove the row"
        )
    known = set(lo.tags) | set(lo.ignore_tags)
    unknown = df.filter(~pl.col(_T).is_in(list(known))).group_by(_T, maintain_order=True).agg(pl.col(row).first())
    if unknown.height:
        listed = ", ".join(f"`{t}` ({_line(spec, r)})" for t, r in unknown.head(_SHOWN).iter_rows())
        more = f" and {unknown.height - _SHOWN} more" if unknown.height > _SHOWN else ""
        raise SourceError(
            f"`{display}`: tags not in `source.long.tags`: {listed}{more}; map each to a column in `source.long.tags` "
            "or list it in `source.long.ignore_tags`"
        )
    if lo.quality:
        bad = df.filter(pl.col(_Q).is_null())
        if bad.height:
            value = bad[lo.quality].cast(pl.String)[0]
            raise SourceError(
                f"`{display}`, {_line(spec, bad[row][0])}: quality `{value}` (column `{lo.quality}`, tag `{bad[_T][0]}`) "
                "is not an OPC UA status code: expected a number, hex text such as `0x80340000`, or a name starting "
                "with `Good`, `Uncertain` or `Bad`"
            )
    dup = df.filter(pl.struct([_T, *index]).is_duplicated())
    if dup.height:
        first = dup.row(0, named=True)
        same = dup.filter(pl.all_horizontal([pl.col(c).eq_missing(first[c]) for c in [_T, *index]]))
        where = " and ".join(_line(spec, r) for r in same[row].head(3).to_list())
        at = ", ".join(f"`{c}` = {first[c]!r}" for c in index)
        raise SourceError(
            f"`{display}`, {where}: tag `{first[_T]}` has {same.height} values at {at}; duplicates are never dropped: "
            "remove all but one in the file (or re-export it)"
        )


def scan_long(
    path: Path, spec: DatasetSpec, display: str, scan_raw: Callable[[Path, DatasetSpec, str], pl.LazyFrame]
) -> pl.LazyFrame:
    """Read one long-format file and pivot it; columns under the spec's source names, plus `_source_row`.

    Args:
        path: The raw file.
        spec: The dataset spec (with `source.long`).
        display: The file's path as shown in messages.
        scan_raw: The reader for the file's format (`readers._scan_raw`).

    Raises:
        SourceError: the spec's columns do not match `source.long`, or a row has no tag, an unmapped tag,
            an unknown quality code, or the same tag twice at one timestamp.
    """
    from pipelines.ingest.readers import SOURCE_ROW

    _check_spec(spec)
    lo = _long(spec)
    index = [lo.timestamp, *lo.keys]
    raw = scan_raw(path, long_spec(spec), display)
    schema = raw.collect_schema()
    exprs = [pl.col(c).str.strip_chars() for c in index if schema[c] == pl.String]  # group on trimmed text
    exprs.append(pl.col(lo.tag).cast(pl.String).str.strip_chars().alias(_T))
    if lo.quality:
        exprs.append(quality_flag(pl.col(lo.quality)).alias(_Q))
    df = _collect(raw.with_columns(exprs), display)
    _check_rows(df, spec, display, index, SOURCE_ROW)
    df = df.filter(pl.col(_T).is_in(list(lo.tags)))
    by_name = {c.name: c for c in spec.columns}
    value = pl.col(lo.value)
    if lo.quality:
        value = pl.when(pl.col(_Q) == BAD).then(None).otherwise(value)
    aggs = [pl.col(SOURCE_ROW).min()]
    for tag, name in lo.tags.items():
        is_tag = pl.col(_T) == tag
        aggs.append(value.filter(is_tag).first().alias(by_name[name].source_name))
        if lo.quality:
            q = by_name[quality_column(name)].source_name
            aggs.append(pl.col(_Q).filter(is_tag).first().fill_null(MISSING).cast(pl.UInt8).alias(q))
    return df.lazy().group_by(index, maintain_order=True).agg(aggs).sort(SOURCE_ROW)
