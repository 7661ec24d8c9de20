"""Write the raw-file cases of `tests/cases/`: real-looking factory exports with the quirks ingest must handle.

Run from the repository root (`.venv/bin/python tests/cases/make_cases.py`); the output is deterministic,
and `tests/ingest/test_cases.py` checks that the committed files are exactly what this script writes.
See `tests/cases/README.md` for what each file shows.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The invalid bytes planted in `gbk_invalid_bytes.csv`: 0xFF is never a GBK byte.
GBK_BAD_BYTES = b"\xff\xfe"


def _csv(rows: list[list[str]], sep: str = ",", eol: str = "\n") -> str:
    return "".join(sep.join(r) + eol for r in rows)


def mes_gbk() -> bytes:
    """A Chinese MES export in GBK with CRLF endings: Chinese headers, units in brackets, Chinese values."""
    rows = [["设备编号", "时间", "主轴转速[rpm]", "温度 [°C]", "班组", "备注"]]
    notes = ["", "正常", "主轴异响", "", "换刀", "冷却液不足", "", "正常", "", "待检", "", "正常"]
    for i in range(12):
        rows.append(
            [
                f"CNC-{i % 3 + 1:02d}",
                f"2024-03-01 08:{i * 5:02d}:00",
                str(1200 + i * 15),
                f"{35.5 + i * 0.4:.1f}",
                ["甲班", "乙班", "丙班"][i % 3],
                notes[i],
            ]
        )
    return _csv(rows, eol="\r\n").encode("gbk")


def gbk_invalid_bytes() -> bytes:
    """The MES export, cut short, with two bytes no GBK text contains in the 4th data row (its line 5)."""
    good = mes_gbk().split(b"\r\n")
    row = good[4].replace("甲班".encode("gbk"), "甲".encode("gbk") + GBK_BAD_BYTES)
    return b"\r\n".join([*good[:4], row, *good[5:8]]) + b"\r\n"


def plc_cr_only() -> bytes:
    """A PLC cycle log with old-Mac CR-only line endings (polars alone would see one line)."""
    rows = [["Timestamp", "Station", "Cycle time [s]", "Pressure [bar]"]]
    start = dt.datetime(2024, 3, 4, 6, 0, 0)
    for i in range(20):
        ts = start + dt.timedelta(seconds=42 * i)
        rows.append([f"{ts:%Y-%m-%d %H:%M:%S}", f"ST{i % 4 + 10}", f"{41.8 + (i % 5) * 0.1:.1f}", f"{6.2 + (i % 3) * 0.05:.2f}"])
    return _csv(rows, eol="\r").encode("ascii")


def lab_decimal_comma() -> bytes:
    """A German lab export: `;` delimiter, decimal comma, a quoted remark containing `;`, CRLF endings."""
    rows = [
        ["Probe", "Datum", "Härte [HRC]", "Zugfestigkeit [MPa]", "Bemerkung"],
        ["P-2024-001", "04.03.2024", "58,5", "1210", ""],
        ["P-2024-002", "04.03.2024", "12,5", "980,25", "weich"],
        ["P-2024-003", "05.03.2024", "61", "1302,5", '"Riss; Kante"'],
        ["P-2024-004", "05.03.2024", "59,75", "1255", ""],
        ["P-2024-005", "06.03.2024", "", "1198,0", "nachmessen"],
        ["P-2024-006", "06.03.2024", "60,1", "1240,4", ""],
    ]
    return _csv(rows, sep=";", eol="\r\n").encode("utf-8")


def historian() -> bytes:
    """A process historian export: one JSON object per line, numbers, strings, a nested object, a null."""
    start = dt.datetime(2024, 3, 5, 14, 0, 0)
    lines = []
    for i in range(10):
        rec: dict[str, object] = {
            "ts": f"{start + dt.timedelta(seconds=10 * i):%Y-%m-%dT%H:%M:%S}",
            "tag": "FIC-101.PV" if i % 2 == 0 else "TIC-204.PV",
            "value": [12.5, 81, 12.75, 80.5, 13, 80.25, None, 80.0, 12.25, 79.5][i],
            "quality": "GOOD" if i != 6 else "BAD",
        }
        if i == 3:
            rec["meta"] = {"unit": "°C", "source": "OPC-UA"}
        lines.append(json.dumps(rec, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def jsonl_bad_line() -> bytes:
    """The historian export with its 4th line cut off mid-object (a truncated write)."""
    lines = historian().decode("utf-8").splitlines()
    lines[3] = lines[3][:40]
    return ("\n".join(lines[:6]) + "\n").encode("utf-8")


def bom_utf8() -> bytes:
    """An Excel 'CSV UTF-8' export: a byte-order mark before the first header, Chinese material names."""
    rows = [
        ["Batch", "物料", "Weight [kg]"],
        ["B-0301", "冷轧钢板", "1250.5"],
        ["B-0302", "镀锌板", "980"],
        ["B-0303", "不锈钢卷", "1432.25"],
        ["B-0304", "铝板", "610.0"],
        ["B-0305", "冷轧钢板", "1248.75"],
    ]
    return b"\xef\xbb\xbf" + _csv(rows, eol="\r\n").encode("utf-8")


def trailing_space_header() -> bytes:
    """A torque-station export whose headers carry stray spaces: ` Station` and `Torque `."""
    rows = [[" Station", "Torque ", "Angle [deg]"]]
    rows += [[f"TS-{i % 2 + 1}", f"{24.0 + i * 0.3:.1f}", str(85 + i)] for i in range(6)]
    return _csv(rows).encode("utf-8")


def case_a() -> bytes:
    """One shift's spindle export, headers in mixed case."""
    rows = [["Machine", "Spindle Speed [rpm]", "Timestamp"]]
    rows += [[f"M{i + 1}", str(3000 + 50 * i), f"2024-03-06 07:{i:02d}:00"] for i in range(5)]
    return _csv(rows).encode("utf-8")


