"""Time partitions of a stream dataset: keys, windows, which raw file belongs to which partition.

A partition key is written the way Dagster writes it (`2026-03-02` daily, `2026-03-02-06:00`
hourly), so the same key names a Dagster partition, a version's partition record and (with the
colon dropped) its files. A raw file belongs to the partition its path names (`partitions.path_pattern`);
a row of that file whose timestamp lies outside the partition's window is quarantined by the
generated rule `partition.window`, so no row is lost and none lands in two partitions.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.errors import SourceError

if TYPE_CHECKING:
    from pipelines.spec.models import DatasetSpec
    from pipelines.spec.rules import RuleBase

WINDOW_RULE = "partition.window"
KEY_FORMATS = {"daily": "%Y-%m-%d", "hourly": "%Y-%m-%d-%H:%M"}
_STEP = {"daily": timedelta(days=1), "hourly": timedelta(hours=1)}


def parse_key(key: str, granularity: str) -> datetime:
    """Start of the partition `key` (naive UTC); ValueError naming the expected form if it is not one."""
    fmt = KEY_FORMATS[granularity]
    try:
        start = datetime.strptime(key, fmt)
    except ValueError:
        example = datetime(2026, 3, 2, 6).strftime(fmt)
        raise ValueError(f"`{key}` is not a {granularity} partition key; write it like `{example}`") from None
    if granularity == "hourly" and start.minute:
        raise ValueError(f"`{key}` is not the start of an hour; write it like `{start:%Y-%m-%d-%H}:00`")
    return start


def key_for(moment: datetime, granularity: str) -> str:
    """The key of the partition holding `moment`."""
    start = moment.replace(minute=0, second=0, microsecond=0)
    if granularity == "daily":
        start = start.replace(hour=0)
    return start.strftime(KEY_FORMATS[granularity])


def window(key: str, granularity: str) -> tuple[datetime, datetime]:
    """[start, end) of a partition."""
    start = parse_key(key, granularity)
    return start, start + _STEP[granularity]


def file_tag(key: str) -> str:
    """The key as it appears in file names (`2026-03-02`, `2026-03-02-0600`)."""
    return key.replace(":", "")


def partition_of(spec: DatasetSpec, relpath: str) -> str:
    """The partition a raw file belongs to, from its path; SourceError saying how to name it otherwise."""
    p = spec.partitions
    assert p is not None
    m = re.search(p.path_pattern, relpath)
    if m is None:
        raise SourceError(
            f"dataset `{spec.name}`: file `{relpath}` does not match `partitions.path_pattern` `{p.path_pattern}`, so it "
            "belongs to no partition; name it with its date (e.g. `line_2026-03-02.csv`) or fix the pattern"
        )
    try:
        moment = datetime.strptime(m.group(1), p.path_format)
    except ValueError:
        raise SourceError(
            f"dataset `{spec.name}`: file `{relpath}`: `{m.group(1)}` (captured by `partitions.path_pattern`) does not "
            f"read as `{p.path_format}` (`partitions.path_format`); fix the file name or the format"
        ) from None
    return key_for(moment, p.granularity)


def files_by_partition(spec: DatasetSpec, root: Path, paths: list[Path]) -> dict[str, list[Path]]:
    """The raw files of each partition, keys ascending."""
    from pipelines.paths import relative

    out: dict[str, list[Path]] = {}
    for path in paths:
        out.setdefault(partition_of(spec, relative(path, root)), []).append(path)
    return dict(sorted(out.items()))


def window_rule(spec: DatasetSpec, key: str) -> RuleBase:
    """The generated rule that quarantines a row lying outside its file's partition."""
    from pipelines.spec.rules import Expression

    p = spec.partitions
    assert p is not None
    start, end = window(key, p.granularity)
    dtype = spec.column(p.column).dtype
    cast, fmt = ("DATE", "%Y-%m-%d") if dtype == "date" else ("TIMESTAMP", "%Y-%m-%d %H:%M:%S")
    col = p.column
    return Expression(
        kind="expression",
        id=WINDOW_RULE,
        expr=f"{col} >= CAST('{start:{fmt}}' AS {cast}) AND {col} < CAST('{end:{fmt}}' AS {cast})",
        description=f"`{col}` lies in the {p.granularity} partition its file belongs to (from `partitions.path_pattern`).",
    )


def out_of_range(spec: DatasetSpec, key: str) -> str | None:
    """Why `key` is not one of the spec's partitions ([start, end)), or None."""
    p = spec.partitions
    assert p is not None
    k = parse_key(key, p.granularity)
    if k < parse_key(p.start, p.granularity):
        return f"partition `{key}` is before `partitions.start` ({p.start}); move the start back or leave the file out"
    if p.end is not None and k >= parse_key(p.end, p.granularity):
        return f"partition `{key}` is at or after `partitions.end` ({p.end}); move the end or leave the file out"
    return None


def is_over(spec: DatasetSpec, key: str, now: datetime | None = None) -> bool:
    """Whether the partition's window has ended (Dagster offers a time partition only once it is over)."""
    from datetime import UTC

    p = spec.partitions
    assert p is not None
    now = now or datetime.now(UTC).replace(tzinfo=None)
    return window(key, p.granularity)[1] <= now
