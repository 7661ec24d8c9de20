"""QARTOD time-series flags against ioos_qc, the reference implementation, on interleaved unsorted frames."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from ioos_qc import qartod

from pipelines.quality.timeseries import (
    attenuated_flags,
    flat_line_flags,
    gap_flags,
    increasing_flags,
    rate_of_change_flags,
    spike_flags,
    worst,
)

SEED = Path(__file__).resolve().parents[2] / "seeds" / "cnc_line" / "cnc_line_sample.csv"
T0 = datetime(2026, 3, 2, 6, 0, 0)
ENTITY = ["machine"]

Oracle = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _synthetic() -> pl.DataFrame:
    """Three machines sampled every 10 s, with every defect the tests care about, rows shuffled together."""
    rng = np.random.default_rng(7)
    rows: list[tuple[str, int | None, float | None]] = []
    for m, machine in enumerate(["M1", "M2", "M3"]):
        n = 150
        k = np.arange(n)
        x = 50 + 5 * m + 3 * np.sin(k / 12) + rng.normal(0, 0.4, n)
        if machine == "M1":
            x[20] += 9.0  # FAIL spike
            x[40] -= 3.5  # SUSPECT spike
            x[90:104] = x[90]  # stuck sensor
            x[10] = np.nan
            keep = k != 70  # one missed sample: 20 s interval
        elif machine == "M2":
            x[30] += 9.0
            x[31] = np.nan  # spike next to a missing value
            x[50:75] = 57.25 + rng.uniform(-0.02, 0.02, 25)  # flat within tolerance, not constant
            x[100] = np.inf
            keep = np.ones(n, dtype=bool)
        else:
            x[110:140] = 60 + rng.normal(0, 0.01, 30)  # attenuated signal
            x[5] = np.nan
            keep = (k < 60) | (k > 66)  # outage: 70 s interval
        rows += [(machine, int(10 * i), float(v)) for i, v in zip(k[keep], x[keep], strict=True)]
    rows.append(("M2", 450, 58.0))  # repeated timestamp with another value
    rows.append(("M1", 3_000, 55.0))  # a lone late sample after a long silence
    rows += [("M3", None, 61.0), ("M1", None, None)]  # rows without a timestamp
    frame = pl.DataFrame(rows, schema={"machine": pl.String, "cycle": pl.Int64, "value": pl.Float64}, orient="row")
    frame = frame.with_columns(value=pl.when(pl.col("value").is_finite()).then(pl.col("value")))
    frame = frame.sample(fraction=1.0, shuffle=True, seed=3)
    return frame.with_columns(ts=pl.lit(T0) + pl.duration(seconds=pl.col("cycle")))


def _with_inf(frame: pl.DataFrame) -> pl.DataFrame:
    """Put back a NaN and an infinity: ioos_qc masks them (masked_invalid), we must treat them as missing."""
    return frame.with_columns(
        value=pl.when((pl.col("machine") == "M2") & (pl.col("cycle") == 1000))
        .then(float("inf"))
        .when((pl.col("machine") == "M3") & (pl.col("cycle") == 50))
        .then(float("nan"))
        .otherwise(pl.col("value"))
    )


def _oracle(frame: pl.DataFrame, value: str, ts: str, entity: list[str], test: Oracle) -> np.ndarray:
    """ioos_qc flags per entity on the time-sorted (stable) series, mapped back to the frame's row order."""
    out = np.zeros(frame.height, dtype=np.uint8)
    indexed = frame.with_row_index("_row")
    parts = [indexed] if not entity else [g for _, g in indexed.group_by(entity, maintain_order=True)]
    for part in parts:
        ordered = part.filter(pl.col(ts).is_not_null()).sort(ts, maintain_order=True)
        if ordered.height:
            values = ordered[value].cast(pl.Float64).fill_null(np.nan).to_numpy()
            out[ordered["_row"].to_numpy()] = test(values, ordered[ts].to_numpy())
    unplaced = indexed.filter(pl.col(ts).is_null())
    out[unplaced["_row"].to_numpy()] = np.where(unplaced[value].is_null().to_numpy(), 9, 2)
    return out


def _inf_as_nan(x: np.ndarray) -> np.ndarray:
    return np.where(np.isinf(x), np.nan, x)


