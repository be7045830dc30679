"""Constant-velocity Kalman filter + Rauch–Tung–Striebel smoother in 2-D ENU, vectorised across
tracks (and across parameter sets, for tuning), with optional innovation gating.

Model, per track, with each step's own time difference dt (irregular sampling and gaps):
    state  [e, n, ve, vn]        x_k = F x_{k-1} + w,  F = [[I, dt I], [0, I]]
    fix    [e, n] = H x_k + v,   H = [I 0],  v ~ N(0, r² I)
    w ~ N(0, Q),  Q = q [[dt³/3, dt²/2], [dt²/2, dt]] per axis (continuous white-noise
    acceleration of spectral density q, m²/s³)
F, Q, H and R act identically and separately on the east and north axes, and so does the
initial covariance, so the 4x4 covariance is block-diagonal with two equal 2x2 [pos, vel]
blocks. Only that 2x2 block is carried (entries a, b, c), and the means of both axes share its
gains: the exact 4x4 recursion, at a fraction of its cost. Gating keeps this structure because
it accepts or drops a whole 2-D fix, with S = (a + r²) I.

Start: the first fix with covariance diag(r², v0_sigma²) and zero velocity, the limit of an
uninformative position prior updated with that fix (so the first fix is never gated).

Batches are time-major: arrays [T, ...] hold one step in a contiguous row, and the loop runs
over time steps only. Tracks are padded at the end to a common length; a padded step has
dt = 0 and no fix, so it leaves the filter untouched, and the backward pass keeps the filtered
state wherever the next step is padding: padded steps do not change any result.
Parameters broadcast against the track axis: q, r, gate of shape [P, 1] run P parameter sets
on every track of the batch at once (how ``tuning`` evaluates a grid).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from theta_cli.core.errors import ThetaError
from theta_cli.smooth.series import Series

V0_SIGMA = 30.0
"""Prior std of the initial velocity, m/s: wide enough for a car, so the first fixes decide."""

MAX_REJECTS = 3
"""Consecutive gated fixes after which fixes are taken again until one passes the gate."""

CELL_BUDGET = 2_000_000
"""Most (time step x track x parameter set) cells in one recursion: 10 float64 each, 160 MB."""


def gate_threshold(p: float | np.ndarray) -> np.ndarray:
    """Chi-square quantile with 2 dof at probability p: -2 ln(1 - p) (closed form for 2 dof)."""
    p = np.asarray(p, dtype=np.float64)
    if not ((p > 0) & (p < 1)).all():
        raise ThetaError(f"gate: probability must be in (0, 1), got {p}")
    return -2.0 * np.log1p(-p)


@dataclass(frozen=True)
class Padded:
    """Tracks padded at the end to a common length T, time-major.

    z [T, 2, B] fixes (0 on padding), dt [T, B] seconds since the previous fix (0 at the first
    step and on padding), mask [T, B] True on real steps, lengths [B].
    """

    z: np.ndarray
    dt: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of(cls, tracks: Sequence[Series]) -> Padded:
        lengths = np.array([len(tr) for tr in tracks], dtype=np.int64)
        steps = int(lengths.max(initial=0))
        z = np.zeros((steps, 2, len(tracks)))
        dt = np.zeros((steps, len(tracks)))
        for j, tr in enumerate(tracks):
            n = len(tr)
            z[:n, :, j] = tr.xy
            dt[1:n, j] = np.diff(tr.t)
        mask = np.arange(steps)[:, None] < lengths[None, :]
        return cls(z, dt, mask, lengths)

    def unpad(self, pos: np.ndarray) -> list[np.ndarray]:
        """[T, 2, B] -> one [n, 2] array per track."""
        return [np.ascontiguousarray(pos[:n, :, j]) for j, n in enumerate(self.lengths)]


def groups(lengths: Sequence[int], budget: int = CELL_BUDGET) -> Iterator[list[int]]:
    """Indices of tracks to pad together: longest first, a group closes when its padded cells
    would exceed ``budget`` or a track is under half the group's length (so padding wastes at
    most half of a group, whatever the mix of lengths)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    group: list[int] = []
    for i in order:
        if group:
            longest = lengths[group[0]]
            if (len(group) + 1) * longest > budget or 2 * lengths[i] < longest:
                yield group
                group = []
        group.append(i)
    if group:
        yield group