def case_b() -> bytes:
    """The next shift's export from the newer firmware: the same columns, other case."""
    rows = [["MACHINE", "spindle speed [RPM]", "TIMESTAMP"]]
    rows += [[f"M{i + 1}", str(3100 + 50 * i), f"2024-03-06 15:{i:02d}:00"] for i in range(5)]
    return _csv(rows).encode("utf-8")


def dup_header() -> bytes:
    """A tightening export with `Torque [Nm]` twice (before and after the final step), a classic."""
    rows = [["Station", "Torque [Nm]", "Angle [deg]", "Torque [Nm]"]]
    rows += [[f"TS-{i % 2 + 1}", f"{18.0 + i:.1f}", str(60 + 5 * i), f"{24.0 + i * 0.5:.1f}"] for i in range(6)]
    return _csv(rows).encode("utf-8")


def ragged_row() -> bytes:
    """A maintenance log whose 5th data row (line 6) has an unquoted comma in the technician's name."""
    rows = [["Work order", "Machine", "Technician", "Hours"]]
    rows += [
        ["WO-7701", "Press 2", "Wang Fang", "1.5"],
        ["WO-7702", "Press 2", "Zhang Wei", "0.75"],
        ["WO-7703", "Lathe 4", '"Liu, Yang"', "2"],
        ["WO-7704", "Lathe 4", "Chen Jie", "1"],
        ["WO-7705", "Mill 1", "Li, Wei", "3.25"],
        ["WO-7706", "Mill 1", "Zhao Lei", "0.5"],
    ]
    return _csv(rows).encode("utf-8")


