"""Adequate splits: enough entities in every split and every class where the data allows, else gaps.

The seeded hash of `splits` keeps an entity in its split whatever else is added, but with few entities it
can leave a split empty, a single entity in test, or a class out of train. `repair` then moves the
fewest entities that make the split adequate, each time the one whose hash lies nearest to the split
it joins (so the repair is as reproducible as the hash); `split_gaps` says what still falls short.
"""

from __future__ import annotations

import polars as pl

from pipelines.models.coverage import Gap
from pipelines.models.demand import SPLITS, SplitSpec

GROUP = "_group"
UNIT = "_unit"
CLASSES = "_classes"
SPLIT = "split"
# Which split gets a class, or an entity, first when there are not enough for all.
PRIORITY = ("train", "test", "validation")


def wanted_splits(spec: SplitSpec) -> list[str]:
    """The splits that should hold rows, in priority order: train, test, then validation if it has a share
    (for `method: column`, if a value maps to it)."""
    if spec.method == "column":
        return [s for s in PRIORITY if s != "validation" or s in spec.values.values()]
    return [s for s in PRIORITY if spec.fraction(s) > 0]


def _interval(spec: SplitSpec, split: str) -> tuple[float, float]:
    lo = 0.0 if split == "train" else spec.train if split == "validation" else spec.train + spec.validation
    return lo, lo + spec.fraction(split)


def _distance(spec: SplitSpec, split: str) -> pl.Expr:
    """How far an entity's hash lies from the interval that would have put it in `split`."""
    lo, hi = _interval(spec, split)
    u = pl.col(UNIT)
    return pl.when(u < lo).then(lo - u).when(u >= hi).then(u - hi).otherwise(0.0)


def _movable(groups: pl.DataFrame) -> pl.Series:
    """Entities whose split would keep each of their classes if they left it (not the last holder of any)."""
    holders = groups.explode(CLASSES).group_by(SPLIT, CLASSES).len()
    sole = holders.filter(pl.col("len") == 1).select(SPLIT, CLASSES)
    last = groups.explode(CLASSES).join(sole, on=[SPLIT, CLASSES], how="semi").get_column(GROUP).unique()
    return ~groups.get_column(GROUP).is_in(last.implode())


def _move(groups: pl.DataFrame, candidates: pl.Series, to: str, spec: SplitSpec) -> pl.DataFrame | None:
    """Move the candidate nearest to `to` (ties: the smallest key); None if there is no candidate."""
    pool = groups.filter(candidates)
    if pool.is_empty():
        return None
    pick = pool.with_columns(_distance(spec, to).alias("_d")).sort("_d", GROUP).get_column(GROUP)[0]
    return groups.with_columns(pl.when(pl.col(GROUP) == pick).then(pl.lit(to)).otherwise(pl.col(SPLIT)).alias(SPLIT))


def _repair_classes(groups: pl.DataFrame, spec: SplitSpec) -> pl.DataFrame:
    wanted = wanted_splits(spec)
    classes = sorted(groups.get_column(CLASSES).explode().drop_nulls().unique().to_list())
    for c in classes:
        has_c = groups.get_column(CLASSES).list.contains(c)
        for to in wanted[: min(int(has_c.sum()), len(wanted))]:
            if groups.filter(has_c & (pl.col(SPLIT) == to)).height:
                continue
            counts = groups.filter(has_c).group_by(SPLIT).len()
            rich = counts.filter(pl.col("len") > 1).get_column(SPLIT)
            cand = has_c & groups.get_column(SPLIT).is_in(rich.implode()) & _movable(groups)
            moved = _move(groups, cand, to, spec)
            groups = groups if moved is None else moved
            has_c = groups.get_column(CLASSES).list.contains(c)
    return groups


def _targets(n: int, spec: SplitSpec) -> dict[str, int]:
    """Fewest entities per split: `min_groups` each if there are enough for all, else one each, train first;
    train also at least its share (rounded down) of what the others leave."""
    wanted = wanted_splits(spec)
    if n >= spec.min_groups * len(wanted):
        out = dict.fromkeys(wanted, spec.min_groups)
    else:
        out = {s: int(i < n) for i, s in enumerate(wanted)}
    rest = n - sum(v for s, v in out.items() if s != "train")
    out["train"] = max(out["train"], min(int(spec.train * n), rest))
    return out


def _repair_sizes(groups: pl.DataFrame, spec: SplitSpec) -> pl.DataFrame:
    targets = _targets(groups.height, spec)
    for to in wanted_splits(spec):
        while True:
            sizes = dict(groups.group_by(SPLIT).len().iter_rows())
            if sizes.get(to, 0) >= targets[to]:
                break
            donors = sorted((s for s in targets if s != to and sizes.get(s, 0) > targets[s]), key=lambda s: -sizes[s])
            moved = None
            for donor, keep_classes in [(d, True) for d in donors] + [(d, False) for d in donors]:
                cand = groups.get_column(SPLIT) == donor
                moved = _move(groups, cand & _movable(groups) if keep_classes else cand, to, spec)
                if moved is not None:
                    break
            if moved is None:
                break
            groups = moved
    return groups


def repair(groups: pl.DataFrame, spec: SplitSpec) -> pl.DataFrame:
    """Make a hashed assignment of entities adequate, moving as few as possible.

    Args:
        groups: One row per entity: `_group` (its key), `_unit` (its seeded hash in [0, 1)), `_classes`
            (list of the classes its rows hold; empty without a class label) and `split`.
        spec: The demand's split: shares and `min_groups`.

    Returns:
        The same entities with `split` repaired: first every class into train, test and validation in
        that order as far as the class has entities (never taking a split's last entity of a class),
        then every split with a share up to `min_groups` entities when there are enough for all (else
        one each, train first) and train up to its share, taking from the largest split above its own minimum, an entity whose
        classes its split keeps if there is one (an empty split is worse than a missing class).
    """
    return _repair_sizes(_repair_classes(groups, spec), spec)


def split_gaps(groups: pl.DataFrame, spec: SplitSpec, unit: str) -> list[Gap]:
    """What a split lacks: splits with fewer than `min_groups` entities, classes absent from a split.

    Args:
        groups: One row per entity with `split` (null: in no split) and `_classes`.
        spec: The demand's split.
        unit: What an entity is, for the gap's key (`group` or `row`).

    Returns:
        Gaps of kind `split`: key `test split groups` (required `min_groups`, observed the count) and
        `class=normal in train` (required 1, observed 0).
    """
    gaps = []
    sizes = dict(groups.group_by(SPLIT).len().iter_rows())
    for s in wanted_splits(spec):
        if sizes.get(s, 0) < spec.min_groups:
            gaps.append(Gap("split", f"{s} split {unit}s", spec.min_groups, int(sizes.get(s, 0))))
    held = groups.explode(CLASSES).drop_nulls(CLASSES)
    present = set(held.select(SPLIT, CLASSES).unique().iter_rows())
    for c in sorted(held.get_column(CLASSES).unique().to_list()):
        gaps.extend(Gap("split", f"class={c} in {s}", 1, 0) for s in wanted_splits(spec) if (s, c) not in present)
    return gaps


__all__ = ["CLASSES", "GROUP", "SPLITS", "UNIT", "repair", "split_gaps", "wanted_splits"]
