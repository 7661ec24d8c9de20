"""Dataset-level inference over the profiled sample: roles, time axis and period, key, file-name column, label groups."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import polars as pl

from pipelines.init import names as nm
from pipelines.init.profile import MAX_CLASSES, ColumnProfile

MAX_KEY_COLUMNS = 3
KEY_CANDIDATES = 8  # columns tried in key combinations
NEAR_UNIQUE = 0.99  # share of unique (entity, time) keys accepted as the key of a stream with a few repeats
REGULAR = 0.8  # share of intervals equal to the median for a period to be regular
WIDE = 50  # columns of one dtype and one name pattern that make a column group


@dataclass
class Structure:
    """What the columns are together.

    Attributes:
        timestamp: The column that orders each series, if any.
        entity: Columns naming a series (the file-name column first, when there is one).
        period: The regular interval between samples of a series (seconds, or counter steps), if regular.
        period_share: Share of intervals equal to `period`.
        backwards: Intervals that do not move forward, in file order.
        key: The primary key, if one was found.
        key_repeats: Rows sharing a key with an earlier row (0 for a strict key).
        one_hot: Label columns that form one one-hot class group.
        constant: Feature columns with a single value.
        duplicated: Pairs of feature columns holding the same values.
        duplicate_rows: Rows that repeat an earlier row entirely.
        time_unit: `s` for a time column, `step` for a counter.
        groups: Wide column groups: (name pattern of the raw names, dtype, raw columns).
    """

    timestamp: str | None = None
    entity: list[str] = field(default_factory=list)
    period: float | None = None
    period_share: float = 0.0
    backwards: int = 0
    key: list[str] = field(default_factory=list)
    key_repeats: int = 0
    one_hot: list[str] = field(default_factory=list)
    constant: list[str] = field(default_factory=list)
    duplicated: list[tuple[str, str]] = field(default_factory=list)
    groups: list[tuple[str, str, list[str]]] = field(default_factory=list)
    duplicate_rows: int = 0
    time_unit: str = "s"


def _common_prefix(texts: list[str]) -> str:
    """The characters every text starts with."""
    first, last = min(texts), max(texts)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]


def path_column(displays: list[str], taken: set[str]) -> tuple[str, str] | None:
    """(column name, `from_path` regex) when the files' names differ in one part, e.g. `experiment_01.csv` -> `experiment_(\\d+)`.

    Args:
        displays: Every matched file, relative to the project root.
        taken: Column names already used.
    """
    if len(displays) < 2:
        return None
    names = [PurePosixPath(d).name for d in displays]
    prefix = _common_prefix(names)
    suffix = _common_prefix([n[::-1] for n in names])[::-1]
    cut = max(prefix.rfind(c) for c in "_-. ") + 1
    prefix = prefix[:cut]
    starts = [i for i, c in enumerate(suffix) if c in "_-."]
    suffix = suffix[starts[0] :] if starts else ""
    middles = [n[len(prefix) : len(n) - len(suffix)] for n in names]
    if any(not m for m in middles) or len(set(middles)) < 2:
        return None
    group = re.sub(r"\d+", lambda _: r"\d+", re.escape(middles[0]))
    if not all(re.fullmatch(group, m) for m in middles):
        group = r"[^/]+?"
    regex = f"{re.escape(prefix)}({group}){re.escape(suffix)}$"
    if not all((m := re.search(regex, d)) and m.group(1) == mid for d, mid in zip(displays, middles, strict=True)):
        return None
    name = nm.snake(prefix) or "file_part"
    if not name[0].isalpha():
        name = "file_part"
    while name in taken:
        name += "_file"
    return name, regex


def _runs_are_blocks(df: pl.DataFrame, col: str, path: str) -> bool:
    """Whether each value of `col` occupies one contiguous block of rows per file (a series id)."""
    runs = df.select(((pl.col(col) != pl.col(col).shift()) | (pl.col(path) != pl.col(path).shift())).fill_null(True).sum()).item()
    return int(runs) == df.select(pl.struct(path, col).n_unique()).item()


def _counter_share(df: pl.DataFrame, counter: str, series: list[str]) -> float:
    """Share of consecutive rows of one series whose `counter` goes up by exactly 1."""
    same = pl.all_horizontal([pl.col(c) == pl.col(c).shift() for c in series])
    out = df.select(((pl.col(counter) - pl.col(counter).shift()) == 1).filter(same).mean()).item()
    return float(out or 0.0)


def find_time_axis(cols: list[ColumnProfile], df: pl.DataFrame, path: str, s: Structure) -> None:
    """Pick the timestamp and the entity (by name, else a counter that restarts per block of an integer column)."""
    times = [c for c in cols if c.dtype in ("datetime", "date")]
    ts = next((c for c in times if nm.TIMESTAMP.search(c.name)), times[0] if times else None)
    entities = [
        c
        for c in cols
        if nm.ENTITY.search(c.name) and c.dtype in ("string", "int64") and not c.personal and not nm.is_label(c.name)
    ]
    entities = [c for c in entities if 1 < c.distinct <= max(2, c.rows // 2)]
    if ts is None:
        ts = next((c for c in cols if c.dtype == "int64" and nm.COUNTER.match(c.name)), None)
    if ts is None or not entities:
        ints = [c for c in cols if c.dtype == "int64" and 1 < c.distinct <= max(2, c.rows // 5) and c.complete]
        for e, t in itertools.permutations(ints[:6], 2):
            if (
                (ts is None or t is ts)
                and _runs_are_blocks(df, e.name, path)
                and _counter_share(df, t.name, [path, e.name]) >= 0.99
            ):
                ts, entities = t, [e]
                break
    if entities:
        entities = [max(entities, key=lambda c: (c.name.endswith("_id"), -cols.index(c)))]
    if ts is not None:
        ts.role = "timestamp"
        s.timestamp = ts.name
    for e in entities:
        e.role = "entity"
    s.entity = [c.name for c in cols if c.from_path] + [e.name for e in entities]
    if ts is not None:
        _period(df, ts, s, path)


def _period(df: pl.DataFrame, ts: ColumnProfile, s: Structure, path: str) -> None:
    t = pl.col(ts.name)
    temporal = df.schema[ts.name].is_temporal()
    s.time_unit = "s" if temporal else "step"
    step = (t - t.shift()).dt.total_seconds(fractional=True) if temporal else (t - t.shift()).cast(pl.Float64)
    steps = df.select(step.over([path, *s.entity]).alias("d")).get_column("d").drop_nulls()  # per series, in file order
    if steps.len() == 0:
        return
    s.backwards = int((steps <= 0).sum())
    forward = steps.filter(steps > 0)
    if forward.len() == 0:
        return
    median = float(forward.median())  # type: ignore[arg-type]
    share = float(((forward - median).abs() <= 1e-9 * max(1.0, median)).mean())  # type: ignore[arg-type]
    if share >= REGULAR and median > 0:
        s.period, s.period_share = median, share


def _repeats(df: pl.DataFrame, key: list[str]) -> int:
    return df.height - int(df.select(pl.struct(key).n_unique()).item())


def find_key(cols: list[ColumnProfile], df: pl.DataFrame, s: Structure) -> None:
    """The primary key: entity + timestamp when (nearly) unique, else the smallest unique, complete id-like combination."""
    usable = {c.name for c in cols if c.complete and not c.personal and c.dtype not in ("float64", "bool")}
    if s.timestamp and s.timestamp in usable and all(e in usable for e in s.entity):
        key = [*s.entity, s.timestamp]
        repeats = _repeats(df, key)
        if repeats <= (1 - NEAR_UNIQUE) * df.height:
            s.key, s.key_repeats = key, repeats
            return
    ranked = [
        c for c in cols if c.name in usable and (c.from_path or c.role in ("entity", "timestamp") or nm.ID_LIKE.search(c.name))
    ]
    first = cols[0] if cols and cols[0].name in usable and cols[0].dtype == "int64" else None
    ranked = ([first] if first and first not in ranked else []) + ranked
    for size in range(1, MAX_KEY_COLUMNS + 1):
        for combo in itertools.combinations(ranked[:KEY_CANDIDATES], size):
            key = [c.name for c in combo]
            if _repeats(df, key) == 0:
                s.key = key
                for c in combo:
                    c.role = "attribute" if c.role == "measurement" else c.role
                return


def find_one_hot(cols: list[ColumnProfile], df: pl.DataFrame, s: Structure) -> None:
    """Consecutive 0/1 columns that sum to exactly 1 on every row; a group with a label-like name, or the last columns, is the label."""
    binary = [c.dtype == "int64" and c.complete and set(c.classes) <= {0, 1} and len(c.classes) == 2 for c in cols]
    i = 0
    while i < len(cols):
        if not binary[i]:
            i += 1
            continue
        j, best = i, None
        total = pl.lit(0, dtype=pl.Int64)
        while j < len(cols) and binary[j]:
            total = total + pl.col(cols[j].name)
            lo, hi = df.select(total.min().alias("lo"), total.max().alias("hi")).row(0)
            if hi > 1:
                break
            if lo == 1 and j > i:
                best = j
            j += 1
        if best is None:
            i += 1
            continue
        group = cols[i : best + 1]
        last = best == len(cols) - 1
        if any(nm.is_label(c.name) for c in group) or (last and len(group) >= 3):
            for c in group:
                c.role = "label"
            s.one_hot = [c.name for c in group]
        i = best + 1


def mark_roles(cols: list[ColumnProfile], s: Structure) -> None:
    """Labels by name (few classes), then measurements (numbers) and attributes (the rest)."""
    for c in cols:
        if c.role in ("timestamp", "entity", "label") or c.from_path:
            continue
        if nm.is_label(c.name) and not c.personal and c.dtype in ("int64", "string", "bool") and 0 < c.distinct <= MAX_CLASSES:
            c.role = "label"
        elif c.numeric and not c.personal and not (c.dtype == "int64" and nm.ID_LIKE.search(c.name)):
            c.role = "measurement"
        else:
            c.role = "attribute"


def features_seen(cols: list[ColumnProfile], df: pl.DataFrame, s: Structure) -> None:
    """Constant feature columns, and pairs of identical ones (compared by a hash of each column, not pairwise)."""
    feats = [c for c in cols if c.role == "measurement"]
    s.constant = [c.name for c in feats if c.distinct <= 1]
    hashes = (
        df.select([pl.col(c.name).hash(seed=7).sum().alias(c.name) for c in feats if c.distinct > 1]).row(0, named=True)
        if feats
        else {}
    )
    seen: dict[int, str] = {}
    for name, h in hashes.items():
        if h in seen and df.get_column(name).equals(df.get_column(seen[h])):
            s.duplicated.append((seen[h], name))
        else:
            seen.setdefault(h, name)


def find_groups(raw_names: list[str], cols: list[ColumnProfile]) -> list[tuple[str, str, list[str]]]:
    """Wide groups: at least `WIDE` columns of one dtype whose raw names share a pattern (`^\\d+$`, `^sensor_\\d+$`)."""
    by_raw = {c.raw: c for c in cols}
    buckets: dict[tuple[str, str], list[str]] = {}
    for raw in raw_names:
        c = by_raw.get(raw)
        if c is None or not re.search(r"\d", raw) or c.role in ("timestamp", "entity", "label"):
            continue
        pattern = "^" + re.sub(r"(\d+)", lambda _: r"\d+", re.escape(raw)) + "$"
        buckets.setdefault((pattern, c.dtype), []).append(raw)
    return [(p, d, members) for (p, d), members in buckets.items() if len(members) >= WIDE]
