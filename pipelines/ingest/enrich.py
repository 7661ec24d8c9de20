"""Join `enrich` files onto the rows: lookup files by key columns, paired files by row position.

Each file is read with the ingest readers (`readers.scan_file`, with the entry's own format and reader
options) and typed like the source files (`cast.typed`): its columns are converted, unit-converted and
keep `__raw__<name>`, so a value that does not convert fails `schema.dtype` on the rows it reaches.

- `by: key`: the file's key columns are converted to the spec key columns' dtypes; a key that is empty,
  does not convert, or is on two rows of the file stops the run naming the file and its lines. Rows are
  left-joined in their order; a row without a match is quarantined (`enrich.<name>.missing`, from the
  boolean `__enrich__<name>` column), published with nulls, or stops the run (`on_missing`).
- `by: position`: each source file's partner (`path`, or its placeholders filled from the source file) must
  have exactly as many rows; row i of one is row i of the other.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.errors import SourceError
from pipelines.ingest.cast import typed
from pipelines.ingest.fingerprint import sha256_file
from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW, scan_file
from pipelines.quality.enrich_kind import matched_column
from pipelines.quality.kinds import RAW_PREFIX
from pipelines.spec.derive import FILE_ROW
from pipelines.spec.enrich import Enrich
from pipelines.spec.models import Column, DatasetSpec, Source

KEY_PREFIX = "__key__"
SHOWN_KEYS = 5  # unmatched or duplicate keys listed in an error


@dataclass
class LookupFile:
    """One `enrich` file that fed a run: its entry's name, path (relative to the root), sha256, size and rows."""

    enrich: str
    path: str
    sha256: str
    size: int
    rows: int = 0
    paired_with: str | None = None  # `by: position`: the source file it is paired with


def _check_exists(e: Enrich, rel: str, root: Path, spec: DatasetSpec) -> Path:
    from pipelines.spec.containment import ENV_ALLOWED_ROOTS, inside, outside_note

    path = root / rel
    if not inside(path, root):  # a link made after the spec was loaded: never read
        raise SourceError(
            f"dataset `{spec.name}`: `enrich` file {outside_note(path, root, rel)}, outside the project, and was not "
            f"read; keep it inside the project or allow its folder with `{ENV_ALLOWED_ROOTS}`"
        )
    if path.is_file():
        return path
    folder = path.parent
    near = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    close = difflib.get_close_matches(path.name, near, n=1, cutoff=0.5)
    hint = f"did you mean `{close[0]}`?" if close else "paths are relative to the project root"
    raise SourceError(f"dataset `{spec.name}`: `enrich` file `{rel}` (`{e.label}`) does not exist; {hint}")


def lookup_files(spec: DatasetSpec, root: Path, sources: list[str]) -> list[LookupFile]:
    """The `enrich` files of a run, fingerprinted: one per keyed entry, one per source file for a paired one.

    Args:
        spec: The dataset spec.
        root: The project root.
        sources: The source files' paths relative to the root, in order.

    Raises:
        SourceError: a file does not exist, or a paired file without placeholders meets several source files.
    """
    out = []
    for e in spec.enrich:
        if e.by == "position" and not e.templated and len(sources) != 1:
            raise SourceError(
                f"dataset `{spec.name}`: `enrich` `{e.label}` pairs `{e.path}` by position, but `source.path` matches "
                f"{len(sources)} files; name each source file's partner with a placeholder, e.g. `{{stem}}_labels.csv`"
            )
        pairs = [(e.partner(s), s) for s in sources] if e.by == "position" else [(e.path, None)]
        for rel, source in pairs:
            path = _check_exists(e, rel, root, spec)
            out.append(LookupFile(e.label, rel, sha256_file(path), path.stat().st_size, paired_with=source))
    return out


