"""Time the label-issue detector on a generated table (default 30,000 rows x 50 features, 5 % labels flipped).

    python bench/detector.py                      # 30,000 x 50, 4 classes
    python bench/detector.py --rows 100000 --features 20 --classes 2

The data is `sklearn.datasets.make_classification` (seeded), with `--flip` of the rows moved to another
class at random (not timed). Timed: `label_issues.find_label_issues` and `select` with the default
guardrails, after a warm-up import of scikit-learn and cleanlab. Prints seconds, the rows shown for
review and how many of them are planted flips, as JSON. `cpu_seconds` (the process's CPU time) is the
figure to compare on a shared machine: wall time grows with whatever else runs.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import polars as pl


def main() -> None:
    """Generate, time, print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=30_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--flip", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import cleanlab.filter  # noqa: F401  (warm-up: imports are not the detector's time)
    from sklearn.datasets import make_classification

    from pipelines.models.demand import Demand
    from pipelines.models.label_issues import find_label_issues, select

    X, y = make_classification(
        n_samples=args.rows, n_features=args.features, n_informative=min(args.features, 10), n_classes=args.classes,
        n_clusters_per_class=1, class_sep=1.5, random_state=args.seed,
    )  # fmt: skip
    rng = np.random.default_rng(args.seed)
    flipped = rng.choice(args.rows, round(args.flip * args.rows), replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, args.classes, len(flipped))) % args.classes
    features = [f"f{i}" for i in range(args.features)]
    df = pl.DataFrame({**{f: X[:, i] for i, f in enumerate(features)}, "label": noisy})
    demand = Demand.model_validate(
        {"name": "bench", "dataset": "bench", "title": "bench", "team": "bench", "task": "classification",
         "label": "label", "features": features, "split": {"method": "random", "seed": args.seed}}
    )  # fmt: skip
    start, cpu = time.perf_counter(), time.process_time()
    found = find_label_issues(df, demand, seed=args.seed)
    chosen = select(found, demand.detector_settings)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    shown = {i.index for i in chosen.proposed + chosen.held}
    planted = set(flipped.tolist())
    print(
        json.dumps(
            {
                "rows": args.rows, "features": args.features, "classes": args.classes, "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu_seconds, 2),
                "issues": len(found.issues), "shown": len(shown), "proposed": len(chosen.proposed), "held": len(chosen.held),
                "shown_planted": len(shown & planted), "planted": len(planted),
                "issues_planted": len({i.index for i in found.issues} & planted),
            }
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