def qc_report(path: Path) -> None:
    """An inspection workbook: a title row, a blank row, the header in Excel row 3, a spacer row, a 2nd sheet."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"title": "Final inspection", "author": "QC line 3", "created": dt.datetime(2024, 3, 8, 17, 0)})
    when = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    ws = wb.add_worksheet("Inspection")
    ws.write(0, 0, "Final inspection, line 3, week 10 (终检记录)")
    ws.write_row(2, 0, ["Batch", "Inspected at", "Torque [Nm]", "Parts", "Result", "检验员"])
    data = [
        ("B-1001", dt.datetime(2024, 3, 4, 8, 15), 24.5, 120, "OK", "王芳"),
        ("B-1002", dt.datetime(2024, 3, 4, 10, 40), 23.75, 118, "OK", "李伟"),
        ("B-1003", dt.datetime(2024, 3, 4, 13, 5), 26.0, 120, "NG", "王芳"),
        None,  # a spacer row between shifts
        ("B-1004", dt.datetime(2024, 3, 5, 8, 20), 24.25, 121, "OK", "张敏"),
        ("B-1005", dt.datetime(2024, 3, 5, 9, 55), "n/a", 0, "NG", "张敏"),
    ]
    for i, row in enumerate(data, start=3):
        if row is None:
            continue
        batch, at, torque, parts, result, inspector = row
        ws.write_string(i, 0, batch)
        ws.write_datetime(i, 1, at, when)
        ws.write(i, 2, torque)
        ws.write_number(i, 3, parts)
        ws.write_string(i, 4, result)
        ws.write_string(i, 5, inspector)
    notes = wb.add_worksheet("Notes")
    notes.write_column(0, 0, ["Torque spec 22-27 Nm", "NG batches go to rework", "说明: 第二班"])
    wb.close()


# The anonymous sensor matrix: how many sensors, rows of the headed file and rows of the headerless one.
WIDE_SENSORS, WIDE_ROWS, WIDE_HEADERLESS_ROWS = 520, 200, 60


def _wide_value(row: int, sensor: int) -> str:
    """One sensor reading: a level per sensor, a small wave per row; every 97th cell (and sensor 7 from row 150) empty."""
    if (row * WIDE_SENSORS + sensor) % 97 == 0 or (sensor == 7 and row >= 150):
        return ""
    level = (sensor * 37) % 500 / 10
    return f"{level + ((row * 13 + sensor * 7) % 21 - 10) / 100:.2f}"


def wide_sensors() -> bytes:
    """A fab-style sensor matrix (as SECOM publishes): a timestamp, 520 anonymous sensors named `0`..`519`, a pass/fail
    label (-1 pass, 1 fail), 200 rows, empty cells scattered and sensor 7 dead from row 150."""
    rows = [["timestamp", *(str(j) for j in range(WIDE_SENSORS)), "pass_fail"]]
    start = dt.datetime(2024, 7, 19, 11, 55, 0)
    for i in range(WIDE_ROWS):
        ts = start + dt.timedelta(minutes=17 * i)
        label = "1" if i % 14 == 3 else "-1"
        rows.append([f"{ts:%Y-%m-%d %H:%M:%S}", *(_wide_value(i, j) for j in range(WIDE_SENSORS)), label])
    return _csv(rows).encode("ascii")


def wide_headerless() -> bytes:
    """The same sensors as SECOM's `secom.data`: no header, fields separated by single spaces, `NaN` for a missing value."""
    lines = []
    for i in range(WIDE_HEADERLESS_ROWS):
        lines.append(" ".join(_wide_value(i, j) or "NaN" for j in range(WIDE_SENSORS)))
    return ("\n".join(lines) + "\n").encode("ascii")


TEXT_CASES: dict[str, Callable[[], bytes]] = {
    "mes_gbk.csv": mes_gbk,
    "gbk_invalid_bytes.csv": gbk_invalid_bytes,
    "plc_cr_only.csv": plc_cr_only,
    "lab_decimal_comma.csv": lab_decimal_comma,
    "historian.jsonl": historian,
    "jsonl_bad_line.jsonl": jsonl_bad_line,
    "bom_utf8.csv": bom_utf8,
    "trailing_space_header.csv": trailing_space_header,
    "case_a.csv": case_a,
    "case_b.csv": case_b,
    "dup_header.csv": dup_header,
    "ragged_row.csv": ragged_row,
    "wide_sensors.csv": wide_sensors,
    "wide_headerless.txt": wide_headerless,
}


def write_cases(out: Path) -> list[Path]:
    """Write every case file into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in TEXT_CASES.items():
        (out / name).write_bytes(make())
        written.append(out / name)
    qc_report(out / "qc_report.xlsx")
    written.append(out / "qc_report.xlsx")
    return written


if __name__ == "__main__":
    for p in write_cases(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(f"wrote {p.name} ({p.stat().st_size} bytes)")
