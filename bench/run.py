"""The benchmark: moshu end to end against the CSV -> Parquet floors and two hand-built baselines.

For each size: copy `bench/project/` to a temporary folder, generate the data into its `data/` (not
timed), then run each engine as its own process, measured for wall time and peak RSS; check the rows
and defects each engine accounted for; print a table and write `bench/results/<date>_<size>_<rev>.{json,md}`.
After the last size, `<date>_<rev>_run.md` puts every size of the run side by side.

    python bench/run.py --rows 1000000 10000000 [--keep] [--only duckdb moshu ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import report
import verify
from generate import SIDECAR, generate
from measure import Measured, measure
from rich.console import Console

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH / "project"
RULES = Path("quality_rules") / "sensor_bench.yaml"
ENGINES = ("duckdb", "polars", "moshu", "moshu_sql", "polars_pandera", "ge_pandas")
OPTIONAL = ("polars_pandera_lazy",)  # run only when named with --only
BEFORE = "moshu_before"  # with --before: another checkout's `moshu run` on the same data, right after this one's
GLOB = "data/*.csv"
console = Console(width=max(120, Console().width))


def commands(root: Path, before: Path | None = None) -> dict[str, list[str]]:
    """The command of each engine, run with the temporary project as working folder (`before`: the `moshu` executable
    of another checkout, run into a warehouse of its own)."""
    py = sys.executable
    moshu = str(Path(py).parent / "moshu")
    wh = str(root / "warehouse")
    extra = {BEFORE: [str(before), "run", verify.DATASET, "--warehouse", str(root / "warehouse_before")]} if before else {}
    return extra | {
        "duckdb": [py, str(BENCH / "floors.py"), "duckdb", GLOB, "out/duckdb.parquet"],
        "polars": [py, str(BENCH / "floors.py"), "polars", GLOB, "out/polars.parquet"],
        "moshu": [moshu, "run", verify.DATASET, "--warehouse", wh],
        "moshu_sql": [moshu, "sql", f"select count(*) as n from {verify.DATASET}", "--format", "csv", "--warehouse", wh],
        "polars_pandera": [py, str(BENCH / "polars_pandera.py"), GLOB, "out/pp"],
        "polars_pandera_lazy": [py, str(BENCH / "polars_pandera.py"), GLOB, "out/pp_lazy", "--lazy"],
        "ge_pandas": [py, str(BENCH / "ge_baseline.py"), "data", "out/ge.json"],
    }


def child_env(root: Path) -> dict[str, str]:
    """The environment of every measured process: this one, with the temporary project."""
    env = dict(os.environ, MOSHU_PROJECT=str(root))
    env.pop("MOSHU_WAREHOUSE", None)
    return env


def prepare(rows: int, machines: int, seed: int, workdir: Path | None) -> tuple[Path, dict[str, Any], float]:
    """A temporary copy of the bench project with generated data; its folder, the sidecar, the seconds it took."""
    root = Path(tempfile.mkdtemp(prefix=f"moshu-bench-{report.size_label(rows)}-", dir=workdir))
    shutil.copytree(PROJECT, root, dirs_exist_ok=True)
    (root / "out").mkdir()
    t0 = time.perf_counter()
    generate(rows, root / "data", seed=seed, machines=machines, per_day=True)
    secs = time.perf_counter() - t0
    return root, json.loads((root / "data" / SIDECAR).read_text(encoding="utf-8")), secs


def _shown(cmd: list[str]) -> str:
    """A command as the results show it: no path of this machine (`python`, `moshu`, `bench/...`, the --before one)."""
    names = {sys.executable: "python", str(Path(sys.executable).parent / "moshu"): "moshu"}
    return " ".join(names.get(a, "moshu(before)" if a.endswith("/moshu") else a.replace(str(BENCH), "bench")) for a in cmd)


def _json_of(cmd: list[str], env: dict[str, str]) -> Any:
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return json.loads(res.stdout) if res.returncode == 0 and res.stdout.strip() else None


def checks(
    root: Path, runs: dict[str, Measured], sidecar: dict[str, Any], env: dict[str, str], before: Path | None = None
) -> list[dict[str, Any]]:
    """Every check that applies to the engines that ran (untimed)."""
    out: list[verify.Check] = []
    for engine in ("duckdb", "polars"):
        if engine in runs:
            rows = verify.count_parquet(root / "out" / f"{engine}.parquet")
            out.append(verify.Check(engine, "parquet rows = rows generated", sidecar["rows_written"], rows))
    moshu = str(Path(sys.executable).parent / "moshu")
    if "moshu" in runs:
        out += verify.verify_moshu(moshu, root / "warehouse", env, sidecar, root / RULES)
    if BEFORE in runs and before is not None:
        checked = verify.verify_moshu(str(before), root / "warehouse_before", env, sidecar, root / RULES)
        out += [verify.Check(BEFORE, c.check, c.expected, c.actual) for c in checked]
    if "moshu_sql" in runs:
        text = Path(runs["moshu_sql"].log).read_text(encoding="utf-8").split()
        n = int(text[-1]) if text and text[-1].isdigit() else None
        published = sidecar["rows_written"] - sidecar["expected_quarantined_rows"]
        out.append(verify.Check("moshu_sql", "count(*) = rows published", published, n))
    for engine, folder in (("polars_pandera", "pp"), ("polars_pandera_lazy", "pp_lazy")):
        if engine in runs and (root / "out" / folder / "summary.json").exists():
            out += verify.verify_polars_pandera(engine, root / "out" / folder, sidecar, root / RULES)
    if "ge_pandas" in runs and (root / "out" / "ge.json").exists():
        out += verify.verify_ge(json.loads((root / "out" / "ge.json").read_text(encoding="utf-8")), sidecar, root / RULES)
    return [c.as_dict() for c in out]


def run_size(rows: int, args: argparse.Namespace, machine: dict[str, Any]) -> dict[str, Any]:
    """Generate, measure every selected engine, check; return the result document."""
    root, sidecar, gen_s = prepare(rows, args.machines, args.seed, args.workdir)
    console.print(f"[bold]{rows:,} rows[/bold]: data generated in {gen_s:.1f} s into {root}")
    env, cmds = child_env(root), commands(root, args.before)
    runs: dict[str, Measured] = {}
    loads: dict[str, float] = {}  # the machine's 1-minute load average just before each engine started
    engines = [e for e in ENGINES + OPTIONAL if e in args.only]
    if args.before and "moshu" in engines:
        engines.insert(engines.index("moshu") + 1, BEFORE)
    try:
        for engine in engines:
            if engine == "moshu_sql" and not (root / "warehouse" / "catalog.duckdb").exists():
                console.print("  moshu_sql skipped: no catalog (moshu did not run)")
                continue
            console.print(f"  {engine} ...", end=" ")
            loads[engine] = round(os.getloadavg()[0], 2)
            m = measure(cmds[engine], cwd=root, env=env, log=root / "logs" / f"{engine}.log", timeout_s=args.timeout or 0)
            runs[engine] = m
            console.print(
                f"{m.wall_s:.2f} s, CPU {m.cpu_s:.2f} s, {m.peak_rss_mb:,.0f} MB"
                + ("" if m.ok else f" [red]exit {m.returncode}[/red]")
            )
            if not m.ok:
                console.print(Path(m.log).read_text(encoding="utf-8", errors="replace")[-3000:])
        result = _result(rows, root, sidecar, gen_s, runs, env, machine, args.before)
        for engine, load in loads.items():
            result["runs"][engine]["load_before"] = load
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return result


def _result(
    rows: int, root: Path, sidecar: dict[str, Any], gen_s: float, runs: dict[str, Measured], env: dict[str, str],
    machine: dict[str, Any], before: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    csv = [root / "data" / f["path"] for f in sidecar["files"]]
    result: dict[str, Any] = {
        "date": report.today(),
        "rows": sidecar["rows_written"],
        "requested_rows": rows,
        "machines": sidecar["machines"],
        "files": len(csv),
        "csv_mb": sum(p.stat().st_size for p in csv) / 1024**2,
        "generate_s": round(gen_s, 2),
        "defects": sidecar["defects"],
        "expected_quarantined_rows": sidecar["expected_quarantined_rows"],
        "machine": machine,
        "commands": {k: _shown(v) for k, v in commands(Path("<tmp>"), before).items() if k in runs},
        "runs": {k: v.as_dict() | {"ok": v.ok} for k, v in runs.items()},
        "checks": checks(root, runs, sidecar, env, before),
    }
    if "moshu" in runs:
        stages = _json_of([sys.executable, str(BENCH / "stage_times.py"), str(root / "warehouse")], env) or {}
        result["moshu_stages_s"] = stages
        result["moshu_outside_steps_s"] = round(runs["moshu"].wall_s - sum(stages.values()), 2)
    for key, summary in (("ge_timings_s", root / "out" / "ge.json"), ("pp_timings_s", root / "out" / "pp" / "summary.json")):
        if summary.exists():
            result[key] = json.loads(summary.read_text(encoding="utf-8")).get("timings_s")
    result["targets"] = report.targets(result)
    for m in result["runs"].values():
        m["log"] = Path(m["log"]).name
    return result


def main() -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000], help="sizes to run")
    ap.add_argument("--only", nargs="+", choices=ENGINES + OPTIONAL, default=list(ENGINES), help="engines to run")
    ap.add_argument("--keep", action="store_true", help="keep each size's temporary folder (data, outputs, logs)")
    ap.add_argument("--machines", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=1200, help="seconds after which a measured command is killed")
    ap.add_argument("--workdir", type=Path, default=None, help="where the temporary folders go (default: system temp)")
    ap.add_argument("--results", type=Path, default=BENCH / "results", help="folder of the JSON and Markdown results")
    ap.add_argument(
        "--before", type=Path, default=None,
        help="the `moshu` executable of another checkout (e.g. the last release): run right after this one's moshu on "
        "the same data, into its own warehouse, checked the same way, so a change's cost shows side by side",
    )  # fmt: skip
    args = ap.parse_args()
    machine = report.machine()
    console.print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB, Python {machine['python']}")
    results, t0 = [], time.perf_counter()
    for rows in args.rows:
        result = run_size(rows, args, machine)
        results.append(result)
        report.show(result, console)
        js, md = report.save(result, args.results)
        console.print(f"  saved {js.relative_to(Path.cwd()) if js.is_relative_to(Path.cwd()) else js} and {md.name}")
    run_md = report.save_run(results, args.results, time.perf_counter() - t0)
    console.print(f"the run's sizes side by side: {run_md.name}")


if __name__ == "__main__":
    main()
