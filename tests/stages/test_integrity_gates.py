"""X-1 and U-1 as hard gates on a real run: a damaged file or rows without lineage leave the version uncertified."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from pipelines.catalog.client import CatalogClient
from pipelines.ingest.readers import SOURCE_FILE, SOURCE_ROW
from pipelines.stages.ingest import ROW_ID
from pipelines.storage.delta import PUBLISHED, of_table
from pipelines.warehouse import Warehouse
from tests.conftest import build

publish_module = importlib.import_module("pipelines.stages.publish")
DATA = "{data}"  # the published file as the manifest names it (`../published/v1/part-00000-<token>.parquet`)


def _flip_a_data_page(path: Path) -> None:
    """Flip one bit in the middle of the `spindle_speed_rpm` data pages: the page still decodes, into other values."""
    md = pq.ParquetFile(path).metadata.row_group(0)
    c = next(md.column(j) for j in range(md.num_columns) if md.column(j).path_in_schema == "spindle_speed_rpm")
    start = c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset
    data = bytearray(path.read_bytes())
    data[c.data_page_offset + (start + c.total_compressed_size - c.data_page_offset) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _other_rows(path: Path) -> None:
    """A valid Parquet file with as many rows and the same columns, one value changed."""
    df = pl.read_parquet(path)
    changed = pl.int_range(pl.len()) == 10
    df.with_columns(pl.when(changed).then(pl.col("spindle_speed_rpm") + 1).otherwise(pl.col("spindle_speed_rpm"))).write_parquet(
        path
    )


def _data_file(m: dict[str, Any]) -> str:
    """The path of a single-file version's published file, as its manifest names it."""
    (data,) = [f["path"] for f in m["files"] if of_table(f["path"], PUBLISHED)]
    return str(data)


def _after_write(monkeypatch: pytest.MonkeyPatch, damage: Callable[[Path], None]) -> None:
    """Damage the published file once the writer has written it and recorded its evidence."""
    real = publish_module.write_rows

    def write_rows(loaded: Any, v: Any, folder: Path, data: str, quarantine: str) -> Any:
        rows = real(loaded, v, folder, data, quarantine)
        damage(folder / data)
        return rows

    monkeypatch.setattr(publish_module, "write_rows", write_rows)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "found"),
    [
        (
            _flip_a_data_page,
            f"{DATA}: content digest of the decoded rows differs from the one taken at write; "
            "sha256 differs from the one recorded at write",
        ),
        (_truncate, f"{DATA}: does not open as Parquet ("),
        (
            _other_rows,
            f"{DATA}: content digest of the decoded rows differs from the one taken at write; "
            "sha256 differs from the one recorded at write",
        ),
    ],
    ids=["flipped-byte", "truncated", "other-rows"],
)
def test_a_damaged_file_fails_x1_and_is_never_published(
    project_dir: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, damage: Callable[[Path], None], found: str
) -> None:
    _after_write(monkeypatch, damage)
    pub = build(project_dir, warehouse, ["cnc_line"])["cnc_line"]  # no traceback: a rejected candidate
    # cnc_line sets no min_level: a version whose files do not read back is rejected whatever its level.
    assert (pub.version, pub.status, pub.level) == (1, "rejected", "uncertified")
    m = warehouse.manifest("cnc_line", 1)
    data = _data_file(m)
    assert data.startswith("../published/v1/part-00000-") and data.endswith(".parquet")
    found = found.format(data=data)
    x1 = f"gate moshu.accessibility (X-1) fails: {found}"
    if damage is _truncate:  # nor can the lineage be read: U-1 fails too, and says so
        assert pub.failed_gates == ("moshu.auditability (U-1)", "moshu.accessibility (X-1)")
        assert pub.reasons[:2] == (
            "uncertified: 2 hard gate(s) fail",
            f"gate moshu.auditability (U-1) fails: lineage unreadable in {Path(data).name} (ComputeError)",
        )
        assert pub.reasons[2].startswith(x1), pub.reasons
    else:  # the rows decode, and every one has its lineage
        assert pub.failed_gates == ("moshu.accessibility (X-1)",)
        assert pub.reasons[0] == "uncertified: 1 hard gate(s) fail" and pub.reasons[1].startswith(x1), pub.reasons
    (x1,) = [r for r in m["quality"]["measures"] if r["clause"] == "X-1"]
    assert (x1["a"], x1["b"], x1["gate_passed"]) == (1, 2, False) and x1["detail"].startswith(found)
    assert m["profile"] is None and m["demands"] == []  # not measured on files that do not read back
    assert (warehouse.version_dir("cnc_line", 1) / m["report"]).is_file()
    assert warehouse.latest("cnc_line") is None and warehouse.latest_candidate("cnc_line") == 1
    with CatalogClient(warehouse.root) as c:
        assert c.rows("select status, level from versions where name = 'cnc_line'") == [("rejected", "uncertified")]
        (detail,) = c.rows("select detail from measures where name = 'cnc_line' and rule_id = 'moshu.accessibility'")
    assert detail[0].startswith(found)  # the catalog's record of the measure says what X-1 found


