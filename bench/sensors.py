"""Per-machine behaviour of the benchmark's factory: a vectorised simulation, one block of periods at a time.

Every machine has its own nominal speed, feed, coolant base, vibration level, rated power, part rate,
scrap rate and tool life. Its state (RUN, IDLE, SETUP, ALARM, OFF) is sticky: it changes with a small
probability per period. The coolant warms up with the machine's load and wanders slowly (first-order
filters carried across blocks), the tool wear is a saw tooth of running minutes reset at each tool
change, and parts are Poisson when running, scrap binomial. All state is carried from one block to
the next, so the series is continuous whatever the block size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

STATES: tuple[str, ...] = ("RUN", "IDLE", "SETUP", "ALARM", "OFF")
"""The controller's states, in code order (code 0 is RUN)."""
RUN, IDLE, SETUP, ALARM, OFF = range(5)
STATE_WEIGHTS = np.array([0.70, 0.12, 0.08, 0.03, 0.07])
SWITCH_PROBABILITY = 0.003  # per period: a state lasts about 5 minutes at a 1 s period, 55 minutes at 10 s
WARM_POLE = 0.99  # coolant warm-up: time constant of about 100 periods
WANDER_POLE = 0.998  # slow drift of the coolant loop


@dataclass(frozen=True)
class Fleet:
    """Constants of each machine (arrays of length `machines`)."""

    nominal_rpm: np.ndarray
    nominal_feed: np.ndarray
    coolant_base: np.ndarray
    vibration_base: np.ndarray
    rated_kw: np.ndarray
    pressure_bar: np.ndarray
    part_rate: np.ndarray  # parts per period when running
    scrap_p: np.ndarray
    tool_life_min: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, machines: int, period_s: float) -> Fleet:
        """Draw a fleet of `machines` machines."""
        return cls(
            nominal_rpm=rng.uniform(6_000, 18_000, machines).round(-2),
            nominal_feed=rng.uniform(800, 4_000, machines).round(-1),
            coolant_base=rng.uniform(18, 26, machines),
            vibration_base=rng.uniform(1.0, 3.5, machines),
            rated_kw=rng.uniform(11, 37, machines),
            pressure_bar=rng.uniform(60, 140, machines),
            part_rate=rng.uniform(0.05, 0.3, machines) * period_s,
            scrap_p=rng.uniform(0.005, 0.03, machines),
            tool_life_min=rng.uniform(240, 480, machines),
        )


@dataclass
class FleetState:
    """What carries from one block to the next (arrays of length `machines`)."""

    state: np.ndarray
    warm: np.ndarray  # filter state of the coolant warm-up, shape (1, machines)
    wander: np.ndarray  # filter state of the coolant drift, shape (1, machines)
    run_s: np.ndarray  # running seconds since the first period

    @classmethod
    def start(cls, rng: np.random.Generator, machines: int) -> FleetState:
        """The state before the first period."""
        return cls(
            state=rng.choice(len(STATES), size=machines, p=STATE_WEIGHTS),
            warm=np.zeros((1, machines)),
            wander=np.zeros((1, machines)),
            run_s=rng.uniform(0, 3_600, machines),
        )


def _states(rng: np.random.Generator, periods: int, carry: np.ndarray) -> np.ndarray:
    """Sticky states of a block, shape (periods, machines): each switch draws a new state."""
    machines = carry.shape[0]
    switch = rng.random((periods, machines)) < SWITCH_PROBABILITY
    drawn = rng.choice(len(STATES), size=(periods, machines), p=STATE_WEIGHTS)
    last = np.where(switch, np.arange(periods)[:, None], -1)
    last = np.maximum.accumulate(last, axis=0)  # index of the latest switch at or before each period
    cols = np.broadcast_to(np.arange(machines), (periods, machines))
    return np.where(last >= 0, drawn[np.maximum(last, 0), cols], carry[None, :])


def simulate(rng: np.random.Generator, fleet: Fleet, carry: FleetState, periods: int, period_s: float) -> dict[str, np.ndarray]:
    """Simulate `periods` periods of every machine; arrays of shape (periods, machines), carry updated in place."""
    machines = carry.state.shape[0]
    shape = (periods, machines)
    state = _states(rng, periods, carry.state)
    run = state == RUN
    setup = state == SETUP
    off = state == OFF

    speed = np.where(run, fleet.nominal_rpm * rng.normal(1, 0.02, shape), 0.0)
    speed = np.where(setup, fleet.nominal_rpm * 0.3 * rng.normal(1, 0.05, shape), speed)
    load = np.where(run, np.clip(40 + 35 * rng.beta(2, 3, shape) + rng.normal(0, 2, shape), 5, 120), 0.0)
    load = np.where(setup, rng.uniform(5, 15, shape), load)
    load = np.where(state == IDLE, rng.uniform(1, 4, shape), load)
    feed = np.where(run, fleet.nominal_feed * rng.uniform(0.8, 1.1, shape), 0.0)
    feed = np.where(setup, rng.uniform(50, 300, shape), feed)

    warm, carry.warm = lfilter([1 - WARM_POLE], [1, -WARM_POLE], load / 100, axis=0, zi=carry.warm)
    wander, carry.wander = lfilter([1], [1, -WANDER_POLE], rng.normal(0, 0.05, shape), axis=0, zi=carry.wander)
    coolant = fleet.coolant_base + 12 * warm + wander + rng.normal(0, 0.05, shape)

    pressure = np.where(off, rng.uniform(0, 2, shape), fleet.pressure_bar + rng.normal(0, 1.5, shape))
    vib_level = np.where(run, 1.0, np.where(off, 0.05, 0.2))
    vibration = fleet.vibration_base * vib_level * rng.lognormal(0, 0.25, shape)
    power = np.where(off, 0.1, 1.5 + fleet.rated_kw * load / 100) + rng.normal(0, 0.1, shape).clip(-0.09, None)

    run_s = carry.run_s + np.cumsum(run * period_s, axis=0)
    carry.run_s = run_s[-1].copy()
    wear = (run_s / 60) % fleet.tool_life_min

    total = np.where(run, rng.poisson(fleet.part_rate, shape), 0)
    scrap = rng.binomial(total, fleet.scrap_p)
    carry.state = state[-1].copy()
    return {
        "status": state,
        "spindle_speed_rpm": speed.round(1),
        "spindle_load_pct": load.round(1),
        "feed_rate_mm_min": feed.round(1),
        "coolant_temp_c": coolant.round(2),
        "hydraulic_pressure_bar": pressure.round(2),
        "vibration_mm_s": vibration.round(3),
        "power_kw": power.round(2),
        "tool_wear_min": wear.round(1),
        "total_count": total.astype(np.int32),
        "good_count": (total - scrap).astype(np.int32),
        "scrap_count": scrap.astype(np.int32),
    }
