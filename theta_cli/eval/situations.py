"""Where on a track a point is: bench's situations, from the clean track and the known noise.

A method can win overall and lose where it matters (next to a multipath burst), or the other
way round; bench reports each method's error per situation so that shows. Every point gets one
situation, the first that applies, in this order:

    near_outlier  within ``OUTLIER_REACH`` fixes of a noise jump. The noise is noisy - clean
                  (known on bench's tracks); a jump is a step of it between consecutive fixes,
                  |Δnoise|, above ``JUMP_FACTOR`` x the track's median |Δnoise| and above
                  ``JUMP_MIN_M``. The median scales the threshold to the track's own jitter
                  (white noise of sigma s gives |Δnoise| of about 1.8 s), so a heavy-noise
                  track does not count its ordinary jitter as jumps; the floor in metres keeps a
                  near-noiseless track from counting centimetre steps. Both sides of an
                  outlier fix are jumps, so the whole burst and 10 fixes either side count.
    stop          clean speed below ``STOP_SPEED``
    turn          clean heading rate above ``TURN_RATE``: the heading is that of each step
                  between fixes, taken only where the step's speed exceeds ``STOP_SPEED``
                  (a heading at standstill is noise), and its change is divided by the real
                  time between the two steps' midpoints
    cruise        everything else

Speeds use the real time between fixes; a step of zero time (two fixes of one instant) has no
speed and leaves its points to the neighbouring step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theta_cli.core.errors import ThetaError
from theta_cli.eval.trajectory import Track

#: In precedence order (the first that applies wins); codes are the indices.
SITUATIONS = ("near_outlier", "stop", "turn", "cruise")
SITUATION_LABELS = {"near_outlier": "near an outlier", "stop": "stops", "turn": "turns",
                    "cruise": "cruise"}  # fmt: skip
STOP_SPEED = 0.5  # m/s
TURN_RATE = 0.1  # rad/s
OUTLIER_REACH = 10  # fixes either side of a jump
JUMP_FACTOR = 5.0  # x the track's median |Δnoise|
JUMP_MIN_M = 10.0


def label_track(t: np.ndarray, clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """int8 [n]: the situation code (index into ``SITUATIONS``) of each fix of one track."""
    n = len(t)
    out = np.full(n, SITUATIONS.index("cruise"), dtype=np.int8)
    if n < 2:
        return out
    dt = np.diff(t)
    step = np.diff(clean, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(dt > 0, np.hypot(step[:, 0], step[:, 1]) / dt, np.nan)  # per step
    # A fix's speed: the mean of the steps either side that have one.
    both = np.stack([np.r_[np.nan, speed], np.r_[speed, np.nan]])
    with np.errstate(invalid="ignore"):
        fix_speed = np.nanmean(np.where(np.isfinite(both), both, np.nan), axis=0)
    heading = np.where(speed > STOP_SPEED, np.arctan2(step[:, 1], step[:, 0]), np.nan)
    mid = (t[:-1] + t[1:]) / 2.0
    turn = np.zeros(n, dtype=bool)
    if n > 2:
        dh = np.angle(np.exp(1j * np.diff(heading)))  # wrapped to (-pi, pi]
        dtm = np.diff(mid)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(dtm > 0, np.abs(dh) / dtm, np.nan)
        turn[1:-1] = rate > TURN_RATE  # the turn between steps i-1 and i is at fix i
    out[turn] = SITUATIONS.index("turn")
    with np.errstate(invalid="ignore"):
        out[fix_speed < STOP_SPEED] = SITUATIONS.index("stop")
    out[near_jump(noisy - clean)] = SITUATIONS.index("near_outlier")
    return out


def near_jump(noise: np.ndarray) -> np.ndarray:
    """bool [n]: fixes within ``OUTLIER_REACH`` of a noise jump (see the module docstring)."""
    n = len(noise)
    d = np.hypot(*np.diff(noise, axis=0).T)
    if d.size == 0:
        return np.zeros(n, dtype=bool)
    jump = d > max(JUMP_FACTOR * float(np.median(d)), JUMP_MIN_M)  # step i: fixes i and i+1
    i = np.flatnonzero(jump)
    hit = np.zeros(n + 1, dtype=np.int64)  # a difference array: +1 where a reach starts
    np.add.at(hit, np.maximum(0, i - OUTLIER_REACH), 1)
    np.add.at(hit, np.minimum(n, i + 2 + OUTLIER_REACH), -1)  # -1 after fix i + 1 + reach
    return np.cumsum(hit[:n]) > 0


def label(tracks: Sequence[Track]) -> np.ndarray:
    """int8 codes of every fix of ``tracks``, end to end (bench's flat order)."""
    parts = []
    for tr in tracks:
        if tr.clean is None:  # bench's tracks always have a truth; be explicit if not
            raise ThetaError(f"track {tr.id}: situations need the clean track")
        parts.append(label_track(tr.t, tr.clean, tr.xy))
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int8)


def per_situation(errors: np.ndarray, codes: np.ndarray) -> dict[str, dict[str, float]]:
    """Points, median and p95 of ``errors`` in each situation that has points."""
    out: dict[str, dict[str, float]] = {}
    for k, name in enumerate(SITUATIONS):
        e = errors[codes == k]
        if e.size:
            med, p95 = np.percentile(e, [50, 95])
            out[name] = {"points": int(e.size), "median": float(med), "p95": float(p95)}
    return out
