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


SENSOR_HEADER = ["Time [s]", "Spindle [rpm]", "Vibration [mm/s]", "Temp [°C]"]


def _sensor_run(run: int) -> list[list[str]]:
    """One test-bench run: a header and 6 samples a second apart (values differ per run)."""
    rows = [SENSOR_HEADER]
    for i in range(6):
        rows.append([f"{i:.1f}", str(1500 + 10 * run + 5 * i), f"{0.8 + 0.1 * run + 0.05 * i:.2f}", f"{30 + run + 0.5 * i:.1f}"])
    return rows


def sensor_run(run: int) -> Callable[[], bytes]:
    """A test-bench run file of `sensor_runs/`; run 3 is stored transposed (one line per field, one column per sample)."""

    def make() -> bytes:
        rows = _sensor_run(run)
        if run == 3:
            rows = [list(col) for col in zip(*rows, strict=True)]
        return _csv(rows, eol="\r\n").encode("utf-8")

    return make


def press_crcrlf() -> bytes:
    """A press log saved with CRLF, then re-saved on Windows: every line ends `\\r\\r\\n`; one quoted note spans 2 lines."""
    rows = [["Press", "Stroke", "Force [kN]", "Note"]]
    rows += [
        ["P-07", "1", "412.5", ""],
        ["P-07", "2", "415.0", '"die change\r\r\nafter stroke 2"'],
        ["P-07", "3", "409.8", "ok"],
        ["P-08", "1", "398.1", ""],
        ["P-08", "2", "401.7", ""],
    ]
    return _csv(rows, eol="\r\r\n").encode("utf-8")


def mixed_endings() -> bytes:
    """An oven log stitched from three sources: LF, CRLF and CR-only lines in one file, a quoted field with an LF."""
    lines = [
        ("Oven,Zone,Temp [°C],Remark", "\n"),
        ("OV-1,A,181.5,", "\n"),
        ("OV-1,B,179.0,", "\r\n"),
        ('OV-1,C,183.2,"door opened\nclosed at 10:02"', "\r\n"),
        ("OV-2,A,175.4,", "\r"),
        ("OV-2,B,176.9,", "\r"),
        ("OV-2,C,177.3,", "\n"),
    ]
    return "".join(text + eol for text, eol in lines).encode("utf-8")


def short_rows() -> bytes:
    """A gauge log where a tablet app dropped trailing fields on some rows (lines 4, 7 and 9), no quotes."""
    rows = [["Part", "Gauge", "Diameter [mm]", "Roundness [um]", "Operator"]]
    rows += [
        ["A-100", "G1", "25.012", "3.1", "Sun"],
        ["A-101", "G1", "25.009", "2.8", "Sun"],
        ["A-102", "G1", "25.020"],
        ["A-103", "G2", "24.998", "3.4", "Ma"],
        ["A-104", "G2", "25.003", "2.9", "Ma"],
        ["A-105", "G2"],
        ["A-106", "G1", "25.015", "3.0", ""],
        ["A-107", "G1", "25.011", "3.3"],
        ["A-108", "G2", "25.004", "2.7", "Ma"],
    ]
    return _csv(rows).encode("utf-8")


def shift_delivery(day: int) -> Callable[[], bytes]:
    """A day of `shift_deliveries/`: days 1 and 4 are full, day 2 is empty (0 bytes), day 3 has only the header."""

    def make() -> bytes:
        if day == 2:
            return b""
        rows = [["Line", "Shift", "Good", "Scrap"]]
        if day != 3:
            rows += [[f"L{i}", s, str(400 + 7 * day + i), str(day + i)] for i in (1, 2) for s in ("early", "late")]
        return _csv(rows).encode("utf-8")

    return make


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


# Enrichment and derived columns: labels in another file, labels at a sample index, split timestamps.

