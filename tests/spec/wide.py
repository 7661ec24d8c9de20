"""A project around the wide sensor matrices of `tests/cases/` (520 anonymous sensors), for the group and selector tests."""

from __future__ import annotations

import shutil
from pathlib import Path

CASES = Path(__file__).resolve().parents[1] / "cases"
CLASSIFICATION = """classification: {grade: general, domain: production, cdo: c, retention: P1Y, default_sensitivity: public}"""

SPEC = f"""name: fab
title: Fab sensor matrix
description: 520 anonymous sensors of a fab line, a pass/fail label per lot.
owner: fab team
{CLASSIFICATION}
source: {{format: csv, path: raw/*.csv}}
columns:
  - {{name: ts, source: timestamp, dtype: datetime, format: "%Y-%m-%d %H:%M:%S", role: timestamp}}
  - {{name: pass_fail, dtype: int8, role: label}}
columns_from:
  - id: sensors
    pattern: '^\\d+$'
    name: 's{{:03d}}'
    dtype: float64
    role: measurement
rules: [quality_rules/fab.yaml]
"""

RULES = """rules:
  - id: fab.sensors.complete
    kind: record_completeness
    columns: {role: measurement, exclude: [s007]}
    severity: warn
  - id: fab.label.set
    kind: in_set
    column: pass_fail
    values: [-1, 1]
  - id: fab.no_repeats
    kind: duplicate_records
    columns: {group: sensors}
  - id: fab.sensors.informative
    kind: informative_features
    columns: {pattern: 's*', dtype: float64}
"""

DEMAND = """name: fab_yield
dataset: fab
title: Lot pass/fail from the sensors
team: yield
task: classification
label: pass_fail
features: {group: sensors, exclude: [s007]}
split: {method: random, seed: 1}
"""

HEADERLESS = f"""name: fab_raw
title: Fab sensor matrix, headerless
description: The same sensors exported without a header, space-delimited.
owner: fab team
{CLASSIFICATION}
source:
  format: csv
  path: raw/*.txt
  csv: {{header: false, delimiter: whitespace, null_values: [NaN]}}
columns_from:
  - {{positions: '1-520', name: 's{{:03d}}', dtype: float64, role: measurement}}
"""


def wide_project(root: Path, *, spec: str = SPEC, rules: str = RULES, demand: str | None = DEMAND) -> Path:
    """A project at `root`: the `fab` spec, its rule file and demand, and `wide_sensors.csv` under `raw/`."""
    (root / "dataset_specs" / "demands").mkdir(parents=True)
    (root / "quality_rules").mkdir()
    (root / "raw").mkdir()
    shutil.copy(CASES / "wide_sensors.csv", root / "raw" / "wide_sensors.csv")
    (root / "dataset_specs" / "fab.yaml").write_text(spec, encoding="utf-8")
    (root / "quality_rules" / "fab.yaml").write_text(rules, encoding="utf-8")
    if demand is not None:
        (root / "dataset_specs" / "demands" / "fab_yield.yaml").write_text(demand, encoding="utf-8")
    return root


def headerless_project(root: Path) -> Path:
    """A project at `root` reading `wide_headerless.txt` with a `positions` group."""
    (root / "dataset_specs").mkdir(parents=True)
    (root / "raw").mkdir()
    shutil.copy(CASES / "wide_headerless.txt", root / "raw" / "wide_headerless.txt")
    (root / "dataset_specs" / "fab_raw.yaml").write_text(HEADERLESS, encoding="utf-8")
    return root
