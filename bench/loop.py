"""Time trial training (no detector) on a generated table: `python bench/loop.py --rows 30000 --cols 50`."""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from pipelines.models.demand import Demand, SplitSpec
from pipelines.models.trial_fit import trial_train


def generate(rows: int, cols: int, classes: int, seed: int) -> pl.DataFrame:
    """Seeded numeric features, a few text ones, and a class that depends on some of them, with 5 % noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols))
    score = X[:, 0] + 0.5 * X[:, 1] * X[:, 2] - 0.3 * X[:, 3] ** 2 + rng.normal(scale=0.5, size=rows)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    flip = rng.random(rows) < 0.05
    y[flip] = rng.integers(0, classes, flip.sum())
    frame = {f"x{i:02d}": X[:, i] for i in range(cols - 2)}
    frame["line"] = rng.choice(["L1", "L2", "L3", "L4"], rows).tolist()
    frame["shift"] = rng.choice(["early", "late", "night"], rows).tolist()
    frame["label"] = [f"class_{c}" for c in y]
    return pl.DataFrame(frame)


def main() -> None:
    """Generate, split 85 / 15, train once (untimed warm-up of imports), then time `--repeat` trials.

    Wall time depends on what else runs on the machine; CPU time of this process (the fits are
    single-threaded) does much less.
    """
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=30_000)
    ap.add_argument("--cols", type=int, default=50)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    df = generate(args.rows, args.cols, args.classes, seed=0)
    features = tuple(c for c in df.columns if c != "label")
    demand = Demand(
        name="bench_trial",
        dataset="bench",
        title="Trial training benchmark",
        team="bench",
        task="classification",
        label="label",
        features=features,
        split=SplitSpec(method="random", seed=1),
    )
    test = np.random.default_rng(1).random(df.height) < 0.15
    train, frozen = df.filter(~pl.Series(test)), df.filter(pl.Series(test))
    trial_train(train.head(2_000), frozen.head(500), demand)  # imports and first-call costs, not timed
    wall, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        res = trial_train(train, frozen, demand, frozen_labels=frozen["label"])
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(
        f"trial training, {df.height:,} x {len(features)} ({args.classes} classes): {res.params['cv_folds']} fits; "
        f"wall median {sorted(wall)[len(wall) // 2]:.1f} s (min {min(wall):.1f}), "
        f"CPU median {sorted(cpu)[len(cpu) // 2]:.1f} s (min {min(cpu):.1f}); {res.metric} {res.value:.3f} +/- {res.noise:.3f}"
    )


if __name__ == "__main__":
    main()
