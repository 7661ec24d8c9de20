"""Personal values never leave ingest in clear: parser messages lose the raw text they quote, and every stored error
loses the raw values of the dataset's personal columns.

Two layers. `parser_message` turns a parser's error (polars, calamine, pyarrow) into its first line with every
quoted span replaced by `<redacted>`: such a span is raw file content (a field, a whole line), whose column is
unknown, so none of it is kept; the reader then names the file, the line and the fix itself. `redact_error` and
`redact_text` are the net under everything else: they read the raw values of the personal columns from the
dataset's source files and replace each one, as a whole token, by `<redacted>`. They run where an error leaves
ingest (`pipelines.stages.ingest.ingest`) and where a failure is stored (the catalog's `runs.message`, through
`pipelines.runner` and the Dagster layer), so a message a reader got wrong is caught there.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from pipelines.errors import MoshuError, SpecError
from pipelines.spec.models import DatasetSpec

__all__ = ["REDACTED", "parser_message", "personal_values", "redact", "redact_error", "redact_text"]

REDACTED = "<redacted>"
# Spans a parser quotes raw content in: `...`, "...", '...' and [...] lists of values (an unclosed one runs to the end).
_QUOTED = re.compile(r"`[^`]*(?:`|$)|\"[^\"]*(?:\"|$)|'[^']*(?:'|$)|\[[^\]]*(?:\]|$)")


def parser_message(error: BaseException | str) -> str:
    """The first line of a parser's error with every quoted span (raw file content) replaced by `<redacted>`.

    Args:
        error: The exception a parser raised, or its text.

    Returns:
        E.g. `could not parse <redacted>` for polars' `could not parse `"OP-1001,O1001,...` as dtype ...`.
    """
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return _QUOTED.sub(REDACTED, first).strip()


def redact(text: str, values: Iterable[str]) -> str:
    """`text` with each of `values` that stands as a whole token replaced by `<redacted>` (longest values first).

    Args:
        text: A message.
        values: Raw personal values (empty ones are ignored).

    Returns:
        The message; `OP-1001` is replaced in `operator OP-1001,` but not inside `XOP-10012`.
    """
    todo = sorted({v for v in values if v and v.strip()}, key=len, reverse=True)
    if not todo:
        return text
    for start in range(0, len(todo), 500):  # one alternation per 500 values keeps each pattern small
        pattern = "|".join(re.escape(v) for v in todo[start : start + 500])
        text = re.sub(rf"(?<![\w-])(?:{pattern})(?![\w-])", REDACTED, text)
    return text


def _csv_values(path: Path, spec: DatasetSpec, names: list[str]) -> set[str]:
    from pipelines.ingest.encoding import prepare_text, temp_files
    from pipelines.ingest.shape import records

    o = spec.source.csv
    out: set[str] = set()
    with temp_files():
        recs = records(prepare_text(path, o.encoding, path.name).path, o)
        header = list(o.column_names) if o.column_names else next((r for _, r in recs), [])
        keys = [h.strip().casefold() for h in header]
        where = [keys.index(n.strip().casefold()) for n in names if n.strip().casefold() in keys]
        for _, rec in recs:
            out.update(rec[i] for i in where if i < len(rec))
    return out


def _jsonl_values(path: Path, names: list[str]) -> set[str]:
    out: set[str] = set()
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict):
                    out.update(str(row[n]) for n in names if row.get(n) is not None)
    return out


def _table_values(path: Path, spec: DatasetSpec, names: list[str]) -> set[str]:
    import polars as pl

    if spec.source.format == "parquet":
        df = pl.read_parquet(path, columns=[n for n in names if n in pl.read_parquet_schema(path)])
    else:
        df = pl.read_excel(path, engine="calamine", infer_schema_length=0)
    return {str(v) for n in names if n in df.columns for v in df[n].drop_nulls().to_list()}


def personal_values(spec: DatasetSpec, paths: Iterable[Path]) -> set[str]:
    """The raw values of the spec's personal columns in `paths`, read leniently (a file that fails is skipped).

    A CSV file is read record by record with Python's `csv` module (which reads files polars refuses, e.g.
    one with an unclosed quote); the personal columns are found by their `source` names in the header.
    """
    names = [c.source_name for c in spec.columns if c.name in spec.personal_columns and c.from_path is None]
    if spec.source.long is not None or not names:
        return set()
    out: set[str] = set()
    for p in paths:
        with contextlib.suppress(Exception):  # the net must never fail the message it protects
            if spec.source.format == "csv" and spec.source.csv.delimiter != "whitespace":
                out |= _csv_values(p, spec, names)
            elif spec.source.format == "jsonl":
                out |= _jsonl_values(p, names)
            else:
                out |= _table_values(p, spec, names)
    return out


def _source_paths(spec: DatasetSpec, root: Path) -> list[Path]:
    from pipelines.ingest.readers import resolve_files
    from pipelines.spec.containment import inside

    try:
        return [p for p in resolve_files(spec, root) if inside(p, root)]
    except MoshuError:
        return []


def _enrich_values(spec: DatasetSpec, root: Path, sources: list[Path]) -> set[str]:
    """The raw values of personal columns that `enrich` files bring in (read like the files themselves)."""
    from pipelines.paths import relative
    from pipelines.spec.containment import inside
    from pipelines.spec.source import Source

    out: set[str] = set()
    for e in spec.enrich:
        if not any(spec.sensitivity(c.name) == "personal" for c in e.columns):
            continue
        rels = {e.partner(relative(s, root)) for s in sources} if e.templated else {e.path}
        paths = [root / r for r in sorted(rels) if (root / r).is_file() and inside(root / r, root)]
        source = Source(format=e.format, path=e.path, csv=e.csv, excel=e.excel)
        out |= personal_values(spec.model_copy(update={"source": source, "columns": e.columns, "enrich": ()}), paths)
    return out


def redact_text(text: str, spec: DatasetSpec, root: Path) -> str:
    """`text` without the raw values of `spec`'s personal columns found in its source files under `root`.

    Args:
        text: A message about to be stored or shown (an error, a run's message).
        spec: The dataset's spec.
        root: The project root.
    """
    if not spec.personal_columns:
        return text
    sources = _source_paths(spec, root)
    return redact(text, personal_values(spec, sources) | _enrich_values(spec, root, sources))


def redact_error(error: MoshuError, spec: DatasetSpec, root: Path) -> MoshuError:
    """`error` with the personal values of `spec` taken out of its message (in place; a `SpecError` is left as is).

    Returns:
        The same exception, to re-raise.
    """
    if isinstance(error, SpecError) or not spec.personal_columns or not error.args:
        return error
    text = str(error)
    clean = redact_text(text, spec, root)
    if clean != text:
        error.args = (clean, *error.args[1:])
    return error
