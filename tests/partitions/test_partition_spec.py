"""Mistakes in a `partitions` block are spec errors with the file, the line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import SpecError
from pipelines.spec.loader import load_project
from tests.partitions.daily import NAME, daily_project


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return daily_project(tmp_path / "project", days=1) / "dataset_specs" / f"{NAME}.yaml"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  column: ts\n", "  column: tss\n", "`partitions.column` names unknown column `tss`"),
        ("  column: ts\n", "  column: status\n", "`partitions.column` `status` is string"),
        (
            '  start: "2026-03-01"\n',
            '  start: "01.03.2026"\n',
            "`start`: `01.03.2026` is not a daily partition key; write it like `2026-03-02`",
        ),
        ("  granularity: daily\n", "  granularity: weekly\n", "daily"),
        ("path_pattern: 'cnc_(", "path_pattern: 'cnc_(x)(", "needs exactly one group"),
        ("primary_key: [machine_id, ts]", "primary_key: [machine_id, status]", "must include the partition column `ts`"),
        ("partitions:\n", 'schedule: "0 2 * * *"\npartitions:\n', "scheduled per partition"),
        ("role: timestamp,", "timezone: Asia/Shanghai, role: timestamp,", "declares `timezone: Asia/Shanghai`"),
        ('  granularity: daily\n  start: "2026-03-01"\n', '  granularity: hourly\n  start: "2026-03-01-00:00"\n', "add `%H`"),
        ("name: cnc_daily\n", "name: cnc__daily\n", "use single `_`"),
    ],
)
def test_partition_mistakes_are_spec_errors(spec: Path, old: str, new: str, message: str) -> None:
    text = spec.read_text(encoding="utf-8")
    assert old in text, old
    spec.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_project(spec.parent.parent)
    issues = [i for i in info.value.issues if i.file == f"dataset_specs/{NAME}.yaml"]
    assert issues and message in issues[0].message and issues[0].line
