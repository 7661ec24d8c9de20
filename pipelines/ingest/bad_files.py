"""Files whose structure does not fit the spec, handled by `source.on_bad_file`.

A bad file (`BadFileError`: empty, header only, undecodable, a row longer than the header, most rows
short, unreadable, or stored transposed without `source.csv.transpose`) is set aside under
`quarantine_file` (the default): it is not ingested, and `quarantined_files` records its path, sha256,
raw row count (when it can be counted) and reason, beside the files `source.drift: quarantine_file`
set aside. Under `fail` the first bad file stops the run. Missing or renamed columns are drift, not a
bad file, unless the file looks transposed (its first column holds the spec's names): then the reason
says so and gives the fix, rather than suggesting a `source:` rename that would not help.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.errors import BadFileError, IntegrityError, SourceError
from pipelines.ingest.encoding import prepare_text, temp_files
from pipelines.ingest.shape import looks_transposed
from pipelines.spec.models import DatasetSpec

BAD_FILE = "bad file: "  # how a bad file's reason starts in `quarantined_files` (drift's start `schema drift: `)


def transposed_error(path: Path, spec: DatasetSpec, display: str) -> BadFileError | None:
    """A `BadFileError` saying the file looks stored transposed and how to read it, or None when it does not.

    Only for delimited files read row by row (`format: csv`, no `transpose`, no `long`).
    """
    o = spec.source.csv
    if spec.source.format != "csv" or o.transpose or o.delimiter == "whitespace" or spec.source.long is not None:
        return None
    try:
        with temp_files():
            names, records = looks_transposed(prepare_text(path, o.encoding, display).path, spec)
    except SourceError:
        return None
    if not names:
        return None
    shown = ", ".join(f"`{n}`" for n in names[:5]) + (" ..." if len(names) > 5 else "")
    return BadFileError(
        f"`{display}` looks transposed: its first column holds the field names ({shown}) and each further column "
        f"is a record ({records} of them), where the spec reads one record per line; move it to a glob of its own "
        "read by a spec with `source.csv.transpose: true`, or re-export it with one record per line",
        display,
        records,
    )


def entry(bad: BadFileError, sha256: str) -> dict[str, Any]:
    """The bad file's entry in `quarantined_files`: `{path, sha256, rows, reason}`."""
    reason = bad.reason
    if reason.startswith(("is ", "has ", "holds ", "looks ")):
        reason = "the file " + reason
    return {"path": bad.display, "sha256": sha256, "rows": bad.rows, "reason": BAD_FILE + reason}


def outside_entry(path: Path, root: Path) -> dict[str, Any]:
    """The `quarantined_files` entry of a matched file that resolves outside the project (a symbolic link): not read."""
    from pipelines.spec.containment import ENV_ALLOWED_ROOTS

    try:
        shown = path.absolute().relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = str(path)
    return {
        "path": shown,
        "sha256": "",
        "rows": None,
        "reason": f"{BAD_FILE}the file resolves to `{path.resolve()}`, outside the project, and was not read: "
        f"replace the link by the file, or allow that folder with `{ENV_ALLOWED_ROOTS}`",
    }


def refuse(bad: BadFileError, spec: DatasetSpec) -> SourceError:
    """The error that stops a run on a bad file under `source.on_bad_file: fail`."""
    return BadFileError(
        f"{bad}\n  dataset `{spec.name}` has `source.on_bad_file: fail`: fix or remove the file, or set "
        "`source.on_bad_file: quarantine_file` to set such files aside and read the others",
        bad.display,
        bad.rows,
    )


def nothing_left(spec: DatasetSpec, quarantined: list[dict[str, Any]]) -> SourceError:
    """The error when every file was set aside: each file and its reason."""
    listed = ";\n  ".join(f"`{q['path']}`: {q['reason']}" for q in quarantined)
    return SourceError(f"dataset `{spec.name}`: every file was quarantined ({listed}); nothing to ingest")


def file_counts(files: list[str], quarantined: list[dict[str, Any]]) -> dict[str, int]:
    """Files in = files read + files set aside, for the manifest.

    Args:
        files: The paths of every raw file of the run.
        quarantined: The run's `quarantined_files`.

    Raises:
        IntegrityError: a file set aside is not one of the run's files, or is listed twice.
    """
    aside = [q["path"] for q in quarantined]
    if len(set(aside)) != len(aside) or not set(aside) <= set(files):
        raise IntegrityError(f"files set aside {aside} are not each one of the run's files {files}")
    return {"files_in": len(files), "files_read": len(files) - len(aside), "files_set_aside": len(aside)}


__all__ = ["BAD_FILE", "entry", "file_counts", "nothing_left", "outside_entry", "refuse", "transposed_error"]