def _ours(frame: pl.DataFrame, expr: pl.Expr) -> np.ndarray:
    """The flags, lazily; every engine and both projection styles must agree (row order is the point)."""
    lazy = frame.lazy()
    runs = [
        lazy.select(expr.alias("flag")).collect(engine="streaming")["flag"],
        lazy.select(expr.alias("flag")).collect(engine="in-memory")["flag"],
        lazy.with_columns(expr.alias("flag")).collect(engine="streaming")["flag"],
    ]
    for run in runs[1:]:
        assert run.to_list() == runs[0].to_list()
    assert runs[0].dtype == pl.UInt8
    assert runs[0].null_count() == 0
    return runs[0].to_numpy()


def _assert_same(ours: np.ndarray, expected: np.ndarray, frame: pl.DataFrame, flagged: set[int]) -> None:
    bad = np.flatnonzero(ours != expected)
    assert bad.size == 0, f"{bad.size} rows differ:\n{frame[bad.tolist()].with_columns(ours=ours[bad], ioos=expected[bad])}"
    # the scenario must exercise the test, otherwise agreement proves nothing
    assert flagged <= set(np.unique(expected).tolist()), np.unique(expected, return_counts=True)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return _synthetic()


@pytest.mark.parametrize("ts", ["ts", "cycle"])
def test_spike_matches_ioos(frame: pl.DataFrame, ts: str) -> None:
    frame = _with_inf(frame)
    ours = _ours(frame, spike_flags("value", ts, ENTITY, suspect_threshold=2.5, fail_threshold=6.0))
    expected = _oracle(frame, "value", ts, ENTITY, lambda x, t: qartod.spike_test(x, 2.5, 6.0))
    _assert_same(ours, expected, frame, {1, 2, 3, 4, 9})


@pytest.mark.parametrize("off", [None, 0])
def test_spike_threshold_zero_or_none_disables_level(frame: pl.DataFrame, off: float | None) -> None:
    ours = _ours(frame, spike_flags("value", "ts", ENTITY, suspect_threshold=off, fail_threshold=6.0))
    expected = _oracle(frame, "value", "ts", ENTITY, lambda x, t: qartod.spike_test(x, off, 6.0))
    _assert_same(ours, expected, frame, {1, 2, 4, 9})
    assert 3 not in ours


def test_spike_thresholds_are_exclusive() -> None:
    frame = pl.DataFrame({"t": range(7), "v": [0.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0]})
    ours = _ours(frame, spike_flags("v", "t", [], 0.5, 2.0))
    assert ours.tolist() == qartod.spike_test(frame["v"].to_numpy(), 0.5, 2.0).tolist() == [2, 3, 3, 3, 1, 3, 2]


@pytest.mark.parametrize("ts", ["ts", "cycle"])
@pytest.mark.parametrize("fail", [None, 0.6])
def test_rate_of_change_matches_ioos(frame: pl.DataFrame, ts: str, fail: float | None) -> None:
    frame = _with_inf(frame)
    ours = _ours(frame, rate_of_change_flags("value", ts, ENTITY, 0.25, fail))
    # documented difference: ioos_qc flags the sample after an infinity from the masked (raw) difference
    expected = _oracle(frame, "value", ts, ENTITY, lambda x, t: qartod.rate_of_change_test(_inf_as_nan(x), t, 0.25, fail))
    _assert_same(ours, expected, frame, {1, 3, 9} | ({4} if fail else set()))


def test_rate_of_change_threshold_is_exclusive() -> None:
    frame = pl.DataFrame({"t": [0, 10, 20, 20, 30], "v": [0.0, 2.5, 5.5, 5.5, 8.0]})
    ours = _ours(frame, rate_of_change_flags("v", "t", [], 0.25))
    assert (
        ours.tolist()
        == qartod.rate_of_change_test(frame["v"].to_numpy(), frame["t"].to_numpy(), 0.25).tolist()
        == [1, 1, 3, 1, 1]
    )