@pytest.mark.slow
def test_rows_without_lineage_fail_u1(project_dir: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    real = publish_module.write_rows

    def write_rows(loaded: Any, v: Any, folder: Path, data: str, quarantine: str) -> Any:
        staged = pl.read_parquet(v.ingested.staged)
        lost_file, lost_row = pl.col(ROW_ID).is_in([0, 1, 2]), pl.col(ROW_ID).is_in([2, 3])
        staged.with_columns(
            pl.when(lost_file).then(None).otherwise(pl.col(SOURCE_FILE)).alias(SOURCE_FILE),
            pl.when(lost_row).then(None).otherwise(pl.col(SOURCE_ROW)).alias(SOURCE_ROW),
        ).write_parquet(v.ingested.staged)
        return real(loaded, v, folder, data, quarantine)

    monkeypatch.setattr(publish_module, "write_rows", write_rows)
    pub = build(project_dir, warehouse, ["steel_plates_faults"])["steel_plates_faults"]
    # The files read back as written (X-1 holds); four published rows have no full lineage.
    assert (pub.status, pub.level, pub.failed_gates) == ("rejected", "uncertified", ("moshu.auditability (U-1)",))
    m = warehouse.manifest("steel_plates_faults", 1)
    assert pub.reasons[1] == (
        f"gate moshu.auditability (U-1) fails: 4 of 1,941 published rows lack lineage in {Path(_data_file(m)).name} "
        "(3 without _source_file, 2 without _source_row)"
    )
    (u1,) = [r for r in m["quality"]["measures"] if r["clause"] == "U-1"]
    (x1,) = [r for r in m["quality"]["measures"] if r["clause"] == "X-1"]
    assert (u1["a"], u1["b"], u1["gate_passed"]) == (1_937, 1_941, False) and x1["gate_passed"] is True
    assert m["profile"]["rows"] == 1_941  # the files read back, so the version is still profiled


@pytest.mark.slow
def test_a_damaged_partition_fails_x1_for_the_whole_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.runner import run_dataset
    from pipelines.spec.loader import load_project
    from tests.partitions.daily import NAME, daily_project

    partitions_module = importlib.import_module("pipelines.stages.publish_partitions")
    real = partitions_module.write_rows

    def write_rows(loaded: Any, v: Any, folder: Path, data: str, quarantine: str) -> Any:
        rows = real(loaded, v, folder, data, quarantine)
        if v.ingested.partition == "2026-03-03":
            _other_rows(folder / data)
        return rows

    monkeypatch.setattr(partitions_module, "write_rows", write_rows)
    root = daily_project(tmp_path / "project", days=2)
    wh = Warehouse(tmp_path / "wh")
    pub = run_dataset(load_project(root).datasets[NAME], root, wh, partitions=["2026-03-02", "2026-03-03"])
    assert (pub.status, pub.level, pub.failed_gates) == ("rejected", "uncertified", ("moshu.accessibility (X-1)",))
    m = wh.manifest(NAME, 1)
    (x1,) = [r for r in m["quality"]["measures"] if r["clause"] == "X-1"]
    assert (x1["a"], x1["b"]) == (3, 4)  # two partitions, a data and a quarantine file each; one does not read back
    (data,) = [
        f["path"] for p in m["partitions"] if p["key"] == "2026-03-03" for f in p["files"] if of_table(f["path"], PUBLISHED)
    ]
    assert x1["detail"] == (
        f"2026-03-03: {data}: content digest of the decoded rows differs from the one taken at write; "
        "sha256 differs from the one recorded at write"
    )
    assert pub.reasons[1] == f"gate moshu.accessibility (X-1) fails: {x1['detail']}"
    assert wh.latest(NAME) is None
