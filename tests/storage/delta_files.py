"""Helpers of the storage tests: seed rows as Arrow, Parquet files uploaded into a Delta table, and a committing worker process."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, CommitProperties

from pipelines.storage.objects import delta_options, join, put_file

REPO = Path(__file__).resolve().parents[2]
AI4I = REPO / "seeds" / "ai4i2020" / "ai4i2020.csv"
COLUMNS = {  # seed header -> a Delta column name (Delta refuses spaces and brackets without column mapping)
    "UDI": "udi",
    "Product ID": "product_id",
    "Type": "type",
    "Rotational speed [rpm]": "rotational_speed_rpm",
    "Torque [Nm]": "torque_nm",
    "Machine failure": "machine_failure",
}


def ai4i_rows() -> pa.Table:
    """The ai4i2020 seed's rows, with six of its columns renamed for Delta."""
    table = pacsv.read_csv(AI4I, convert_options=pacsv.ConvertOptions(include_columns=list(COLUMNS)))
    return table.rename_columns([COLUMNS[c] for c in table.column_names])


def upload(table_uri: str, rows: pa.Table, partition: dict[str, str] | None = None) -> AddAction:
    """Write `rows` as one Parquet file, put it inside the table's location, and describe it as a Delta add action.

    With `partition`, the file goes under `<col>=<value>/` and `rows` must not hold the partition columns.
    """
    folder = "/".join(f"{k}={v}" for k, v in (partition or {}).items())
    rel = f"{folder}/part-{uuid.uuid4().hex}.parquet" if folder else f"part-{uuid.uuid4().hex}.parquet"
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "rows.parquet"
        pq.write_table(rows, local)
        put_file(local, join(table_uri, rel))
        size = local.stat().st_size
    return AddAction(
        path=rel,
        size=size,
        partition_values=dict(partition or {}),
        modification_time=int(time.time() * 1000),
        data_change=True,
        stats=json.dumps({"numRecords": rows.num_rows}),
    )


def commit_rounds(uri: str, writer: str, rows: pa.Table, barrier: Barrier, go: Queue[Any], done: Queue[Any]) -> None:
    """Worker process: for each read version received on `go`, upload `rows`, wait for the other writer at `barrier`,
    then append in one commit with no retry; report `(writer, read_version, outcome, started_at, ended_at)` on `done`.

    The outcome is `ok`, `conflict` (CommitFailedError) or `error: ...`. `None` on `go` ends the worker.
    """
    options = delta_options(uri)
    while (read_version := go.get()) is not None:
        add = upload(uri, rows)
        table = DeltaTable(uri, version=read_version, storage_options=options)
        metadata = {"moshu": json.dumps({"writer": writer, "read_version": read_version, "file": add.path})}
        barrier.wait(timeout=60)
        started = time.time()
        try:
            table.create_write_transaction(
                [add],
                "append",
                rows.schema,
                commit_properties=CommitProperties(custom_metadata=metadata, max_commit_retries=0),
            )
            outcome = "ok"
        except CommitFailedError:
            outcome = "conflict"
        except Exception as e:  # reported, so that the test shows what failed in the worker
            outcome = f"error: {type(e).__name__}: {e}"
        done.put((writer, read_version, outcome, started, time.time(), add.path))
