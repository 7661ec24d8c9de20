"""Constant and duplicated feature columns (clause D-3), found by hashing each column once, never column against column.

Each column gets, per group, its count of distinct non-null values and a 64-bit fingerprint: the sum
of its values' hashes and its null count. Two columns can be equal only when their fingerprints
agree, so only those pairs are compared value by value (the sum ignores row order, so the comparison
settles it). Cost is linear in rows and columns: one grouped pass per `CHUNK` columns, plus passes
over the colliding columns, `CHUNK` at a time, so memory is bounded by rows x `CHUNK` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from pipelines.quality.profile import CHUNK, SEED, comparable, family

_GROUP = "__moshu_group__"


@dataclass(frozen=True)
class GroupFinding:
    """The offending columns of one group (`all` without `group_by`)."""

    group: str
    constant: tuple[str, ...]
    duplicated: dict[str, str] = field(default_factory=dict)  # non-constant column -> the earlier column it equals

    @property
    def bad(self) -> list[str]:
        """Constant or duplicated columns, in column order of discovery."""
        return [*self.constant, *(c for c in self.duplicated if c not in self.constant)]


def _group_label(group_by: Sequence[str]) -> pl.Expr:
    if not group_by:
        return pl.lit("all")
    return pl.concat_str([pl.col(g).cast(pl.String).fill_null("null") for g in group_by], separator="/")


def informative(lf: pl.LazyFrame, columns: Sequence[str], group_by: Sequence[str] = ()) -> tuple[int, int, list[GroupFinding]]:
    """(A, B, findings): A = informative column-group pairs, B = columns x groups (the D-3 measure).

    A column is constant in a group when it has at most one distinct non-null value there, and
    duplicated when its values (nulls included) equal, row by row, those of an earlier column of the
    list in that group.
    """
    schema = lf.collect_schema()
    cols = list(columns)
    keyed = lf.with_columns(_group_label(group_by).alias(_GROUP))
    stats = pl.DataFrame()
    for start in range(0, len(cols), CHUNK):  # CHUNK columns read at a time: memory bounded by rows x CHUNK
        aggs: list[pl.Expr] = []
        for i, c in enumerate(cols[start : start + CHUNK], start):
            aggs += [
                pl.col(c).drop_nulls().n_unique().alias(f"{i}.nd"),
                comparable(c, schema[c]).hash(SEED).sum().alias(f"{i}.h"),
                pl.col(c).null_count().alias(f"{i}.n"),
            ]
        part = keyed.group_by(_GROUP).agg(aggs).collect()
        stats = part if stats.is_empty() else stats.join(part, on=_GROUP, how="inner")
    stats = stats.sort(_GROUP)
    findings: list[GroupFinding] = []
    collisions: list[tuple[str, str, str]] = []  # (group, earlier column, later column)
    constants: dict[str, list[str]] = {}
    for row in stats.iter_rows(named=True):
        g = row[_GROUP]
        constants[g] = [c for i, c in enumerate(cols) if row[f"{i}.nd"] <= 1]
        seen: dict[tuple[str, int, int], list[str]] = {}
        for i, c in enumerate(cols):
            key = (family(schema[c]), int(row[f"{i}.h"] or 0), int(row[f"{i}.n"]))
            for earlier in seen.get(key, []):
                collisions.append((g, earlier, c))
            seen.setdefault(key, []).append(c)
    equal: dict[tuple[str, str, str], bool] = {}
    for start in range(0, len(collisions), CHUNK // 2):  # at most CHUNK columns read at once
        batch = collisions[start : start + CHUNK // 2]
        exprs = [
            comparable(a, schema[a]).eq_missing(comparable(b, schema[b])).all().alias(str(k)) for k, (_, a, b) in enumerate(batch)
        ]
        got = keyed.group_by(_GROUP).agg(exprs).collect()
        by_group = {r[_GROUP]: r for r in got.iter_rows(named=True)}
        equal.update({t: bool(by_group[t[0]][str(k)]) for k, t in enumerate(batch)})
    for g, const in constants.items():
        dup: dict[str, str] = {}
        for (grp, a, b), same in equal.items():
            if grp == g and same and b not in dup and b not in const:
                dup[b] = a
        if const or dup:
            findings.append(GroupFinding(g, tuple(const), dup))
    bad = sum(len(f.bad) for f in findings)
    return len(cols) * stats.height - bad, len(cols) * stats.height, findings


def describe_findings(findings: list[GroupFinding]) -> str:
    """People's summary: `constant: a, b; duplicated: c = a` per group."""
    parts = []
    for f in findings:
        bits = []
        if f.constant:
            bits.append("constant: " + ", ".join(f.constant))
        if f.duplicated:
            bits.append("duplicated: " + ", ".join(f"{c} = {a}" for c, a in f.duplicated.items()))
        lead = "" if f.group == "all" else f"{f.group}: "
        parts.append(lead + "; ".join(bits))
    return " | ".join(parts)