def test_irregular_sampling_matches_ioos() -> None:
    """Irregular intervals (median 10.5 s, which ioos_qc truncates to 10 s), and millisecond timestamps for one machine."""
    rng = np.random.default_rng(5)
    n = 201
    steps = np.r_[0, rng.permutation(np.repeat([10, 11], 100))]  # median interval 10.5 s, which ioos_qc truncates
    values = np.round(20 + np.cumsum(rng.normal(0, 0.3, n)), 1)
    values[60:80] = 21.0
    values[120:127] = np.nan
    rows: list[tuple[str, datetime, float]] = []
    for machine, jitter_ms in (("A", 0), ("B", 1), ("C", 0)):
        ts = T0 + np.cumsum(steps + (machine == "C")) * timedelta(seconds=1)
        ts = [t + timedelta(milliseconds=int(jitter_ms * rng.integers(0, 999))) for t in ts]
        rows += zip([machine] * n, ts, values, strict=True)
    frame = pl.DataFrame(rows, schema={"machine": pl.String, "ts": pl.Datetime("us"), "value": pl.Float64}, orient="row")
    frame = frame.with_columns(pl.col("value").fill_nan(None)).sample(fraction=1.0, shuffle=True, seed=1)
    medians = frame.group_by("machine").agg(pl.col("ts").sort().diff().median().dt.total_milliseconds()).sort("machine")
    assert medians["ts"].to_list()[::2] == [10_500, 11_500]

    ours = _ours(frame, flat_line_flags("value", "ts", ENTITY, 40, 90, tolerance=0.05))
    expected = _oracle(frame, "value", "ts", ENTITY, _ioos_flat_line(40, 90, 0.05))
    _assert_same(ours, expected, frame, {1, 3, 4, 9})

    whole = frame.filter(pl.col("machine") != "B")  # ioos_qc truncates sub-second intervals; ours does not
    ours = _ours(whole, rate_of_change_flags("value", "ts", ENTITY, 0.06))
    expected = _oracle(whole, "value", "ts", ENTITY, lambda x, t: qartod.rate_of_change_test(x, t, 0.06))
    _assert_same(ours, expected, whole, {1, 3, 9})


def test_rate_of_change_infinity_is_missing() -> None:
    x = np.array([1.0, np.inf, 1.0, np.nan, 1.0])
    frame = pl.DataFrame({"t": np.arange(5) * 10, "v": x})
    assert _ours(frame, rate_of_change_flags("v", "t", [], 0.25)).tolist() == [1, 9, 1, 9, 1]
    assert qartod.rate_of_change_test(x, frame["t"].to_numpy(), 0.25).tolist() == [1, 9, 3, 9, 1]


