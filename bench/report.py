"""The benchmark's output: the machine it ran on, a rich table in the terminal, JSON and Markdown files."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

LIBRARIES = ("moshu", "polars", "duckdb", "pyarrow", "pandas", "numpy", "great_expectations", "pandera", "dagster")
LABELS = {
    "duckdb": "DuckDB COPY (floor)",
    "polars": "polars sink_parquet",
    "moshu": "moshu run (end to end)",
    "moshu_before": "moshu run, the checkout given by --before",
    "moshu_sql": "moshu sql startup",
    "polars_pandera": "polars + pandera by hand",
    "polars_pandera_lazy": "polars + pandera by hand, on the scan (--lazy)",
    "ge_pandas": "GE on pandas (validate only)",
}
HEADERS = (
    "engine", "ok", "wall s", "CPU s", "rows/s", "peak MB", "all processes MB", "x floor (wall)", "x floor (CPU)",
    "x floor (peak)", "load",
)  # fmt: skip
"""The table's columns; `load` is the machine's 1-minute load average just before the engine started."""
COLUMNS_NOTE = (
    "Each engine is its own process. CPU s: user + system seconds of the process and the children it waited for, all "
    "threads. Peak: the kernel's `ru_maxrss` (the largest single process). All processes: the command's and its "
    "descendants' resident memory summed, sampled every 50 ms (moshu run validates with Great Expectations in a "
    "worker process). load: the machine's 1-minute load average just before the engine started. Ratios are to the "
    "DuckDB floor of the same run and size."
)
RUN_COLUMNS = ("wall s", "x floor (wall)", "CPU s", "x floor (CPU)", "peak MB", "all processes MB", "load")
"""The columns of each size in the run's side-by-side table."""
# The targets of "Fast feedback and a real lead": at 10M rows moshu at most the hand-built polars + pandera time
# (stretch: 2x the floor), at 1M at most twice it; peak memory at most 1 GB at 10M and above; `moshu sql` under 0.5 s;
# a 10,000-row run end to end under 3 s.
STRETCH_RATIO, TARGET_PEAK_MB, TARGET_SQL_S, TARGET_SMALL_S, SMALL_ROWS = 2.0, 1024.0, 0.5, 3.0, 10_000


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """CPU model, cores this process may use (as `nproc` counts them), RAM, OS, Python, library versions, git revision."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in _read("/proc/cpuinfo").splitlines() if ln.startswith("model name")), "")
    mem_kb = next((int(ln.split()[1]) for ln in _read("/proc/meminfo").splitlines() if ln.startswith("MemTotal")), 0)
    versions: dict[str, str | None] = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            versions[lib] = None
    rev = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=Path(__file__).parent)
    return {
        "cpu": cpu or platform.processor(),
        "cores": len(os.sched_getaffinity(0)),
        "ram_gb": round(mem_kb / 1024**2, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
        "git": rev.stdout.strip() or None,
    }


def cells_of(result: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Engine -> its formatted figures (keys of HEADERS), with ratios to the DuckDB floor; '-' where none applies.

    Old results have no CPU time or load; those cells show '-'.
    """
    runs: dict[str, dict[str, Any]] = result["runs"]
    floor = runs.get("duckdb")
    out: dict[str, dict[str, str]] = {}
    for engine, m in runs.items():
        cpu = m.get("cpu_s")
        row = dict.fromkeys(HEADERS, "-") | {
            "engine": LABELS.get(engine, engine),
            "ok": "yes" if m["ok"] else f"no ({m['returncode']})",
            "wall s": f"{m['wall_s']:.2f}",
            "CPU s": "-" if cpu is None else f"{cpu:.2f}",
            "peak MB": f"{m['peak_rss_mb']:,.0f}",
            "all processes MB": "-" if m.get("peak_tree_mb") is None else f"{m['peak_tree_mb']:,.0f}",
            "load": "-" if m.get("load_before") is None else f"{m['load_before']:.1f}",
        }
        if m["ok"] and engine != "moshu_sql":
            row["rows/s"] = f"{result['rows'] / m['wall_s']:,.0f}"
        if floor is not None and floor["ok"] and m["ok"] and engine != "moshu_sql":
            row["x floor (wall)"] = f"{m['wall_s'] / floor['wall_s']:.2f}"
            row["x floor (peak)"] = f"{m['peak_rss_mb'] / floor['peak_rss_mb']:.2f}"
            if cpu is not None and floor.get("cpu_s"):
                row["x floor (CPU)"] = f"{cpu / floor['cpu_s']:.2f}"
        out[engine] = row
    return out


