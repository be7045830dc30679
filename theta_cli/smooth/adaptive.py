"""Adaptive RTS: the constant-velocity RTS smoother of ``kalman`` with q chosen per track, and
outliers found by a forward gate and confirmed (or cleared) by a two-sided residual test.

Everything is computed from the noisy fixes and their times; ``clean`` is never read.

q per track. Walkers want q near 0.01 m²/s³, cars near 1: one tuned q fits neither. For every
candidate q the forward filter runs over the track and scores its innovations by their Gaussian
log-likelihood, -ln s - d²/2 per fix (S = s I, d² the squared Mahalanobis distance); the
candidate with the highest total is the track's q. The term is truncated at the gate, d² ->
min(d², gate), so an outlier costs every q the same bounded amount instead of buying a large q
that follows it. The filter here re-acquires only after ``SELECT_REJECTS`` gated fixes in a row:
a q too small for a manoeuvring track then loses the track and pays for the growing s, while a
burst of outliers on a calm track does not pull the state (nor, through it, the score).

Outliers. A first pass is robust RTS (gate, re-acquire after ``kalman.MAX_REJECTS``) at the
track's q. Its re-acquire rule lets the 4th and later fixes of a burst in. So the marks are then
refined, ``refine`` times: every fix is tested against the smoothed track of the other fixes
(the marked ones left out), from both sides, and marked when it fails the same chi-square gate;
the track is smoothed again with the new marks. For a fix the smoother used, its leave-one-out
residual needs no extra pass: with e = z - x_s and the smoothed position variance a_s (per
axis), z - x_{s,-i} = e / (1 - a_s / r²) with variance r⁴ / (r² - a_s), so d² = |e|² / (r² -
a_s). For a marked fix the smoothed track already leaves it out: d² = |e|² / (r² + a_s). A real
manoeuvre, which the forward gate also rejects, is followed by the fixes after it, and the
two-sided test clears it; a burst stays marked as long as fixes outside it pin the track.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theta_cli.core.errors import ThetaError
from theta_cli.smooth.kalman import (
    CELL_BUDGET,
    V0_SIGMA,
    Padded,
    Smoothed,
    estimates,
    gate_threshold,
    predict,
    smooth_padded,
    update,
)
from theta_cli.smooth.series import Series

Q_CANDIDATES = tuple(10.0 ** (k / 4) for k in range(-12, 9))
"""Per-track q candidates, m²/s³: 1e-3 .. 1e2 in quarter decades (the likelihood is flat to a
few percent of the error within a quarter decade)."""

SELECT_REJECTS = 10
"""Gated fixes in a row after which the q-selecting filter takes fixes again."""

REFINE = 2
"""Two-sided refinements of the outlier marks after the forward gate."""


def adaptive_rts_smooth(
    tracks: Sequence[Series],
    r: float = 5.0,
    gate: float | None = 0.99,
    *,
    q_grid: Sequence[float] = Q_CANDIDATES,
    refine: int = REFINE,
    budget: int = CELL_BUDGET,
) -> list[np.ndarray]:
    """One [n, 2] ENU estimate per track. ``r`` is the fix std (m), ``gate`` the probability of
    the chi-square outlier test (None: no outlier handling, q is still chosen per track)."""
    if refine < 0:
        raise ThetaError(f"adaptive rts: refine must be >= 0, got {refine}")
    thr = None if gate is None else float(gate_threshold(gate))
    return estimates(tracks, budget,
                     lambda batch: adaptive_padded(batch, r, thr, q_grid=q_grid, refine=refine))


def adaptive_padded(
    batch: Padded,
    r: float | np.ndarray,
    gate: float | np.ndarray | None,
    *,
    q_grid: Sequence[float] = Q_CANDIDATES,
    refine: int = REFINE,
) -> Smoothed:
    """Adaptive RTS over a padded batch. ``r`` and ``gate`` (a chi-square threshold, see
    ``kalman.gate_threshold``; None = no outlier handling) broadcast against the track axis, as
    in ``kalman.smooth_padded``: [P, 1] runs P parameter sets at once."""
    q = select_q(batch, r, gate, q_grid)
    if gate is None:
        return smooth_padded(batch, q, r)
    res = smooth_padded(batch, q, r, gate, with_std=True)
    skip = ~res.accepted
    r2 = np.asarray(r, dtype=np.float64) ** 2
    lead = (1,) * (res.pos.ndim - 3)  # parameter axes, as in kalman.smooth_padded
    z = batch.z.reshape(batch.z.shape[:2] + lead + batch.z.shape[2:])
    padding = ~batch.mask.reshape(batch.mask.shape[:1] + lead + batch.mask.shape[1:])
    for i in range(refine):
        assert res.pos_std is not None
        e = z - res.pos
        e2 = e[:, 0] ** 2 + e[:, 1] ** 2
        var = res.pos_std**2
        # Leave-one-out variance of the residual: r² - a_s for a used fix, r² + a_s for a
        # skipped one (see the module docstring). The floor only guards rounding: a_s < r².
        denom = np.where(skip, r2 + var, np.maximum(r2 - var, 1e-9 * r2))
        marks = (e2 > np.asarray(gate) * denom) | padding  # padding: as the gate left it
        if np.array_equal(marks, skip):
            break  # settled: the smoothed track is already the one of these marks
        skip = marks
        res = smooth_padded(batch, q, r, with_std=i + 1 < refine, skip=skip)
    return res


def select_q(
    batch: Padded,
    r: float | np.ndarray,
    gate: float | np.ndarray | None,
    q_grid: Sequence[float] = Q_CANDIDATES,
) -> np.ndarray:
    """The q of ``q_grid`` with the highest (gate-truncated) innovation log-likelihood, per
    track and parameter set: shape of r and gate broadcast against [B]."""
    grid = np.asarray(q_grid, dtype=np.float64)
    if grid.ndim != 1 or len(grid) == 0 or (grid < 0).any():
        raise ThetaError(f"adaptive rts: q grid must be non-negative values, got {q_grid}")
    if len(grid) == 1:
        shape = np.broadcast_shapes(
            np.shape(r), () if gate is None else np.shape(gate), batch.lengths.shape
        )
        return np.full(shape, grid[0])
    lead = max(np.ndim(r), 0 if gate is None else np.ndim(gate), 1)  # grid axis goes first
    ll = innovation_loglik(batch, grid.reshape((-1,) + (1,) * lead), r, gate)
    return grid[np.argmax(ll, axis=0)]


def innovation_loglik(
    batch: Padded,
    q: float | np.ndarray,
    r: float | np.ndarray,
    gate: float | np.ndarray | None,
    *,
    max_rejects: int = SELECT_REJECTS,
    v0_sigma: float = V0_SIGMA,
) -> np.ndarray:
    """Sum over each track's fixes of -ln s - min(d², gate) / 2 (the 2-D Gaussian innovation
    log-likelihood less its constant, truncated at the gate) of the forward filter that
    ``kalman.smooth_padded`` runs; shape: q, r, gate broadcast against [B]."""
    steps, _, n_tracks = batch.z.shape
    q_, r_ = np.asarray(q, dtype=np.float64), np.asarray(r, dtype=np.float64)
    g_ = None if gate is None else np.asarray(gate, dtype=np.float64)
    shape = np.broadcast_shapes(q_.shape, r_.shape, () if g_ is None else g_.shape, (n_tracks,))
    lead = (1,) * (len(shape) - 1)
    z = batch.z.reshape((steps, 2, *lead, n_tracks))
    dt_all = batch.dt.reshape((steps, *lead, n_tracks))
    mask = batch.mask.reshape((steps, *lead, n_tracks))
    r2 = r_ * r_
    ll = np.zeros(shape)
    if steps == 0:
        return ll
    x = np.broadcast_to(z[0], (2, *shape)).copy()
    v = np.zeros((2, *shape))
    a = np.broadcast_to(r2, shape).copy()
    b = np.zeros(shape)
    c = np.full(shape, v0_sigma * v0_sigma)
    run = np.zeros(shape, dtype=np.int64)
    for k in range(1, steps):
        dt = dt_all[k]
        x, a, b, c = predict(x, v, a, b, c, dt, q_)
        s = a + r2
        y = z[k] - x
        d2 = (y[0] * y[0] + y[1] * y[1]) / s
        ok = np.broadcast_to(mask[k], shape)
        if g_ is not None:
            passed = d2 <= g_
            ok = ok & (passed | (run >= max_rejects))
            run = np.where(mask[k] & ~passed, run + 1, np.where(passed, 0, run))
            d2 = np.minimum(d2, g_)
        ll -= np.where(mask[k], np.log(s) + 0.5 * d2, 0.0)
        x, v, a, b, c = update(x, v, a, b, c, y, s, ok)
    return ll
