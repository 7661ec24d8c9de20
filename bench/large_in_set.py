"""Time a 300,000-value `in_set` rule: loading the project that declares it, and checking it on rows.

    python bench/large_in_set.py                  # 300,000 values, 10,000 rows (half failing)
    python bench/large_in_set.py --values 1000000

Copies the example project into a temporary folder, adds to the ai4i2020 rule file an `in_set` rule on
`product_id` with `--values` values (2.7 MB of YAML at 300,000), then times, in this process:
`load_project` (what `moshu check` runs: YAML with positions, validation, hashes) and the rule's row
check with its reasons on `--rows` rows, half of them outside the set. Prints JSON with CPU seconds
(the figure to compare on a shared machine) and wall seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    """Build the project, time the load and the check, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--values", type=int, default=300_000)
    ap.add_argument("--rows", type=int, default=10_000)
    args = ap.parse_args()

    import polars as pl

    from pipelines.quality.kinds import FAIL, Context
    from pipelines.quality.registry import executor_for
    from pipelines.spec.loader import load_project

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        for part in ("dataset_specs", "quality_rules", "seeds", "catalog"):
            shutil.copytree(REPO / part, root / part)
        rules = root / "quality_rules" / "ai4i2020.yaml"
        values = "\n".join(f"      - V{i:07d}" for i in range(args.values))
        rules.write_text(
            rules.read_text(encoding="utf-8")
            + f"  - id: ai4i.product_id.big_set\n    kind: in_set\n    column: product_id\n    values:\n{values}\n"
            "    severity: warn\n    description: A large set of allowed product ids.\n",
            encoding="utf-8",
        )
        size_mb = round(rules.stat().st_size / 1e6, 1)
        wall, cpu = time.perf_counter(), time.process_time()
        project = load_project(root)
        load = (time.perf_counter() - wall, time.process_time() - cpu)
        loaded = project.datasets["ai4i2020"]
        rule = next(r for r in loaded.rules if r.id == "ai4i.product_id.big_set")
        ex, ctx = executor_for(rule), Context(loaded.spec, root)
        ids = [f"V{i:07d}" if i % 2 else f"X{i:07d}" for i in range(args.rows)]
        frame = pl.DataFrame({"product_id": ids})
        wall, cpu = time.perf_counter(), time.process_time()
        out = frame.with_columns(flag=ex.flags(rule, ctx)).with_columns(
            reason=pl.when(pl.col("flag") == FAIL).then(ex.reason(rule, ctx))
        )
        failed = int((out["flag"] == FAIL).sum())
        check = (time.perf_counter() - wall, time.process_time() - cpu)
    print(json.dumps({
        "values": args.values, "yaml_mb": size_mb,
        "rows": args.rows, "rows_failing": failed,
        "load_project_cpu_s": round(load[1], 2), "load_project_wall_s": round(load[0], 2),
        "check_cpu_s": round(check[1], 2), "check_wall_s": round(check[0], 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