@dataclass(frozen=True)
class Smoothed:
    """Smoother output for a padded batch: positions [T, 2, *S] and, when asked for, the
    posterior std of each position coordinate [T, *S] (S = parameter shape x tracks)."""

    pos: np.ndarray
    pos_std: np.ndarray | None
    accepted: np.ndarray  # [T, *S] bool: the fix was used (False on padding and when gated)


def predict(x, v, a, b, c, dt, q_):  # noqa: ANN001, ANN201 (arrays of the caller's shapes)
    """One constant-velocity prediction over ``dt``: the position moves by dt·v, and the per-axis
    covariance [[a, b], [b, c]] (position, cross, velocity) grows by F P F' + Q with the white
    acceleration density ``q_``. The velocity itself is unchanged."""
    x = x + dt * v
    qdt = q_ * dt
    a = a + dt * (2.0 * b + dt * c) + qdt * dt * dt / 3.0
    b = b + dt * c + qdt * dt / 2.0
    c = c + qdt
    return x, a, b, c


def update(x, v, a, b, c, y, s, ok):  # noqa: ANN001, ANN201 (arrays of the caller's shapes)
    """The measurement update with innovation ``y`` and its variance ``s`` = a + r² (per axis),
    where ``ok`` (a fix is taken); elsewhere the state and covariance stay as predicted.
    Returns x, v, a, b, c."""
    k0 = np.where(ok, a / s, 0.0)
    k1 = np.where(ok, b / s, 0.0)
    return x + k0 * y, v + k1 * y, a - k0 * a, b - k0 * b, c - k1 * b


