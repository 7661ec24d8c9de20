"""What the two hand-built baselines check, as constants both read: the rules of `bench/project`, one source.

`ge_baseline.py` and `polars_pandera.py` express these rules each in its own library; the values here
are the benchmark rule file's (`bench/project/quality_rules/`), so the baselines flag the same rows.
"""

from __future__ import annotations

from sensors import STATES

COUNTS = ("total_count", "good_count", "scrap_count")
SPANS = {
    "spindle_speed_rpm": ("sb.spindle_speed.span", 0, 24_000), "spindle_load_pct": ("sb.spindle_load.span", 0, 150),
    "feed_rate_mm_min": ("sb.feed_rate.span", 0, 20_000), "coolant_temp_c": ("sb.coolant_temp.span", -10, 90),
    "hydraulic_pressure_bar": ("sb.pressure.span", 0, 250), "vibration_mm_s": ("sb.vibration.span", 0, 100),
    "power_kw": ("sb.power.span", 0, 60), "tool_wear_min": ("sb.tool_wear.span", 0, 600),
}  # fmt: skip
STATUSES = list(STATES)
PERIOD_S = 10.0  # the sensors' reporting period
GAP_SUSPECT_S, GAP_FAIL_S = 1.5 * PERIOD_S, 3.0 * PERIOD_S

__all__ = ["COUNTS", "GAP_FAIL_S", "GAP_SUSPECT_S", "PERIOD_S", "SPANS", "STATUSES"]