def _read(spec: DatasetSpec, e: Enrich, path: Path, display: str, keys: list[Column]) -> pl.DataFrame:
    """The file's key and brought columns, typed, with `_source_row` (read whole: lookup files are small)."""
    source = Source(format=e.format, path=display, csv=e.csv, excel=e.excel)
    lspec = spec.model_copy(update={"source": source, "columns": (*keys, *e.columns), "enrich": ()})
    lf = scan_file(path, lspec, display)
    out = typed(lf, lspec, dict(lf.collect_schema())).collect()
    return out.drop([RAW_PREFIX + k.name for k in keys if RAW_PREFIX + k.name in out.columns] + [SOURCE_FILE])


def _line(e: Enrich, row: int) -> str:
    """Where a data row of an `enrich` file is, in the file's own terms."""
    if e.format == "csv":
        return f"line {row + e.csv.skip_rows + (1 if e.csv.header else 0)}"
    if e.format == "xlsx":
        return f"row {row}"
    return f"line {row}" if e.format == "jsonl" else f"row {row}"


def _shown(spec: DatasetSpec, names: list[str], values: tuple[Any, ...]) -> str:
    return ", ".join(
        f"{n}=" + ("<personal>" if spec.sensitivity(n) == "personal" else repr(v)) for n, v in zip(names, values, strict=True)
    )


def _key_columns(spec: DatasetSpec, e: Enrich) -> list[Column]:
    """The file's key columns, read as the spec key columns they match (their dtype and format)."""
    return [
        spec.column(k).model_copy(
            update={"name": KEY_PREFIX + k, "source": src, "from_path": None, "map": None, "keep_original": False}
        )
        for k, src in e.keys.items()
    ]


def _check_keys(spec: DatasetSpec, e: Enrich, lk: pl.DataFrame, display: str) -> None:
    """Every key of the lookup file is set, converts, and is on one row only."""
    keys = [KEY_PREFIX + k for k in e.keys]
    bad = lk.filter(pl.any_horizontal(pl.col(keys).is_null()))
    if bad.height:
        row = int(bad[SOURCE_ROW][0])
        cols = ", ".join(f"`{src}`" for src in e.keys.values())
        types = ", ".join(f"{k}: {spec.column(k).dtype}" for k in e.keys)
        raise SourceError(
            f"`{display}`, {_line(e, row)}: the key ({cols}) is empty or does not convert to the spec's key type "
            f"({types}); {bad.height} row(s) of the file are so: fix the key or remove the row (`enrich` `{e.label}`)"
        )
    dup = lk.group_by(keys, maintain_order=True).agg(pl.col(SOURCE_ROW).alias("rows")).filter(pl.col("rows").list.len() > 1)
    if dup.height:
        listed = "; ".join(
            f"{_shown(spec, list(e.keys), r[:-1])} on " + " and ".join(_line(e, int(x)) for x in r[-1])
            for r in dup.head(SHOWN_KEYS).iter_rows()
        )
        raise SourceError(
            f"`{display}`: {dup.height} key(s) are on more than one row ({listed}); a lookup file needs one row per "
            f"key ({', '.join(e.keys.values())}): remove or merge the duplicate rows (`enrich` `{e.label}`)"
        )


def _unmatched_error(spec: DatasetSpec, e: Enrich, rows: pl.LazyFrame, marker: str) -> SourceError | None:
    keys = list(e.keys)
    missing = rows.filter(~pl.col(marker)).select([*keys, SOURCE_FILE, SOURCE_ROW]).collect()
    if not missing.height:
        return None
    first = missing.unique(keys, keep="first", maintain_order=True)
    listed = "; ".join(f"{_shown(spec, keys, r[:-2])} (`{r[-2]}`, row {r[-1]})" for r in first.head(SHOWN_KEYS).iter_rows())
    return SourceError(
        f"dataset `{spec.name}`: {missing.height} row(s) have a key that `{e.path}` does not have ({first.height} "
        f"key(s): {listed}); add the keys to the file, or set `on_missing: quarantine` (or `null`) on `enrich` `{e.label}`"
    )