def _ioos_flat_line(suspect: float, fail: float, tolerance: float) -> Oracle:
    def test(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        flags = np.asarray(qartod.flat_line_test(x, t, suspect, fail, tolerance), dtype=np.uint8)
        flags[~np.isfinite(x)] = 9  # documented difference: ioos_qc leaves nulls GOOD in series shorter than 3
        return flags

    return test


@pytest.mark.parametrize("ts", ["ts", "cycle"])
@pytest.mark.parametrize(("suspect", "fail"), [(50, 100), (45, 95), (35.7, 200), (5, 60)])
def test_flat_line_matches_ioos(frame: pl.DataFrame, ts: str, suspect: float, fail: float) -> None:
    frame = _with_inf(frame)
    ours = _ours(frame, flat_line_flags("value", ts, ENTITY, suspect, fail, tolerance=0.05))
    expected = _oracle(frame, "value", ts, ENTITY, _ioos_flat_line(suspect, fail, 0.05))
    _assert_same(ours, expected, frame, {3, 4, 9})


def test_flat_line_short_and_lone_series() -> None:
    frame = pl.DataFrame(
        {"machine": ["a", "a", "b", "c", "c", "c"], "t": [0, 10, 0, 0, 10, 20], "v": [1.0, 1.0, None, 1.0, 1.0, 1.0]}
    )
    ours = _ours(frame, flat_line_flags("v", "t", ["machine"], 5, 20, tolerance=0.1))
    expected = _oracle(frame, "v", "t", ["machine"], _ioos_flat_line(5, 20, 0.1))
    assert ours.tolist() == expected.tolist() == [1, 1, 9, 3, 3, 4]


def test_flat_line_sub_second_sampling_uses_time_window() -> None:
    """ioos_qc divides by zero there; we fall back to the window [t - threshold, t] once enough samples precede."""
    t = [T0 + timedelta(milliseconds=250 * i) for i in range(12)]
    frame = pl.DataFrame({"t": t, "v": [1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 7.0]})
    ours = _ours(frame, flat_line_flags("v", "t", [], suspect_s=1, fail_s=1.5, tolerance=0.1))
    assert ours.tolist() == [1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 4, 1]


def _attenuated_oracle(frame: pl.DataFrame, ts: str, **kwargs: object) -> np.ndarray:
    expected = _oracle(frame, "value", ts, ENTITY, lambda x, t: qartod.attenuated_signal_test(x, t, **kwargs))
    # documented difference: samples sharing a timestamp all see the whole window, i.e. the last one's flag
    indexed = frame.with_row_index("_row").filter(pl.col(ts).is_not_null())
    for _, tie in indexed.group_by([*ENTITY, ts]):
        if tie.height > 1:
            rows = tie["_row"].to_numpy()
            expected[rows] = np.where(tie["value"].is_null().to_numpy(), 9, expected[rows[-1]])
    return expected


@pytest.mark.parametrize("ts", ["ts", "cycle"])
@pytest.mark.parametrize(
    ("check_type", "window", "min_obs"),
    [("std", 60, None), ("std", 60, 4), ("range", 45, None), ("range", 90, 5), ("std", None, None), ("range", None, None)],
)
def test_attenuated_matches_ioos(
    frame: pl.DataFrame, ts: str, check_type: str, window: float | None, min_obs: int | None
) -> None:
    frame = _with_inf(frame)
    suspect, fail = (0.5, 0.1) if check_type == "std" else (1.5, 0.3)
    if window is None:  # whole series: M1 passes, M2 is suspect, M3 fails
        suspect, fail = (2.2, 2.0) if check_type == "std" else (15.0, 10.0)
    ours = _ours(frame, attenuated_flags("value", ts, ENTITY, window, suspect, fail, check_type, min_obs))
    kwargs = {"suspect_threshold": suspect, "fail_threshold": fail, "test_period": window, "min_obs": min_obs}
    expected = _attenuated_oracle(frame, ts, check_type=check_type, **kwargs)
    _assert_same(ours, expected, frame, {1, 3, 4, 9})
    if window:
        placed = frame["ts"].is_not_null().to_numpy()
        assert (ours[placed] == 2).any() == (min_obs is not None or check_type == "range")


def test_attenuated_rejects_unknown_check_type() -> None:
    with pytest.raises(ValueError, match="check_type"):
        attenuated_flags("value", "ts", ENTITY, 60, 1, 0.5, check_type="iqr")


@pytest.mark.parametrize("ts", ["ts", "cycle"])
def test_gap_flags(frame: pl.DataFrame, ts: str) -> None:
    ours = _ours(frame, gap_flags(ts, ENTITY, period_s=10, suspect_factor=1.5, fail_factor=3.0))

    def numpy_gap(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        dt = np.diff(t) / (np.timedelta64(1, "s") if t.dtype.kind == "M" else 1)
        return np.r_[1, np.where(dt > 30, 4, np.where(dt > 15, 3, 1))]

    expected = _oracle(frame, "value", ts, ENTITY, numpy_gap)
    expected[frame[ts].is_null().to_numpy()] = 9
    _assert_same(ours, expected, frame, {1, 3, 4, 9})
    assert sorted(frame.filter(ours == 4)["cycle"].to_list()) == [670, 3000]
    assert frame.filter(ours == 3)["cycle"].to_list() == [710]


def test_gap_fail_agrees_with_ioos_time_gap_test(frame: pl.DataFrame) -> None:
    frame = frame.filter(pl.col("ts").is_not_null())
    ours = _ours(frame, gap_flags("ts", ENTITY, period_s=10, fail_factor=3.0))

    def time_gap(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        flags = qartod.time_gap_test(t, fail_span=30 / 3600).astype(np.uint8)
        flags[0] = 1  # ioos_qc copies the second flag onto the first sample; ours has no previous sample
        return flags

    _assert_same(np.where(ours == 4, 4, 1), _oracle(frame, "value", "ts", ENTITY, time_gap), frame, {1, 4})


def test_gap_flags_boundaries_and_null_timestamp() -> None:
    frame = pl.DataFrame({"m": ["a"] * 6 + ["b"], "t": [0, None, 50, 60, 75, 105, 75]})
    assert _ours(frame, gap_flags("t", ["m"], 10)).tolist() == [1, 9, 4, 1, 1, 3, 1]


def test_increasing_flags_file_order() -> None:
    frame = pl.DataFrame(
        {
            "m": ["a", "b", "a", "a", "b", "a", "a", "b", "a", "a"],
            "t": [10, 5, 20, 20, 4, 15, None, 6, 30, 25],
        }
    )
    assert _ours(frame, increasing_flags("t", ["m"])).tolist() == [1, 1, 1, 4, 4, 4, 9, 1, 1, 4]
    assert _ours(frame, increasing_flags("t", [])).tolist() == [1, 4, 1, 4, 4, 1, 9, 4, 1, 4]


def test_increasing_flags_on_synthetic(frame: pl.DataFrame) -> None:
    ours = _ours(frame, increasing_flags("ts", ENTITY))
    expected: list[int] = []
    last: dict[str, datetime] = {}
    for machine, t in frame.select("machine", "ts").iter_rows():
        expected.append(9 if t is None else 4 if machine in last and t <= last[machine] else 1)
        if t is not None:
            last[machine] = t
    assert ours.tolist() == expected
    assert 4 in expected


def test_worst_matches_qartod_compare() -> None:
    rng = np.random.default_rng(11)
    flags = [rng.choice(np.array([1, 2, 3, 4, 9], dtype=np.uint8), 500) for _ in range(3)]
    frame = pl.DataFrame({f"f{i}": f for i, f in enumerate(flags)})
    ours = _ours(frame, worst([pl.col(c) for c in frame.columns]))
    assert ours.tolist() == np.asarray(qartod.qartod_compare(flags)).tolist()
    assert _ours(frame, worst([pl.col("f0")])).tolist() == flags[0].tolist()
    with pytest.raises(ValueError):
        worst([])


def test_worst_of_window_flags(frame: pl.DataFrame) -> None:
    tests = [
        spike_flags("value", "ts", ENTITY, 2.5, 6.0),
        gap_flags("ts", ENTITY, 10),
        flat_line_flags("value", "ts", ENTITY, 50, 100, 0.05),
        increasing_flags("ts", ENTITY),
    ]
    each = [_ours(frame, t) for t in tests]
    ours = _ours(frame, worst(tests))
    assert ours.tolist() == np.asarray(qartod.qartod_compare(each)).tolist()
    assert {1, 2, 3, 4} <= set(ours.tolist())


def test_whole_frame_is_one_series_without_entity(frame: pl.DataFrame) -> None:
    one = frame.filter(pl.col("machine") == "M2")
    ours = _ours(one, spike_flags("value", "ts", [], 2.5, 6.0))
    expected = _oracle(one, "value", "ts", [], lambda x, t: qartod.spike_test(x, 2.5, 6.0))
    _assert_same(ours, expected, one, {1, 2, 3, 9})


def test_null_timestamp_rows_are_left_out() -> None:
    frame = pl.DataFrame({"t": [0, 10, None, 20, 30, None], "v": [1.0, 1.0, 50.0, 1.0, 1.0, None]})
    assert _ours(frame, spike_flags("v", "t", [], 1, 2)).tolist() == [2, 1, 2, 1, 2, 9]
    assert _ours(frame, rate_of_change_flags("v", "t", [], 0.1)).tolist() == [1, 1, 2, 1, 1, 9]


@pytest.fixture(scope="module")
def seed() -> pl.DataFrame:
    raw = pl.read_csv(SEED, infer_schema=False)
    return raw.select(
        pl.col("ts").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False),
        "machine_id",
        *[pl.col(c).cast(pl.Float64, strict=False) for c in ("coolant_temp_c", "spindle_speed_rpm", "vibration_mm_s")],
    )


@pytest.mark.parametrize(
    ("column", "spike", "roc", "flat"),
    [
        ("coolant_temp_c", (1.5, 2.2), 0.2, (30, 60, 0.6)),
        ("spindle_speed_rpm", (500.0, 5000.0), 100.0, (30, 60, 15.0)),
        ("vibration_mm_s", (3.0, 8.0), 0.4, (20, 40, 0.3)),
    ],
    ids=["coolant", "spindle", "vibration"],
)
def test_seed_matches_ioos(
    seed: pl.DataFrame, column: str, spike: tuple[float, float], roc: float, flat: tuple[float, float, float]
) -> None:
    """The committed CNC seed (duplicated rows, null values, lone mistyped machine ids) per machine."""
    entity = ["machine_id"]
    ours = _ours(seed, spike_flags(column, "ts", entity, *spike))
    expected = _oracle(seed, column, "ts", entity, lambda x, t: qartod.spike_test(x, *spike))
    _assert_same(ours, expected, seed, {1, 2, 3, 4})

    ours = _ours(seed, rate_of_change_flags(column, "ts", entity, roc))
    expected = _oracle(seed, column, "ts", entity, lambda x, t: qartod.rate_of_change_test(x, t, roc))
    _assert_same(ours, expected, seed, {1, 3})

    ours = _ours(seed, flat_line_flags(column, "ts", entity, *flat))
    expected = _oracle(seed, column, "ts", entity, _ioos_flat_line(*flat))
    _assert_same(ours, expected, seed, {1, 3, 4})
