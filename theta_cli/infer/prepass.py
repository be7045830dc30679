"""The outlier pre-pass: gross outliers are taken out before the model sees a track.

The model was trained on bursts of 1-3 fixes; a multipath burst of 5-10 fixes tens of metres
off drags its whole neighbourhood. Measured with the built-in model (``benchmarks/prepass.py
--agents 60``, 1 step; median / p95 within 10 fixes of a noise jump): on synth bursts of 1-10
fixes at 10-100 m, 5.34 / 63.49 m for the plain model, 3.92 / 26.25 m with this pre-pass,
4.08 / 23.85 m for adaptive RTS alone; at the synth defaults 3.96 / 8.60 -> 3.63 / 7.87 m
(adaptive RTS 3.71 / 7.99 m). Overall it is better at both (+0.2-1.8%).

The p95 stays above adaptive RTS's next to long bursts because the smoother marks only part of
a long burst (about 85% of the fixes of 5-6-fix bursts, about 55% of 9-10-fix ones; more
refinement passes do not raise that): the marked fixes, moved onto a track the unmarked ones
still pull, look to the model like real motion. (A model trained on bursts of up to 12 fixes
rejects a whole raw burst itself, p95 9.1 m there without the pre-pass, but it moves
noise-free curves under 5-8 s steps further than issue 20's bounds allow, so it is not the
built-in one; see the built-in MODEL_CARD.md.)

Adaptive RTS (``smooth.adaptive``: q per
segment by the innovation likelihood, a forward chi-square gate confirmed by a two-sided
residual test) marks the outliers of every segment, and each marked fix is replaced by the
smoother's position there before chunking. Unmarked fixes are untouched, so a track without
outliers goes to the model exactly as it was read.

``R_M`` and the first of ``GATES`` are adaptive RTS's parameters as bench tunes them on the
synth defaults (r 8 m, gate 0.9); the gate is loose on purpose: a fix it wrongly marks is only
moved onto the smoothed path, which the model then refines like any other. But a loose gate
can lose the track on sparse sampling (1-8 s smart recording: a quarter of the fixes marked and
moved hundreds of metres), so every piece's result is checked (``_trusted``) and a piece that
fails is redone at a stricter gate, or left as it was read.

Long segments are smoothed in pieces of about ``PIECE`` fixes (a 1,000,000-fix segment would
otherwise hold its whole q grid in memory at once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theta_cli.infer.segments import SegmentPlan
from theta_cli.smooth.adaptive import adaptive_padded
from theta_cli.smooth.kalman import CELL_BUDGET, gate_threshold, smooth_groups
from theta_cli.tracks.enu import from_enu, to_enu
from theta_cli.tracks.points import Points

R_M = 8.0
#: Gates tried in turn: a piece whose smoothing fails the sanity test at one is redone at the
#: next (stricter) one, and left as it is if it fails them all.
GATES = (0.9, 0.99)
#: A piece is trusted when at most this share of its fixes is marked and the smoothed track
#: stays within ``2 * R_M`` (median) of the fixes it kept. Real outliers are under 5% of fixes
#: even in the heavy synth setting (3.7% marked); a smoother that lost the track marks a
#: quarter of them (seen at gate 0.9 on 1-8 s smart recording) and puts them hundreds of metres
#: off.
MAX_MARKED = 0.05
PIECE = 4096
#: Cells (fixes x parameter sets) per smoothing group: adaptive RTS keeps its q candidates
#: side by side, so a group holds about this many fixes x 21.
BUDGET = CELL_BUDGET // 8


@dataclass(frozen=True)
class _Piece:
    t: np.ndarray
    xy: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


def _pieces(plan: SegmentPlan) -> list[np.ndarray]:
    """Point indices (time order) of every piece of every segment."""
    out = []
    for s in range(plan.n_segments):
        idx = plan.order[plan.bounds[s] : plan.bounds[s + 1]]
        out.extend(np.array_split(idx, max(1, -(-len(idx) // PIECE))))
    return out


def _trusted(xy: np.ndarray, pos: np.ndarray, bad: np.ndarray) -> bool:
    if bad.mean() > MAX_MARKED:
        return False
    kept = ~bad
    return bool(np.median(np.hypot(*(xy[kept] - pos[kept]).T)) < 2.0 * R_M)


def _mark(series: list[_Piece], gate: float) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per piece: (marked fixes, smoothed positions), or None where the smoothing is not
    trusted (``_trusted``)."""
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(series)
    thr = float(gate_threshold(gate))
    for group, batch, res in smooth_groups(series, BUDGET, lambda b: adaptive_padded(b, R_M, thr)):
        for j, (g, pos) in enumerate(zip(group, batch.unpad(res.pos), strict=True)):
            bad = ~res.accepted[: len(series[g]), j]
            if _trusted(series[g].xy, pos, bad):
                out[g] = (bad, pos)
    return out


def replace_outliers(p: Points, plan: SegmentPlan) -> tuple[Points, np.ndarray]:
    """``p`` with the outliers of every segment of ``plan`` replaced by adaptive RTS's position
    there, and the indices of the replaced points (sorted)."""
    pieces = _pieces(plan)
    if not pieces:
        return p, np.zeros(0, dtype=np.int64)
    series = [_Piece(p.time[ix], to_enu(p.lat[ix], p.lon[ix], p.lat[ix[0]], p.lon[ix[0]]))
              for ix in pieces]  # fmt: skip
    found: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(pieces)
    todo = list(range(len(pieces)))
    for gate in GATES:
        if not todo:
            break
        for i, got in zip(todo, _mark([series[i] for i in todo], gate), strict=True):
            found[i] = got
        todo = [i for i in todo if found[i] is None]
    lat, lon = p.lat.copy(), p.lon.copy()
    replaced: list[np.ndarray] = []
    for ix, got in zip(pieces, found, strict=True):
        if got is None or not got[0].any():
            continue
        bad, pos = got
        lat[ix[bad]], lon[ix[bad]] = from_enu(pos[bad, 0], pos[bad, 1], p.lat[ix[0]],
                                              p.lon[ix[0]])  # fmt: skip
        replaced.append(ix[bad])
    idx = np.sort(np.concatenate(replaced)) if replaced else np.zeros(0, dtype=np.int64)
    return Points(lat, lon, p.time, p.group, p.n_tracks), idx
