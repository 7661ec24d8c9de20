"""The benchmark's output: the machine it ran on, a rich table in the terminal, JSON and Markdown files."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
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
    "moshu_sql": "moshu sql startup",
    "ge_pandas": "GE on pandas (validate only)",
}
HEADERS = ("engine", "ok", "wall s", "rows/s", "peak MB", "x floor (wall)", "x floor (peak)")
TARGET_RATIO, STRETCH_RATIO, TARGET_PEAK_MB, TARGET_SQL_S = 2.0, 1.5, 2048.0, 0.5


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, OS, Python, library versions and the code's git revision."""
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
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024**2, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
        "git": rev.stdout.strip() or None,
    }


def rows_of(result: dict[str, Any]) -> list[list[str]]:
    """Table rows: one per measured engine, with ratios to the DuckDB floor."""
    runs: dict[str, dict[str, Any]] = result["runs"]
    floor = runs.get("duckdb")
    out = []
    for engine, m in runs.items():
        throughput = "-" if engine == "moshu_sql" or not m["ok"] else f"{result['rows'] / m['wall_s']:,.0f}"
        ratio = peak = "-"
        if floor is not None and floor["ok"] and m["ok"] and engine != "moshu_sql":
            ratio, peak = f"{m['wall_s'] / floor['wall_s']:.2f}", f"{m['peak_rss_mb'] / floor['peak_rss_mb']:.2f}"
        ok = "yes" if m["ok"] else f"no ({m['returncode']})"
        out.append([LABELS.get(engine, engine), ok, f"{m['wall_s']:.2f}", throughput, f"{m['peak_rss_mb']:,.0f}", ratio, peak])
    return out


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, measured (they are stated for 10M rows; shown at every size)."""
    runs = result["runs"]
    out: list[dict[str, Any]] = []
    moshu, floor, sql = runs.get("moshu"), runs.get("duckdb"), runs.get("moshu_sql")
    if moshu and floor and moshu["ok"] and floor["ok"]:
        ratio = moshu["wall_s"] / floor["wall_s"]
        out.append(
            {"target": f"end-to-end <= {TARGET_RATIO}x DuckDB floor", "value": round(ratio, 2), "met": ratio <= TARGET_RATIO}
        )
        out.append({"target": f"stretch: <= {STRETCH_RATIO}x", "value": round(ratio, 2), "met": ratio <= STRETCH_RATIO})
    if moshu:
        peak = moshu["peak_rss_mb"]
        out.append({"target": f"peak memory <= {TARGET_PEAK_MB:.0f} MB", "value": round(peak), "met": peak <= TARGET_PEAK_MB})
    if sql:
        out.append(
            {
                "target": f"moshu sql startup < {TARGET_SQL_S} s",
                "value": round(sql["wall_s"], 2),
                "met": sql["wall_s"] < TARGET_SQL_S,
            }
        )
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
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}, Python {m['python']}; "
        f"code {m['git']}. Libraries: {libs}.",
        "",
        f"Data: {result['rows']:,} rows, {result['machines']} machines, {result['files']} CSV files, "
        f"{result['csv_mb']:,.0f} MB (generated in {result['generate_s']:.1f} s, not timed). "
        f"Injected defects: {json.dumps(result['defects'])}.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" for _ in HEADERS) + "|",
        *("| " + " | ".join(r) + " |" for r in rows_of(result)),
        "",
        "| target | value | met |",
        "|---|---|---|",
        *(f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'no'} |" for t in result["targets"]),
    ]
    if result.get("moshu_stages_s"):
        steps = ", ".join(f"`{k}` {v:.1f}" for k, v in result["moshu_stages_s"].items())
        outside = result.get("moshu_outside_steps_s", 0)
        lines += ["", f"moshu stages (Dagster steps, s): {steps}; outside the steps (start-up, Dagster, summary): {outside:.1f}."]
    if result.get("ge_timings_s"):
        lines += ["", "GE baseline steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result["ge_timings_s"].items()) + "."]
    lines += ["", "| subject | check | expected | actual | ok |", "|---|---|---|---|---|"]
    lines += [
        f"| {c['subject']} | {c['check']} | {c['expected']} | {c['actual']} | {'yes' if c['ok'] else 'no'} |"
        for c in result["checks"]
    ]
    return "\n".join(lines) + "\n"


def size_label(rows: int) -> str:
    """1000000 -> '1m', 100000 -> '100k'."""
    for div, suffix in ((1_000_000_000, "b"), (1_000_000, "m"), (1_000, "k")):
        if rows % div == 0:
            return f"{rows // div}{suffix}"
    return str(rows)


def save(result: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write `<date>_<size>.json` and `.md` into `folder`; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{result['date']}_{size_label(result['rows'])}"
    js, md = folder / f"{stem}.json", folder / f"{stem}.md"
    js.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md.write_text(markdown(result), encoding="utf-8")
    return js, md


def today() -> str:
    """The run's date, for file names."""
    return datetime.now().strftime("%Y-%m-%d")
