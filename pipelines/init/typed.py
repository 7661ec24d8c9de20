"""Sample Excel workbooks, JSON Lines and Parquet files: the header row of a sheet, native types, nested columns."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.errors import SourceError
from pipelines.init.sample import MAX_FILES, MAX_ROWS, NUMBER, PATH, SNIFF_LINES, Sample, deduped, drift, spread
from pipelines.paths import relative


def _excel_grid(path: Path, rows: int) -> pl.DataFrame:
    """The first sheet's first `rows` rows, every cell as text, one frame row per sheet row."""
    return pl.read_excel(
        path, engine="calamine", infer_schema_length=0, read_options={"header_row": None, "n_rows": rows},
        drop_empty_rows=False, drop_empty_cols=False, raise_if_empty=False,
    )  # fmt: skip


def excel_header_row(grid: pl.DataFrame) -> int:
    """The 0-based row of a sheet's header: the first row of text cells as wide as the rows below it (title rows skipped)."""
    filled = [sum(v is not None and str(v).strip() != "" for v in row) for row in grid.head(SNIFF_LINES).iter_rows()]
    width = max(filled, default=0)
    for i, row in enumerate(grid.head(SNIFF_LINES).iter_rows()):
        cells = [str(v).strip() for v in row if v is not None and str(v).strip()]
        if len(cells) >= max(1, 0.8 * width) and not any(NUMBER.match(c) for c in cells):
            return i
    return 0


def _excel_frame(path: Path, rows: int) -> tuple[pl.DataFrame, int, bool]:
    """(data rows as text under their header names, header row, whether every row was read)."""
    grid = _excel_grid(path, rows + SNIFF_LINES)
    h = excel_header_row(grid)
    names = (
        deduped([("" if v is None else str(v).strip()) or f"column {i + 1}" for i, v in enumerate(grid.row(h))])
        if grid.height
        else []
    )
    data = grid.slice(h + 1).filter(~pl.all_horizontal(pl.col(grid.columns).is_null()))
    return data.rename(dict(zip(grid.columns, names, strict=True))).head(rows), h, data.height <= rows


def _bad_json(path: Path, display: str, e: Exception) -> SourceError:
    import json

    with path.open(encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, start=1):
            if i > 100_000:
                break
            try:
                if line.strip():
                    json.loads(line)
            except json.JSONDecodeError as bad:
                return SourceError(f"`{display}`, line {i}: not a JSON object ({bad.msg}); repair or remove the line")
    return SourceError(f"`{display}` cannot be read as JSON Lines: {str(e).splitlines()[0]}; check the file is complete")


def sample_typed(root: Path, files: list[Path], fmt: str) -> Sample:
    """Sample workbooks (first sheet, header row found below any title), JSON Lines or Parquet files, `MAX_ROWS` in all.

    Raises:
        SourceError: a file cannot be read; the message names it (and for JSON Lines the bad line).
    """
    parts, sampled, complete, notes, header_row = [], [], True, [], 0
    per_file = max(1, MAX_ROWS // min(len(files), MAX_FILES))
    for path in spread(files):
        display = relative(path, root)
        try:
            if fmt == "xlsx":
                df, header_row, whole = _excel_frame(path, per_file)
                complete &= whole
            else:
                lf = pl.scan_parquet(path) if fmt == "parquet" else pl.scan_ndjson(path, infer_schema_length=1000)
                df = lf.head(per_file + 1).collect()
                complete &= df.height <= per_file
        except Exception as e:  # polars, fastexcel and the file system raise many kinds
            if fmt == "jsonl":
                raise _bad_json(path, display, e) from None
            raise SourceError(
                f"`{display}` cannot be read as {fmt}: {str(e).splitlines()[0] if str(e) else type(e).__name__}; "
                "check the file is complete and of that format"
            ) from None
        parts.append(df.head(per_file).with_columns(pl.lit(display).alias(PATH)))
        sampled.append(display)
    complete &= len(sampled) == len(files)
    drifted = drift(parts)
    notes += drifted
    frame = pl.concat(parts, how="diagonal_relaxed")
    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    if nested:
        notes.append(f"nested columns left out (not read by moshu): {', '.join(nested)}")
        frame = frame.drop(nested)
    names = [c for c in frame.columns if c != PATH]
    native = {c: frame.schema[c] for c in names if frame.schema[c] != pl.String}
    return Sample(
        files,
        sampled,
        fmt,
        frame,
        names,
        native=native,
        complete=complete,
        notes=notes,
        header_row=header_row,
        drift=bool(drifted),
    )
