"""What a query's error means in the catalog's words: an unknown dataset, version, split or diff.

Since migration 0013, `dataset`, `quarantine` and `split` read a version's view by name
(`version_data."<name>@<N>"`): for a version that does not exist DuckDB says `Table with name <name>@<N> does
not exist!` and suggests the closest view by spelling, in any client. `diff_rows` and `frozen_eval` check the
catalog and raise `error()` with the names that exist (migration 0012); `split` also reads the split file, which
DuckDB reports missing as "No files found". `explain` turns each into a message that names what is missing and
what exists, reading the catalog on the same connection (`moshu sql` and the Python client print it).
"""

from __future__ import annotations

import re

import duckdb

_NO_FILES = re.compile(r"No files found that match the pattern \"([^\"]+)\"")
_NO_VIEW = re.compile(r"Table with name (?P<name>[a-z][a-z0-9_]*)@(?P<version>\d+) does not exist")
_DATA = re.compile(
    r"^datasets/(?P<name>[^/]+)/(?:(?:published|quarantine)/(?:_partition=[^/]+/)?v(?P<version>\d+)[/-][^/]*|"
    r"v(?P<legacy>\d+)/(?:data/\*|quarantine\*?))\.parquet$"
)
_SPLIT = re.compile(r"^datasets/(?P<name>[^/]+)/splits/v(?P<version>\d+)/(?P<demand>[^/]+)\.parquet$")
_DIFF = re.compile(r"^datasets/(?P<name>[^/]+)/diffs/v(?P<a>\d+)-v(?P<b>\d+)\.parquet$")
_FROZEN = re.compile(r"^datasets/(?P<name>[^/]+)/splits/frozen/(?P<demand>[^/]+)\.parquet$")


def _published(con: duckdb.DuckDBPyConnection, name: str) -> list[int] | None:
    """Published versions of `name`, or None when the catalog has no such dataset."""
    if not con.execute("SELECT count(*) FROM datasets WHERE name = ?", [name]).fetchone()[0]:  # type: ignore[index]
        return None
    return [
        r[0]
        for r in con.execute(
            "SELECT version FROM versions WHERE name = ? AND status = 'published' ORDER BY version", [name]
        ).fetchall()
    ]


def _unknown_dataset(con: duckdb.DuckDBPyConnection, name: str) -> str:
    known = [r[0] for r in con.execute("SELECT name FROM datasets ORDER BY name").fetchall()]
    return f"no dataset `{name}` in the catalog (datasets: {', '.join(known) or 'none yet'})"


def _versions(vs: list[int]) -> str:
    return ", ".join(f"v{v}" for v in vs) if vs else "none published yet"


_MACRO_ERROR = re.compile(
    r"^Invalid Input Error: (no dataset `|dataset `[^`]+` (has no version|v\d+ has no)|no row diff of dataset `|dataset `[^`]+` has no frozen)"
)


def macro_message(message: str) -> str | None:
    """The message of a catalog macro's `error()` without DuckDB's prefix, or None for any other error."""
    return message.removeprefix("Invalid Input Error: ").splitlines()[0] if _MACRO_ERROR.match(message) else None


def explain(con: duckdb.DuckDBPyConnection, message: str) -> str | None:
    """The catalog's reading of a DuckDB "No files found" message, or None when it is about another path.

    Args:
        con: A connection with the catalog's tables.
        message: The text of the DuckDB error.

    Returns:
        E.g. "dataset `cnc_line` has no published version 5 (versions: v1, v2, v3, v4)".
    """
    if (said := macro_message(message)) is not None:  # the catalog's macros said it themselves (migration 0012)
        return said
    if (v := _NO_VIEW.search(message)) is not None:
        try:
            return _no_version(con, v.group("name"), int(v.group("version")))
        except duckdb.Error:
            return None
    m = _NO_FILES.search(message)
    if m is None:
        return None
    path = m.group(1)
    try:
        return _explain_path(con, path)
    except duckdb.Error:  # a connection without the catalog's tables
        return None


def _no_version(con: duckdb.DuckDBPyConnection, name: str, version: int) -> str:
    """An unknown dataset, or a version it does not have (rejected candidates are versions too)."""
    if not con.execute("SELECT count(*) FROM datasets WHERE name = ?", [name]).fetchall()[0][0]:
        return _unknown_dataset(con, name)
    vs = [r[0] for r in con.execute("SELECT version FROM versions WHERE name = ? ORDER BY version", [name]).fetchall()]
    if version in vs:
        return (
            f"dataset `{name}` v{version} has no view in the catalog: its files do not read back (`moshu report {name}@{version}` "
            "says why), or the catalog is out of date (`moshu catalog rebuild`)"
        )
    return f"dataset `{name}` has no version {version} (versions: {', '.join(f'v{n}' for n in vs) or 'none yet'})"


def _explain_derived(con: duckdb.DuckDBPyConnection, path: str) -> str | None:
    """A row diff or frozen evaluation set that does not exist, with the ones that do (migration 0014)."""
    if (m := _DIFF.match(path)) is not None:
        name = m.group("name")
        pairs = con.execute(
            "SELECT from_version, to_version FROM version_diffs WHERE dataset = ? ORDER BY to_version, from_version", [name]
        ).fetchall()
        have = ", ".join(f"v{a}-v{b}" for a, b in pairs) or "none"
        return f"no row diff of dataset `{name}` from v{m.group('a')} to v{m.group('b')} (diffs: {have})"
    if (m := _FROZEN.match(path)) is not None:
        name = m.group("name")
        sets = [r[0] for r in con.execute("SELECT demand FROM frozen_evals WHERE dataset = ? ORDER BY demand", [name]).fetchall()]
        return (
            f"dataset `{name}` has no frozen evaluation set for demand `{m.group('demand')}` "
            f"(frozen sets: {', '.join(sets) or 'none'})"
        )
    return None


def _explain_path(con: duckdb.DuckDBPyConnection, path: str) -> str | None:
    if (said := _explain_derived(con, path)) is not None:
        return said
    # a version view whose files are gone, or a split file that does not exist ("No files found")
    for pattern in (_DATA, _SPLIT):
        if (m := pattern.match(path)) is None:
            continue
        name = m.group("name")
        vs = _published(con, name)
        if pattern is _DATA and vs is not None:  # the version's view names files that are gone
            return f"dataset `{name}` v{m.group('version') or m.group('legacy')} is missing its file `{path}`; run `moshu verify`"
        if vs is None:
            return _unknown_dataset(con, name)
        demands = [r[0] for r in con.execute("SELECT demand FROM demands WHERE dataset = ? ORDER BY demand", [name]).fetchall()]
        v = int(m.group("version"))  # a split's version
        if v not in vs:
            return f"dataset `{name}` has no published version {v} (versions: {_versions(vs)})"
        if pattern is _SPLIT:
            demand = m.group("demand")
            if demand not in demands:
                return f"dataset `{name}` has no demand `{demand}` (demands: {', '.join(demands) or 'none'})"
            return f"demand `{demand}` has no split of `{name}` v{v} (see `SELECT * FROM splits WHERE dataset = '{name}'`)"
        return f"dataset `{name}` v{v} has no such files (`{path}`); run `moshu verify` to check the warehouse"
    return None