MILL_EXPERIMENTS = [  # (No, material, feedrate, clamp_pressure, tool_condition, passed_visual_inspection)
    (1, "wax", 6, 4.0, "unworn", "yes"),
    (2, "wax", 20, 4.0, "unworn", "yes"),
    (3, "wax", 6, 3.0, "worn", "no"),
    (4, "wax", 20, 3.0, "worn", "no"),
    (5, "wax", 15, 2.5, "unworn", "yes"),
    (6, "wax", 3, 2.5, "worn", "yes"),
]
MILL_STEPS = ["Prep", "Layer 1 Up", "Layer 1 Down", "Layer 2 Up", "Layer 2 Down", "End"]


def _mill_table(rows: list[tuple[object, ...]]) -> bytes:
    head = ["No", "material", "feedrate", "clamp_pressure", "tool_condition", "passed_visual_inspection"]
    return _csv([head, *[[str(v) for v in r] for r in rows]]).encode("ascii")


def mill_experiments() -> bytes:
    """The CNC mill tool-wear label table: one row per experiment (tool condition, feed rate, clamp pressure)."""
    return _mill_table(MILL_EXPERIMENTS)


def mill_experiments_dup() -> bytes:
    """Broken: experiment 3 is on two rows (lines 4 and 7)."""
    return _mill_table([*MILL_EXPERIMENTS[:5], (3, "wax", 6, 3.0, "unworn", "yes")])


def mill_experiments_missing() -> bytes:
    """Broken: experiment 6 has no row (its series file `experiment_06.csv` has no label)."""
    return _mill_table(MILL_EXPERIMENTS[:5])


def mill_series(n: int) -> bytes:
    """One experiment's time series (`experiment_0n.csv`): 6 samples; the last step is `End`, or `end` in odd files."""
    rows = [["X1_ActualPosition", "S1_CurrentFeedback", "Machining_Process"]]
    for i, step in enumerate(MILL_STEPS):
        step = "end" if step == "End" and n % 2 else step
        rows.append([f"{198 + n + i * 0.5:.1f}", f"{-3.5 + n * 0.25 + i * 0.1:.2f}", step])
    return _csv(rows).encode("ascii")


def te_run(fault: int) -> bytes:
    """A Tennessee Eastman test run (`d0n_te.dat`): no header, runs of spaces, 8 samples; the fault starts after sample 3."""
    lines = []
    for i in range(8):
        shift = 0.4 * fault if i >= 3 else 0.0
        values = [0.25 + 0.01 * i + shift, 3664.0 + i - 10 * shift, 4509.3 + 2 * i]
        lines.append("  " + "  ".join(f"{v:.8e}" for v in values))
    return ("\n".join(lines) + "\n").encode("ascii")


def shift_log() -> bytes:
    """A press-shop shift log with the date and the time of day in two fields; line 5's time is `25:10:00`."""
    rows = [["Date", "Time", "Press", "Event"]]
    times = ["05:58:00", "06:03:30", "06:41:00", "25:10:00", "13:59:59"]
    events = ["shift start", "die change", "jam", "jam", "shift end"]
    for t, ev in zip(times, events, strict=True):
        rows.append(["30.03.2024", t, "P-200", ev])
    return _csv(rows).encode("ascii")


SECOM_FEATURES = [
    [3030.93, 2564.0, None, 97.6133],
    [3095.78, 2465.14, 2230.4222, 100.0],
    [2932.61, 2559.94, 2186.4111, 102.3433],
    [None, 2479.9, 2199.0333, 100.0],
    [3002.58, 2531.15, 2210.1445, 99.2381],
    [2946.25, 2432.84, 2233.3667, 101.3],
]
SECOM_LABELS = [(-1, "19/07/2008 11:55:00"), (-1, "19/07/2008 12:32:00"), (1, "19/07/2008 13:17:00"),
                (-1, "19/07/2008 14:43:00"), (-1, "19/07/2008 15:22:00"), (1, "19/07/2008 17:53:00")]  # fmt: skip


def secom_data() -> bytes:
    """SECOM semiconductor features: space-separated, no header, `NaN` for a missing value, 6 rows."""
    return "".join(" ".join("NaN" if v is None else f"{v:.10g}" for v in r) + "\n" for r in SECOM_FEATURES).encode("ascii")