def join_keyed(rows: pl.LazyFrame, spec: DatasetSpec, root: Path, files: list[LookupFile]) -> pl.LazyFrame:
    """Left-join each keyed `enrich` file onto the rows (their order kept); sets each file's `rows`.

    Raises:
        SourceError: a lookup key is empty, does not convert or repeats, or (`on_missing: fail`) a row's key is missing.
    """
    for e in spec.enrich:
        if e.by != "key":
            continue
        f = next(f for f in files if f.enrich == e.label)
        lk = _read(spec, e, root / f.path, f.path, _key_columns(spec, e))
        f.rows = lk.height
        _check_keys(spec, e, lk, f.path)
        marker = matched_column(e.label)
        right = lk.drop(SOURCE_ROW).with_columns(pl.lit(True).alias(marker)).lazy()
        rows = rows.join(
            right, left_on=list(e.keys), right_on=[KEY_PREFIX + k for k in e.keys], how="left", maintain_order="left"
        ).with_columns(pl.col(marker).fill_null(False))
        if e.on_missing == "fail" and (err := _unmatched_error(spec, e, rows, marker)):
            raise err
        if e.on_missing == "null":
            rows = rows.drop(marker)
    return rows


def pair_by_position(frame: pl.LazyFrame, spec: DatasetSpec, root: Path, files: list[LookupFile]) -> pl.LazyFrame:
    """Join each `by: position` file paired with this source file's frame (which has `_file_row`), row by row.

    Raises:
        SourceError: the paired file has another number of rows than the source file.
    """
    paired = [e for e in spec.enrich if e.by == "position"]
    if not paired:
        return frame
    display, n = frame.select(pl.first(SOURCE_FILE), pl.len()).collect().row(0)
    for e in paired:
        f = next(f for f in files if f.enrich == e.label and f.paired_with == display)
        lk = _read(spec, e, root / f.path, f.path, [])
        f.rows = lk.height
        if lk.height != n:
            raise SourceError(
                f"`{display}` has {n} rows but its paired file `{f.path}` has {lk.height} (`enrich` `{e.label}`, "
                "`by: position`): row i of one must be row i of the other; check that the files belong together and "
                "that both are complete (header and comment lines as the reader options say)"
            )
        right = lk.drop(SOURCE_ROW).with_row_index(FILE_ROW, offset=1).with_columns(pl.col(FILE_ROW).cast(pl.Int64))
        frame = frame.join(right.lazy(), on=FILE_ROW, how="left", maintain_order="left")
    return frame


def lookups_record(files: list[LookupFile]) -> list[dict[str, Any]]:
    """The `enrich` files as recorded in the manifest (`lookup_files`)."""
    return [asdict(f) for f in files]


def merged_enrichment(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """A partitioned version's `lookup_files` (each file once) and `mapped_values` (summed) from its partitions' records."""
    files: dict[tuple[str, str], dict[str, Any]] = {}
    mapped: dict[str, dict[str, int]] = {}
    for p in parts:
        for f in p.get("lookup_files", []):
            files.setdefault((f["path"], f["sha256"]), f)
        for col, counts in p.get("mapped_values", {}).items():
            for k, n in counts.items():
                mapped.setdefault(col, {})[k] = mapped.get(col, {}).get(k, 0) + n
    return {"lookup_files": list(files.values()), "mapped_values": mapped}


def column_origin(spec: DatasetSpec, column: Column) -> dict[str, Any]:
    """How a published column was made, for the manifest and the field dictionary: `{}` for a read column."""
    out: dict[str, Any] = {}
    if column.expr is not None:
        out["expr"] = column.expr
    if column.map is not None:
        out["map"] = dict(column.map)
    for e in spec.enrich:
        if any(c.name == column.name for c in e.columns):
            out["enriched_from"] = e.path
            out["enrich_by"] = e.by if e.by == "position" else f"key ({', '.join(f'{a}={b}' for a, b in e.keys.items())})"
    return out


__all__ = [
    "LookupFile",
    "column_origin",
    "join_keyed",
    "lookup_files",
    "lookups_record",
    "merged_enrichment",
    "pair_by_position",
]
