"""Savitzky–Golay smoothing of a track's east and north, per track (``scipy.signal``).

The window counts points, not seconds: this is the classic filter, which assumes even
sampling, so gaps and jittered fix times are taken as they come (the RTS smoothers are the
baselines that use real time steps). Ends use ``mode="interp"``: the polynomial fitted to the
first (last) window gives the first (last) half-window of points, rather than padding the track
with invented points. Tracks are filtered together (one convolution for all, see
``_filter_full``), with results equal to ``scipy.signal.savgol_filter`` per track.

Short tracks: a track shorter than the window is filtered with the largest odd window that
fits it; when that window is not longer than ``order`` (no smoothing polynomial fits), the
track is passed through unchanged.
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


def savgol_smooth(tracks: Sequence[Track], window: int = 9, order: int = 2) -> list[np.ndarray]:
    """One [n, 2] estimate per track: a degree-``order`` polynomial fitted by least squares over
    ``window`` points (odd) centred on each point."""
    if window < 1 or window % 2 == 0 or not 0 <= order < window:
        raise ThetaError(
            f"savgol: window must be odd and above order >= 0, got window={window}, order={order}"
        )
    out: list[np.ndarray] = [np.empty((0, 2))] * len(tracks)
    by_window: dict[int | None, list[int]] = {}
    for i, tr in enumerate(tracks):
        by_window.setdefault(fitted_window(len(tr), window, order), []).append(i)
    for w, idx in by_window.items():
        if w is None:
            ests = [tracks[i].xy.copy() for i in idx]
        else:
            ests = _filter_full([tracks[i].xy for i in idx], w, order)
        for i, est in zip(idx, ests, strict=True):
            out[i] = est
    return out


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