def secom_labels() -> bytes:
    """SECOM labels, same row order as `secom.data`: -1 pass / 1 fail and a quoted timestamp."""
    return "".join(f'{y} "{ts}"\n' for y, ts in SECOM_LABELS).encode("ascii")


def secom_labels_short() -> bytes:
    """Broken: the labels file with its last row missing (5 rows for 6 feature rows)."""
    return b"".join(secom_labels().splitlines(keepends=True)[:5])


def tightening_batches() -> bytes:
    """Tightening results per batch, to be joined with the inspection workbook `qc_report.xlsx` on `Batch`."""
    rows = [["Station", "Batch", "Torque [Nm]"], ["ST-1", "B-1001", "24.1"], ["ST-2", "B-1001", "24.6"],
            ["ST-1", "B-1003", "26.2"], ["ST-2", "B-1005", "23.9"]]  # fmt: skip
    return _csv(rows).encode("ascii")


def bench_sideways(path: Path) -> None:
    """A test-bench workbook stored sideways: a title in row 1, field names down column A from row 3, one run per
    column (B, C, E) with an empty spacer column D, and a `-` for a missing reading."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"title": "Bench runs", "author": "Test bench 2", "created": dt.datetime(2024, 3, 9, 12, 0)})
    ws = wb.add_worksheet("Runs")
    ws.write(0, 0, "Spindle bench, week 10")
    ws.write_column(2, 0, SENSOR_HEADER)
    for col, (t, rpm, vib, temp) in {1: (0.0, 1500, 0.85, 30.5), 2: (1.0, 1505, "-", 31.0), 4: (2.0, 1510, 0.95, 31.5)}.items():
        ws.write_number(2, col, t)
        ws.write_number(3, col, rpm)
        ws.write(4, col, vib)
        ws.write_number(5, col, temp)
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


def wide_headerless_labels() -> bytes:
    """The labels of `wide_headerless.txt` in the same row order, as SECOM's `secom_labels.data`: -1 pass / 1 fail and a
    quoted day-first timestamp, 60 rows."""
    start = dt.datetime(2008, 7, 19, 11, 55, 0)
    return "".join(
        f'{"1" if i % 14 == 3 else "-1"} "{start + dt.timedelta(minutes=17 * i):%d/%m/%Y %H:%M:%S}"\n'
        for i in range(WIDE_HEADERLESS_ROWS)
    ).encode("ascii")


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
    "mill/experiments.csv": mill_experiments,
    "mill/experiments_dup.csv": mill_experiments_dup,
    "mill/experiments_missing.csv": mill_experiments_missing,
    **{f"mill/experiment_{n:02d}.csv": (lambda n=n: mill_series(n)) for n in range(1, 7)},
    "te/d01_te.dat": lambda: te_run(1),
    "te/d02_te.dat": lambda: te_run(2),
    "shift_log.csv": shift_log,
    "secom/secom.data": secom_data,
    "secom/secom_labels.data": secom_labels,
    "secom/secom_labels_short.data": secom_labels_short,
    "tightening_batches.csv": tightening_batches,
    **{f"sensor_runs/run_{n:02d}.csv": sensor_run(n) for n in (1, 2, 3, 4)},
    "press_crcrlf.csv": press_crcrlf,
    "mixed_endings.csv": mixed_endings,
    "short_rows.csv": short_rows,
    **{f"shift_deliveries/2024-03-0{d}.csv": shift_delivery(d) for d in (1, 2, 3, 4)},
    "wide_sensors.csv": wide_sensors,
    "wide_headerless.txt": wide_headerless,
    "wide_headerless_labels.data": wide_headerless_labels,
}


def write_cases(out: Path) -> list[Path]:
    """Write every case file into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in TEXT_CASES.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(make())
        written.append(out / name)
    qc_report(out / "qc_report.xlsx")
    written.append(out / "qc_report.xlsx")
    bench_sideways(out / "bench_sideways.xlsx")
    written.append(out / "bench_sideways.xlsx")
    return written


if __name__ == "__main__":
    for p in write_cases(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(f"wrote {p} ({p.stat().st_size} bytes)")
