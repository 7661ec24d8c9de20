"""Load `dataset_specs/demands/*.yaml` and cross-check each demand against its dataset's spec."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pipelines.errors import SpecIssue
from pipelines.models.demand import Demand
from pipelines.paths import relative
from pipelines.spec.models import NUMERIC_DTYPES, TIME_DTYPES, DatasetSpec
from pipelines.spec.selectors import SelectionContext, lenient, selection_context
from pipelines.spec.yaml_marks import Located

DEMANDS_DIR = "demands"


def demand_paths(spec_dir: Path) -> list[Path]:
    """Demand files, in name order."""
    d = spec_dir / DEMANDS_DIR
    return sorted([*d.glob("*.yaml"), *d.glob("*.yml")]) if d.is_dir() else []


def _column_issues(demand: Demand, spec: DatasetSpec, located: Located) -> list[SpecIssue]:
    names = spec.column_names
    out: list[SpecIssue] = []

    def bad(key: tuple[Any, ...], message: str, hint: str | None) -> None:
        path = ".".join(str(k) if not isinstance(k, int) else f"[{k}]" for k in key).replace(".[", "[")
        out.append(SpecIssue(located.display, *located.locate(key), path, message, hint))

    def known(col: str, key: tuple[Any, ...]) -> bool:
        if col in names:
            return True
        close = difflib.get_close_matches(col, names, n=1, cutoff=0.5)
        bad(
            key,
            f"dataset `{spec.name}` has no column `{col}`",
            f"did you mean `{close[0]}`?" if close else f"columns are: {', '.join(names)}",
        )
        return False

    for i, c in enumerate(demand.features):
        known(c, ("features", i))
    label_ok = bool(demand.label) and known(str(demand.label), ("label",))
    if label_ok and demand.task in ("regression", "forecasting") and spec.column(str(demand.label)).dtype not in NUMERIC_DTYPES:
        dtype = spec.column(str(demand.label)).dtype
        bad(("label",), f"a `{demand.task}` label must be numeric; `{demand.label}` is {dtype}", None)
    for i, c in enumerate(demand.one_hot_labels):
        known(c, ("one_hot_labels", i))
    for c in demand.strata:
        if known(c, ("strata", c)) and spec.sensitivity(c) == "personal":
            bad(("strata", c), f"`{c}` is personal: its pseudonyms would be shown in gap lists", "stratify by another column")
    for c in [*demand.label_columns, *demand.split.by]:
        if c in names and spec.sensitivity(c) == "personal":
            bad(
                ("split", "by") if c in demand.split.by else ("label",),
                f"`{c}` is personal and cannot be a label or a split key",
                None,
            )
    if (
        demand.split.column
        and known(demand.split.column, ("split", "column"))
        and spec.sensitivity(demand.split.column) == "personal"
    ):
        bad(("split", "column"), f"`{demand.split.column}` is personal and cannot name the split", None)
    for i, c in enumerate(demand.split.by):
        if (
            known(c, ("split", "by", i))
            and demand.split.method == "time"
            and spec.column(c).dtype not in TIME_DTYPES | NUMERIC_DTYPES
        ):
            bad(
                ("split", "by", i),
                f"`method: time` cuts on an ordered column; `{c}` is {spec.column(c).dtype}",
                "use a timestamp or a cycle counter",
            )
    tc = demand.time_coverage
    if tc and known(tc.column, ("time_coverage", "column")) and spec.column(tc.column).dtype not in TIME_DTYPES:
        bad(("time_coverage", "column"), f"`{tc.column}` is {spec.column(tc.column).dtype}, not a date or datetime", None)
    return out


def _parse(
    path: Path, display: str, issues: list[SpecIssue], contexts: dict[str, SelectionContext]
) -> tuple[Demand | None, Located | None]:
    """Parse one demand file; its column selectors resolve against the dataset it names."""
    from pipelines.errors import SpecError
    from pipelines.spec.issues import validate_model

    try:
        located = Located(path, display)
    except SpecError as e:
        issues.extend(e.issues)
        return None, None
    dataset = located.data.get("dataset") if isinstance(located.data, dict) else None
    ctx = contexts.get(dataset) if isinstance(dataset, str) else None
    demand, errs = validate_model(Demand, located, ctx.context() if ctx else lenient())
    issues.extend(errs)
    return demand, located


def load_demands(
    spec_dir: Path,
    root: Path,
    specs: dict[str, DatasetSpec],
    issues: list[SpecIssue],
    contexts: dict[str, SelectionContext] | None = None,
) -> dict[str, list[Demand]]:
    """Demands per dataset name; every problem goes to `issues` (file:line, key, message, hint).

    A demand on a dataset whose own spec failed to load is skipped: that spec's error is the one to fix.
    Column selectors (`features: {role: measurement}`) resolve against the dataset's entry in `contexts`
    (default: one built from `specs`, without column groups).
    """
    if contexts is None:
        contexts = {n: selection_context(s) for n, s in specs.items()}
    broken = {p.stem for p in [*spec_dir.glob("*.yaml"), *spec_dir.glob("*.yml")]} - set(specs)
    out: dict[str, list[Demand]] = {}
    seen: dict[str, str] = {}
    for path in demand_paths(spec_dir):
        display = relative(path, root)
        demand, located = _parse(path, display, issues, contexts)
        if demand is None or located is None:
            continue
        if path.stem != demand.name:
            issues.append(
                SpecIssue(
                    display,
                    *located.locate(("name",)),
                    "name",
                    f"demand file is `{path.name}` but its name is `{demand.name}`",
                    f"rename the file to `{demand.name}.yaml`",
                )
            )
        if demand.name in seen:
            issues.append(
                SpecIssue(
                    display,
                    *located.locate(("name",)),
                    "name",
                    f"demand `{demand.name}` is declared twice (also in {seen[demand.name]})",
                    None,
                )
            )
            continue
        seen[demand.name] = display
        spec = specs.get(demand.dataset)
        if spec is None and demand.dataset in broken:
            continue
        if spec is None:
            close = difflib.get_close_matches(demand.dataset, list(specs), n=1)
            issues.append(
                SpecIssue(
                    display,
                    *located.locate(("dataset",)),
                    "dataset",
                    f"no dataset `{demand.dataset}`",
                    f"did you mean `{close[0]}`?" if close else f"datasets: {', '.join(sorted(specs))}",
                )
            )
            continue
        issues.extend(_column_issues(demand, spec, located))
        out.setdefault(demand.dataset, []).append(demand)
    return out