def smooth_padded(
    batch: Padded,
    q: float | np.ndarray,
    r: float | np.ndarray,
    gate: float | np.ndarray | None = None,
    *,
    max_rejects: int = MAX_REJECTS,
    v0_sigma: float = V0_SIGMA,
    with_std: bool = False,
    skip: np.ndarray | None = None,
) -> Smoothed:
    """Forward filter + RTS backward pass over a padded batch.

    ``q`` (m²/s³), ``r`` (m) and ``gate`` (a chi-square threshold on the squared Mahalanobis
    distance of the innovation, see :func:`gate_threshold`; None = no gating) broadcast against
    the track axis [B]. A gated fix is dropped, and after ``max_rejects`` gated fixes in a row
    fixes are taken again until one passes: see :func:`robust_rts_smooth`. ``skip`` (bool,
    broadcasting against [T, *params, B]) marks fixes known to be outliers: they are not used,
    like a gated fix, but their steps still count as real ones (``adaptive`` marks them).
    """
    # A numerical kernel, kept as one function (over the 80-line limit) on purpose: the forward
    # and backward passes share a dozen vectorised [steps, *params, tracks] state arrays (means,
    # filtered and predicted covariances, the broadcast parameters and masks), and the backward
    # pass overwrites the forward pass's arrays in place. Split into functions, that state would
    # travel as long argument lists or a holder object, which hides the recurrences this reads
    # as, for no reuse (nothing else runs either pass alone).
    steps, _, n_tracks = batch.z.shape
    q_, r_ = np.asarray(q, dtype=np.float64), np.asarray(r, dtype=np.float64)
    if (q_ < 0).any() or (r_ <= 0).any():
        raise ThetaError(f"rts: need q >= 0 and r > 0, got q={q}, r={r}")
    g_ = None if gate is None else np.asarray(gate, dtype=np.float64)
    shape = np.broadcast_shapes(q_.shape, r_.shape, () if g_ is None else g_.shape, (n_tracks,))
    lead = (1,) * (len(shape) - 1)  # parameter axes, against which the track data broadcasts
    r2 = r_ * r_
    z = batch.z.reshape((steps, 2, *lead, n_tracks))
    dt_all = batch.dt.reshape((steps, *lead, n_tracks))
    mask = batch.mask.reshape((steps, *lead, n_tracks))
    use = mask if skip is None else mask & ~np.asarray(skip, dtype=bool)

    # Stored for the backward pass: filtered means and covariances, and each step's predicted
    # covariance (the smoother's gain needs its inverse).
    pos = np.empty((steps, 2, *shape))
    vel = np.empty((steps, 2, *shape))
    pa, pb, pc = (np.empty((steps, *shape)) for _ in range(3))
    qa, qb, qc = (np.empty((steps, *shape)) for _ in range(3))
    accepted = np.empty((steps, *shape), dtype=bool)
    if steps == 0:
        return Smoothed(pos, np.empty((0, *shape)) if with_std else None, accepted)

    x = np.broadcast_to(z[0], (2, *shape)).copy()
    v = np.zeros((2, *shape))
    a = np.broadcast_to(r2, shape).copy()
    b = np.zeros(shape)
    c = np.full(shape, v0_sigma * v0_sigma)
    qa[0], qb[0], qc[0] = a, b, c
    pos[0], vel[0], pa[0], pb[0], pc[0] = x, v, a, b, c
    accepted[0] = mask[0]  # the start: taken even where skip marks it (there is no prior)
    run = np.zeros(shape, dtype=np.int64)  # consecutive gated fixes, per track and parameter set
    for k in range(1, steps):
        dt = dt_all[k]
        x, a, b, c = predict(x, v, a, b, c, dt, q_)
        qa[k], qb[k], qc[k] = a, b, c
        # Update with the fix, unless it is padding or fails the gate. S = (a + r²) I.
        s = a + r2
        y = z[k] - x
        ok = np.broadcast_to(use[k], shape)
        if g_ is not None:
            passed = y[0] * y[0] + y[1] * y[1] <= g_ * s
            ok = ok & (passed | (run >= max_rejects))
            run = np.where(use[k] & ~passed, run + 1, np.where(passed, 0, run))
        x, v, a, b, c = update(x, v, a, b, c, y, s, ok)
        pos[k], vel[k], pa[k], pb[k], pc[k] = x, v, a, b, c
        accepted[k] = ok

    # Backward (RTS): x_s[k] = x_f[k] + G (x_s[k+1] - F x_f[k]),  G = P_f[k] Fᵀ P_pred[k+1]⁻¹.
    # Written in place over the filtered arrays: step k only needs its own filtered values.
    if with_std:
        sa, sb, sc = pa[-1].copy(), pb[-1].copy(), pc[-1].copy()
        std = np.empty((steps, *shape))
        std[-1] = np.sqrt(sa)
    for k in range(steps - 2, -1, -1):
        dt = dt_all[k + 1]
        a, b, c = pa[k], pb[k], pc[k]
        ap, bp, cp = qa[k + 1], qb[k + 1], qc[k + 1]
        det = ap * cp - bp * bp
        m00, m10 = a + b * dt, b + c * dt  # P_f Fᵀ = [[m00, b], [m10, c]]
        g00 = (m00 * cp - b * bp) / det
        g01 = (b * ap - m00 * bp) / det
        g10 = (m10 * cp - c * bp) / det
        g11 = (c * ap - m10 * bp) / det
        real = mask[k + 1]
        dx = pos[k + 1] - (pos[k] + dt * vel[k])
        dv = vel[k + 1] - vel[k]
        pos[k] = np.where(real, pos[k] + g00 * dx + g01 * dv, pos[k])
        vel[k] = np.where(real, vel[k] + g10 * dx + g11 * dv, vel[k])
        if with_std:
            # P_s[k] = P_f[k] + G (P_s[k+1] - P_pred[k+1]) Gᵀ
            d00, d01, d11 = sa - ap, sb - bp, sc - cp
            u0, u1 = g00 * d00 + g01 * d01, g00 * d01 + g01 * d11
            w0, w1 = g10 * d00 + g11 * d01, g10 * d01 + g11 * d11
            sa = np.where(real, a + g00 * u0 + g01 * u1, a)
            sb = np.where(real, b + g10 * u0 + g11 * u1, b)
            sc = np.where(real, c + g10 * w0 + g11 * w1, c)
            std[k] = np.sqrt(sa)
    return Smoothed(pos, std if with_std else None, accepted)


