"""Realistic clean tracks in local metres: travel modes, legs joined by turns, speed changes
and stops, sampled at 1 Hz with timing jitter and missing fixes.

A track is built from *legs* (cruise at a target speed, then a turn or a stop). Speeds are
smoothed with a moving average whose width is the mode's acceleration time, so speed changes
are ramps, not steps. Everything is vectorised per agent.

Two motion models (``MOTIONS``):

- ``curvy`` (the default): within a leg the heading rate is a smooth random process (an
  Ornstein-Uhlenbeck curvature with the mode's own spread and correlation time: curvy roads,
  winding paths, a walker who meanders) and the speed wanders around the leg's target (another
  OU process), so no stretch is a ruler-straight line at one speed.
- ``legs``: the generator of theta 0.x before it: near-straight legs (a white heading wander of
  0.5 deg per fix) at constant speed. Kept so older datasets and recipes can be rebuilt byte for
  byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from theta_cli.data import defaults as D


@dataclass(frozen=True)
class Mode:
    name: str
    speed: float  # typical cruise speed, m/s
    speed_sd: float  # spread of leg target speeds, m/s
    leg_s: tuple[float, float]  # range of straight-leg durations, s
    stop_p: float  # probability that a leg ends in a stop (lights, crossings, ...)
    stop_s: tuple[float, float]  # range of stop durations, s
    accel_s: int  # seconds to ramp between speeds
    turn_rate: float  # max heading rate in a turn, deg/s
    # The curvy model only: curvature (heading rate) and relative speed wander within a leg.
    curve_sd: float  # stationary std of the heading rate, deg/s
    curve_tau: float  # its correlation time, s
    speed_cv: float  # stationary std of speed / target speed
    speed_tau: float  # its correlation time, s


# Curvature: heading spread over a minute ~ curve_sd * sqrt(2 * curve_tau * 60): about 50 deg for
# a meandering walker, 50 deg for a cyclist, 40 deg for a car (curvy roads, radius ~700 m at
# 1 sigma and 12 m/s). Each agent scales curve_sd by its own factor in [0.25, 1.5].
MODES: tuple[Mode, ...] = (
    Mode("walk", 1.4, 0.2, (30.0, 180.0), 0.15, (5.0, 40.0), 2, 45.0, 2.0, 5.0, 0.10, 10.0),
    Mode("cycle", 5.0, 1.0, (20.0, 120.0), 0.20, (5.0, 30.0), 4, 30.0, 1.5, 10.0, 0.12, 15.0),
    Mode("drive", 12.0, 4.0, (15.0, 90.0), 0.30, (10.0, 45.0), 8, 15.0, 1.0, 15.0, 0.15, 20.0),
)
MODE_WEIGHTS = (0.3, 0.3, 0.4)
MOTIONS = D.MOTIONS
DEFAULT_MOTION = D.MOTION
#: regular: a 1 Hz receiver (jitter, lost fixes); smart: Garmin-style "smart recording", a fix
#: kept every 1-8 s (random whole steps, then the same jitter). ``make_track`` draws "filled"
#: exactly as "smart"; synth then fills the steps (see ``synth.filled_frame``).
SAMPLINGS = ("regular", "smart", "filled")
SMART_MAX_STEP = 8


@dataclass(frozen=True)
class Track:
    mode: str
    times: np.ndarray  # seconds since the agent's start, increasing, jittered
    east: np.ndarray  # metres from the dataset centre
    north: np.ndarray
    # The path itself, one point per whole second from the start: the truth between fixes.
    path_e: np.ndarray | None = None
    path_n: np.ndarray | None = None

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """East and north of the path at times ``t`` (seconds since the start)."""
        if self.path_e is None or self.path_n is None:
            raise ValueError("this track carries no path")
        grid_t = np.arange(len(self.path_e), dtype=np.float64)
        return np.interp(t, grid_t, self.path_e), np.interp(t, grid_t, self.path_n)


def ou(n: int, sigma: float, tau: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` 1 Hz samples of a stationary Ornstein-Uhlenbeck process (std ``sigma``, correlation
    time ``tau`` seconds): x_i = phi x_(i-1) + sqrt(1 - phi^2) sigma e_i, phi = exp(-1 / tau)."""
    phi = float(np.exp(-1.0 / tau))
    eps = rng.normal(0.0, 1.0, size=n)
    # lfilter runs the recursion in C; x_0 is drawn from the stationary law itself.
    drive = eps * (sigma * np.sqrt(1.0 - phi * phi))
    drive[0] = eps[0] * sigma
    return lfilter([1.0], [1.0, -phi], drive)


