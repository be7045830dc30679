"""Savitzky–Golay smoothing of a track's east and north, per track (``scipy.signal``), on time.

The classic filter assumes even sampling: its window counts points. GNSS fixes are not even
(dropped fixes, gaps, smart recording at 1-8 s), so each track is first resampled, by linear
interpolation, to an even grid of step ``grid_step(t)`` seconds spanning its first to its last
fix; the filter runs there with a window of ``window`` SECONDS (the odd number of grid points
nearest to it), and the result is interpolated back to the fix times. On a track at exactly
1 Hz the grid is the fixes themselves, so the filter is the classic one, point for point.
Interpolated grid points between two distant fixes carry no new information, and a window
spanning them counts them as if they did: across a long gap the filter draws the straight line
between the fixes either side, which is also what a constant-velocity smoother would do.

Ends use ``mode="interp"``: the polynomial fitted to the first (last) window gives the first
(last) half-window of points, rather than padding the track with invented points. Tracks are
filtered together (one convolution for all, see ``_filter_full``), with results equal to
``scipy.signal.savgol_filter`` per track.

Short tracks: a track whose grid is shorter than the window is filtered with the largest odd
window that fits it; when that window is not longer than ``order`` (no smoothing polynomial
fits), the track is passed through unchanged, as is a track whose fixes share one time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import convolve1d
from scipy.signal import savgol_coeffs

from theta_cli.core.errors import ThetaError
from theta_cli.eval.trajectory import Track


def fitted_window(n: int, window: int, order: int) -> int | None:
    """The window used on a track of ``n`` points, or None when it is passed through."""
    w = min(window, n if n % 2 else n - 1)
    return w if w > order else None


MAX_GRID_STEP = 1.0
"""Longest grid step, s: sparser tracks (smart recording) are resampled at 1 Hz, so the window
in seconds keeps its resolution; denser ones at their own median step, so no fix is lost."""


def grid_step(t: np.ndarray) -> float:
    """The resampling step of a track with fix times ``t``: its median positive time step, at
    most ``MAX_GRID_STEP`` (0 when its fixes share one time: nothing to resample)."""
    dt = np.diff(t)
    dt = dt[dt > 0]
    return float(min(np.median(dt), MAX_GRID_STEP)) if len(dt) else 0.0


def savgol_smooth(tracks: Sequence[Track], window: float = 9, order: int = 2) -> list[np.ndarray]:
    """One [n, 2] estimate per track: a degree-``order`` polynomial fitted by least squares over
    ``window`` seconds centred on each point, on the track's even time grid (module docstring).
    """
    if window < 1 or not 0 <= order < window:
        raise ThetaError(
            f"savgol: window must be >= 1 s and above order >= 0, got window={window}, "
            f"order={order}"
        )
    out: list[np.ndarray] = [np.empty((0, 2))] * len(tracks)
    grids: list[tuple[np.ndarray, np.ndarray]] = []
    by_window: dict[int | None, list[int]] = {}
    for i, tr in enumerate(tracks):
        grid, xy = _resampled(tr)
        grids.append((grid, xy))
        w = None
        if len(grid) > 1:
            w = fitted_window(len(grid), _odd_points(window / (grid[1] - grid[0])), order)
        by_window.setdefault(w, []).append(i)
    for w, idx in by_window.items():
        if w is None:
            ests = [tracks[i].xy.copy() for i in idx]
        else:
            ests = _filter_full([grids[i][1] for i in idx], w, order)
            ests = [_back(tracks[i].t, grids[i][0], est) for i, est in zip(idx, ests, strict=True)]
        for i, est in zip(idx, ests, strict=True):
            out[i] = est
    return out


def _odd_points(x: float) -> int:
    """The odd count of grid points nearest to ``x`` (at least 1)."""
    return max(1, 2 * int(np.floor((x - 1.0) / 2.0 + 0.5)) + 1)


def _resampled(tr: Track) -> tuple[np.ndarray, np.ndarray]:
    """The even time grid of a track and its positions there (linear interpolation); the fixes
    themselves when the grid would be them (even sampling), so the filter is the classic one."""
    h = grid_step(tr.t)
    if h == 0.0:
        return tr.t[:1], tr.xy[:1]
    span = tr.t[-1] - tr.t[0]
    m = int(round(span / h)) + 1
    grid = np.linspace(tr.t[0], tr.t[-1], m)
    if m == len(tr) and np.allclose(grid, tr.t, rtol=0, atol=1e-9 * max(1.0, span)):
        return tr.t, tr.xy
    t, xy = _distinct(tr.t, tr.xy)
    return grid, np.stack([np.interp(grid, t, xy[:, 0]), np.interp(grid, t, xy[:, 1])], 1)


def _distinct(t: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixes of one time merged into their mean (interpolation needs increasing times)."""
    keep = np.r_[True, np.diff(t) > 0]
    if keep.all():
        return t, xy
    group = np.cumsum(keep) - 1
    sums = np.zeros((int(group[-1]) + 1, 2))
    np.add.at(sums, group, xy)
    return t[keep], sums / np.bincount(group)[:, None]


def _back(t: np.ndarray, grid: np.ndarray, est: np.ndarray) -> np.ndarray:
    """The grid estimate at the fix times (linear interpolation; the grid spans them)."""
    if grid is t:
        return est
    return np.stack([np.interp(t, grid, est[:, 0]), np.interp(t, grid, est[:, 1])], 1)


def _filter_full(xys: list[np.ndarray], window: int, order: int) -> list[np.ndarray]:
    """``savgol_filter(xy, window, order, axis=0, mode="interp")`` of tracks at least ``window``
    long, all at once: one convolution over the tracks laid end to end (exact wherever the
    window stays inside one track), then each track's first and last half-window replaced by
    the polynomial fitted to its first and last window, as ``interp`` does. A per-track call
    costs far more than its arithmetic on the short tracks a val split can hold by thousands."""
    if not xys:
        return []
    lengths = np.array([len(xy) for xy in xys])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    cat = np.concatenate(xys)
    smooth = convolve1d(cat, savgol_coeffs(window, order), axis=0, mode="constant")
    half = window // 2
    if half:
        edge = _edge_fit(window, order)  # [half, window]: first window -> its first half
        span, head = np.arange(window), np.arange(half)
        first = cat[starts[:, None] + span]  # [B, window, 2]
        last = cat[(starts + lengths - window)[:, None] + span]
        smooth[starts[:, None] + head] = np.einsum("hw,bwc->bhc", edge, first)
        smooth[(starts + lengths - half)[:, None] + head] = np.einsum(
            "hw,bwc->bhc", edge[::-1, ::-1], last
        )
    return np.split(smooth, np.cumsum(lengths)[:-1])


def _edge_fit(window: int, order: int) -> np.ndarray:
    """Least-squares polynomial fit of degree ``order`` to ``window`` points, evaluated at the
    first ``window // 2`` of them, as a matrix (abscissae centred and scaled for conditioning;
    the projection does not depend on the basis)."""
    x = np.linspace(-1.0, 1.0, window)
    vander = np.vander(x, order + 1)
    return vander[: window // 2] @ np.linalg.pinv(vander)