def smooth_groups(
    tracks: Sequence[Series], budget: int, run: Callable[[Padded], Smoothed]
) -> Iterator[tuple[list[int], Padded, Smoothed]]:
    """The tracks padded together in ``groups`` (within ``budget`` cells) and smoothed by
    ``run``, one group at a time: (track indices, the padded batch, its result)."""
    for idx in groups([len(tr) for tr in tracks], budget):
        batch = Padded.of([tracks[i] for i in idx])
        yield idx, batch, run(batch)


def estimates(
    tracks: Sequence[Series], budget: int, run: Callable[[Padded], Smoothed]
) -> list[np.ndarray]:
    """One [n, 2] estimate per track, in the order given, from ``smooth_groups``."""
    out: list[np.ndarray] = [np.empty((0, 2))] * len(tracks)
    for idx, batch, res in smooth_groups(tracks, budget, run):
        for i, est in zip(idx, batch.unpad(res.pos), strict=True):
            out[i] = est
    return out


def _apply(
    tracks: Sequence[Series],
    q: float,
    r: float,
    gate: float | None,
    budget: int,
    max_rejects: int = MAX_REJECTS,
) -> list[np.ndarray]:
    return estimates(tracks, budget,
                     lambda batch: smooth_padded(batch, q, r, gate, max_rejects=max_rejects))


def rts_smooth(
    tracks: Sequence[Series], q: float = 1.0, r: float = 5.0, *, budget: int = CELL_BUDGET
) -> list[np.ndarray]:
    """Constant-velocity RTS smoother: one [n, 2] ENU estimate per track.

    ``q`` is the white-acceleration spectral density (m²/s³), ``r`` the fix std (m).
    """
    return _apply(tracks, q, r, None, budget)


def robust_rts_smooth(
    tracks: Sequence[Series],
    q: float = 1.0,
    r: float = 5.0,
    gate: float = 0.99,
    *,
    max_rejects: int = MAX_REJECTS,
    budget: int = CELL_BUDGET,
) -> list[np.ndarray]:
    """RTS smoother with innovation gating against outlier fixes.

    A fix whose innovation y has squared Mahalanobis distance yᵀ S⁻¹ y above the chi-square
    quantile (2 dof) at probability ``gate`` is dropped: the filter coasts through it and the
    backward pass interpolates across it, so a spike moves nothing. Dropping rather than
    down-weighting (inflating R) because a GNSS outlier carries no usable position, and a
    down-weighted 50 m spike still drags its neighbours.

    Hard gating has one known failure: after a real manoeuvre (a sharp turn at speed) every
    fix fails the gate, the filter coasts straight on and locks out, since its covariance only
    grows as q dt³. On turning synthetic tracks that gave errors of hundreds of metres. So after
    ``max_rejects`` consecutive gated fixes, fixes are taken again until one passes the gate: a
    burst of up to ``max_rejects`` outliers is still removed, a persistent offset is not
    outliers but the track. The first fix is never gated (there is nothing to test it against).
    """
    if max_rejects < 0:
        raise ThetaError(f"robust rts: max_rejects must be >= 0, got {max_rejects}")
    return _apply(tracks, q, r, float(gate_threshold(gate)), budget, max_rejects)