def _legs(mode: Mode, seconds: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-second target speed and heading rate (rad/s) for ``seconds`` seconds."""
    speed = np.empty(0)
    rate = np.empty(0)
    while len(speed) < seconds:
        leg = int(rng.uniform(*mode.leg_s))
        target = max(0.3 * mode.speed, rng.normal(mode.speed, mode.speed_sd))
        # Cruise: heading wanders slowly (road curvature, a walker's drift).
        wander = rng.normal(0.0, np.deg2rad(0.5), size=leg)
        parts_s = [np.full(leg, target)]
        parts_r = [wander]
        if rng.random() < mode.stop_p:
            stop = int(rng.uniform(*mode.stop_s))
            parts_s.append(np.zeros(stop))
            parts_r.append(np.zeros(stop))
        # Turn: 20..120 degrees either way at the mode's turn rate, slowing down a little.
        angle = np.deg2rad(rng.uniform(20.0, 120.0)) * rng.choice((-1.0, 1.0))
        turn_s = max(1, int(np.ceil(abs(np.rad2deg(angle)) / mode.turn_rate)))
        parts_s.append(np.full(turn_s, 0.6 * target))
        parts_r.append(np.full(turn_s, angle / turn_s))
        speed = np.concatenate([speed, *parts_s])
        rate = np.concatenate([rate, *parts_r])
    return speed[:seconds], rate[:seconds]


def make_track(
    n_fixes: int,
    rng: np.random.Generator,
    radius: float,
    jitter_s: float,
    missing_rate: float,
    mode: Mode | None = None,
    motion: str = DEFAULT_MOTION,
    sampling: str = "regular",
) -> Track:
    """One agent: ``n_fixes`` fixes of a clean track starting within ``radius`` of the centre."""
    if motion not in MOTIONS:
        raise ValueError(f"motion {motion!r}: expected one of {', '.join(MOTIONS)}")
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling {sampling!r}: expected one of {', '.join(SAMPLINGS)}")
    if mode is None:
        mode = MODES[int(rng.choice(len(MODES), p=MODE_WEIGHTS))]
    # Enough 1 Hz seconds that n_fixes survive the dropped fixes (5 % + 64 s of margin); smart
    # recording keeps at least one fix in SMART_MAX_STEP seconds.
    seconds = int(n_fixes / (1.0 - missing_rate) * 1.05) + 64
    if sampling != "regular":
        seconds = n_fixes * SMART_MAX_STEP + 64
    target, rate = _legs(mode, seconds, rng)
    if motion == "curvy":
        # Curvature and speed wander only while moving: a stopped agent keeps its heading.
        moving = target > 0.0
        # Each agent's own road network: from near-straight streets (x0.25) to winding paths.
        curviness = float(np.exp(rng.uniform(np.log(0.25), np.log(1.5))))
        curve_sd = mode.curve_sd * curviness
        rate = rate + moving * np.deg2rad(ou(seconds, curve_sd, mode.curve_tau, rng))
        wobble = np.clip(1.0 + ou(seconds, mode.speed_cv, mode.speed_tau, rng), 0.2, None)
        target = target * wobble
    kernel = np.ones(mode.accel_s) / mode.accel_s
    speed = np.convolve(np.concatenate([np.full(mode.accel_s, target[0]), target]), kernel)
    speed = speed[mode.accel_s : mode.accel_s + seconds]
    heading = rng.uniform(0.0, 2.0 * np.pi) + np.cumsum(rate)
    # Positions on the integer-second grid (x[0] is the start point).
    step_e = speed * np.sin(heading)
    step_n = speed * np.cos(heading)
    r0 = radius * np.sqrt(rng.random())
    a0 = rng.uniform(0.0, 2.0 * np.pi)
    grid_e = r0 * np.sin(a0) + np.concatenate([[0.0], np.cumsum(step_e)])
    grid_n = r0 * np.cos(a0) + np.concatenate([[0.0], np.cumsum(step_n)])
    grid_t = np.arange(seconds + 1, dtype=np.float64)
    # 1 Hz receiver: each fix is a little late or early, and some fixes never arrive.
    if sampling != "regular":
        at = np.cumsum(rng.integers(1, SMART_MAX_STEP + 1, size=n_fixes)) - 1
        keep = np.zeros(seconds + 1, dtype=bool)
        keep[at[at <= seconds]] = True
    else:
        keep = rng.random(seconds + 1) >= missing_rate
    t = grid_t[keep] + np.clip(rng.normal(0.0, jitter_s, size=int(keep.sum())), -0.45, 0.45)
    t = np.maximum.accumulate(np.clip(t, 0.0, None))[:n_fixes]
    return Track(
        mode=mode.name,
        times=t,
        east=np.interp(t, grid_t, grid_e),
        north=np.interp(t, grid_t, grid_n),
        path_e=grid_e,
        path_n=grid_n,
    )