def rows_of(result: dict[str, Any]) -> list[list[str]]:
    """Table rows: one per measured engine, in HEADERS order."""
    return [[row[h] for h in HEADERS] for row in cells_of(result).values()]


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets that apply at this size, measured; the memory one counts every process of the run."""
    runs, rows = result["runs"], result["rows"]
    out: list[dict[str, Any]] = []
    moshu, floor, sql, hand = runs.get("moshu"), runs.get("duckdb"), runs.get("moshu_sql"), runs.get("polars_pandera")

    def add(target: str, value: float, met: bool) -> None:
        out.append({"target": target, "value": round(value, 2), "met": met})

    if moshu and moshu["ok"]:
        if hand and hand["ok"] and rows >= 1_000_000:
            limit = 1.0 if rows >= 10_000_000 else 2.0
            ratio = moshu["wall_s"] / hand["wall_s"]
            add(f"end to end <= {limit:g}x the polars + pandera pipeline by hand", ratio, ratio <= limit)
        if floor and floor["ok"] and rows >= 10_000_000:
            ratio = moshu["wall_s"] / floor["wall_s"]
            add(f"stretch: <= {STRETCH_RATIO:g}x the DuckDB floor", ratio, ratio <= STRETCH_RATIO)
        if rows >= 10_000_000:
            peak = moshu.get("peak_tree_mb") or moshu["peak_rss_mb"]
            add(f"peak memory, all processes, <= {TARGET_PEAK_MB:.0f} MB", peak, peak <= TARGET_PEAK_MB)
        if rows <= SMALL_ROWS:
            add(f"end to end < {TARGET_SMALL_S:g} s", moshu["wall_s"], moshu["wall_s"] < TARGET_SMALL_S)
    if sql and sql["ok"]:
        add(f"moshu sql startup < {TARGET_SQL_S} s", sql["wall_s"], sql["wall_s"] < TARGET_SQL_S)
    return out


def show(result: dict[str, Any], console: Console) -> None:
    """Print the results table, the targets, stage timings and any failed check."""
    table = Table(title=f"{result['rows']:,} rows, {result['csv_mb']:,.0f} MB of CSV in {result['files']} files")
    for h in HEADERS:
        table.add_column(h, justify="left" if h in ("engine", "ok") else "right")
    for row in rows_of(result):
        table.add_row(*row)
    console.print(table)
    for t in result["targets"]:
        console.print(f"  {'met ' if t['met'] else 'MISS'}  {t['target']}: {t['value']}")
    if result.get("moshu_stages_s"):
        stages = ", ".join(f"{k.split('__')[-1]} {v:.1f}" for k, v in result["moshu_stages_s"].items())
        console.print(f"  moshu stages (s): {stages}; outside the steps: {result.get('moshu_outside_steps_s', 0):.1f}")
    bad = [c for c in result["checks"] if not c["ok"]]
    console.print(f"  checks: {len(result['checks']) - len(bad)} of {len(result['checks'])} hold")
    for c in bad:
        console.print(f"  [red]check failed[/red] {c['subject']}: {c['check']}: expected {c['expected']}, got {c['actual']}")


def markdown(result: dict[str, Any]) -> str:
    """The result as Markdown: machine, table, targets, stages, checks."""
    m = result["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v)
    lines = [
        f"# moshu benchmark, {result['rows']:,} rows ({result['date']})",
        "",
        f"Machine: {machine_line(m)}. Libraries: {libs}.",
        "",
        f"Data: {result['rows']:,} rows, {result['machines']} machines, {result['files']} CSV files, "
        f"{result['csv_mb']:,.0f} MB (generated in {result['generate_s']:.1f} s, not timed). "
        f"Injected defects: {json.dumps(result['defects'])}.",
        "",
        *_table(HEADERS, rows_of(result)),
        "",
        COLUMNS_NOTE,
        "",
        "| target | value | met |",
        "|---|---|---|",
        *(f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'no'} |" for t in result["targets"]),
    ]
    if result.get("moshu_stages_s"):
        steps = ", ".join(f"`{k}` {v:.1f}" for k, v in result["moshu_stages_s"].items())
        outside = result.get("moshu_outside_steps_s", 0)
        lines += ["", f"moshu stages (Dagster steps, s): {steps}; outside the steps (start-up, Dagster, summary): {outside:.1f}."]
    for key, name in (("pp_timings_s", "polars + pandera steps"), ("ge_timings_s", "GE baseline steps")):
        if result.get(key):
            lines += ["", f"{name} (s, inside the process): " + ", ".join(f"{k} {v:.1f}" for k, v in result[key].items()) + "."]
    lines += ["", "| subject | check | expected | actual | ok |", "|---|---|---|---|---|"]
    lines += [
        f"| {c['subject']} | {c['check']} | {c['expected']} | {c['actual']} | {'yes' if c['ok'] else 'no'} |"
        for c in result["checks"]
    ]
    return "\n".join(lines) + "\n"


def _table(head: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table's lines: the header, its rule, one line per row."""
    return [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
        *("| " + " | ".join(r) + " |" for r in body),
    ]


def size_label(rows: int) -> str:
    """1000000 -> '1m', 100000 -> '100k'."""
    for div, suffix in ((1_000_000_000, "b"), (1_000_000, "m"), (1_000, "k")):
        if rows % div == 0:
            return f"{rows // div}{suffix}"
    return str(rows)


def _rev(result: dict[str, Any]) -> str:
    return str(result["machine"]["git"] or "nogit")


def machine_line(m: dict[str, Any]) -> str:
    """The machine in one sentence: CPU model, cores, RAM, OS, Python, the code's revision."""
    return f"{m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}, Python {m['python']}; code {m['git']}"


def save(result: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write `<date>_<size>_<rev>.json` and `.md` into `folder`; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{result['date']}_{size_label(result['rows'])}_{_rev(result)}"
    js, md = folder / f"{stem}.json", folder / f"{stem}.md"
    js.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md.write_text(markdown(result), encoding="utf-8")
    return js, md


def run_markdown(results: list[dict[str, Any]], total_s: float) -> str:
    """Every size of one run side by side: each engine's wall time, CPU time and peak RSS, and their ratios to the floor."""
    sizes = [f"{r['rows'] // 1_000_000}M" if r["rows"] % 1_000_000 == 0 else f"{r['rows']:,}" for r in results]
    head = ["engine"] + [f"{size} {c}" for size in sizes for c in RUN_COLUMNS]
    engines = list(dict.fromkeys(e for r in results for e in r["runs"]))
    cells = [cells_of(r) for r in results]
    body = []
    for engine in engines:
        row = [next(c[engine]["engine"] for c in cells if engine in c)]
        for c in cells:
            if engine not in c or c[engine]["ok"] != "yes":
                row += ["-" if engine not in c else c[engine]["ok"]] + ["-"] * (len(RUN_COLUMNS) - 1)
            else:
                row += [c[engine][k] for k in RUN_COLUMNS]
        body.append(row)
    checks = "; ".join(
        f"{s}: {sum(c['ok'] for c in r['checks'])} of {len(r['checks'])} checks hold" for s, r in zip(sizes, results, strict=True)
    )
    return "\n".join([
        f"# moshu benchmark run ({results[0]['date']}): {', '.join(sizes)} rows",
        "",
        f"Machine: {machine_line(results[0]['machine'])}.",
        "",
        *_table(head, body),
        "",
        COLUMNS_NOTE,
        "",
        f"The whole run (data generation, every engine, the checks) took {total_s / 60:.1f} min.",
        "",
        f"{checks}. Each size's details: " + ", ".join(f"`{r['date']}_{size_label(r['rows'])}_{_rev(r)}.md`" for r in results) + ".",
    ]) + "\n"  # fmt: skip


def save_run(results: list[dict[str, Any]], folder: Path, total_s: float) -> Path:
    """Write `<date>_<rev>_run.md`: every size of the run side by side and its total time; return its path."""
    path = folder / f"{results[0]['date']}_{_rev(results[0])}_run.md"
    path.write_text(run_markdown(results, total_s), encoding="utf-8")
    return path


def today() -> str:
    """The run's date, for file names."""
    return datetime.now().strftime("%Y-%m-%d")
