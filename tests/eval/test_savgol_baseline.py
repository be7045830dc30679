"""Savitzky–Golay baseline: exact on polynomials, the theoretical noise reduction, short tracks,
and the baseline registry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import savgol_filter

from theta_cli.core.errors import ThetaError
from theta_cli.eval.baselines import BASELINES, baseline, raw
from theta_cli.eval.savgol import fitted_window, savgol_smooth
from theta_cli.eval.trajectory import Track


def test_keeps_a_polynomial_track_exactly_to_the_ends() -> None:
    t = np.arange(50, dtype=np.float64)
    xy = np.stack([0.02 * t**2 - t + 3.0, 0.5 * t - 0.01 * t**2], axis=1)
    out = savgol_smooth([Track("p", t, xy)], window=11, order=2)[0]
    np.testing.assert_allclose(out, xy, rtol=0, atol=1e-9)
    # Order 1 cannot follow the curvature: a check that the order is really used.
    assert np.abs(savgol_smooth([Track("p", t, xy)], window=11, order=1)[0] - xy).max() > 0.1


@pytest.mark.parametrize(("window", "order"), [(1, 0), (3, 1), (9, 2), (21, 4), (61, 3)])
def test_all_tracks_at_once_equal_scipy_per_track(window: int, order: int) -> None:
    rng = np.random.default_rng(window)
    lengths = (window, window + 1, 2 * window + 3, 300, window - 1, 1)
    tracks = [
        Track(str(n), np.arange(n, dtype=np.float64), 1e3 + rng.normal(0, 5, (n, 2)).cumsum(0))
        for n in lengths
        if n > 0
    ]
    for tr, got in zip(tracks, savgol_smooth(tracks, window, order), strict=True):
        w = fitted_window(len(tr), window, order)
        want = tr.xy if w is None else savgol_filter(tr.xy, w, order, axis=0, mode="interp")
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_noise_reduction_matches_least_squares_theory() -> None:
    """A straight line plus white noise of std s: the centre of a degree-1 least-squares fit
    over w points has std s / sqrt(w). 200 tracks x ~480 interior points per axis make the
    empirical std accurate to about 1 / sqrt(2 * 96000 / 9) ~ 0.7 % (neighbouring estimates
    share points); 5 % is then a safe yet failing bound (a window of 7 or 11 would miss it by
    10 % or more)."""
    rng = np.random.default_rng(0)
    w, s = 9, 3.0
    t = np.arange(500, dtype=np.float64)
    tracks = [
        Track(
            str(i),
            t,
            np.stack([4 * t, -t], 1) + rng.normal(0, s, (500, 2)),
            np.stack([4 * t, -t], 1),
        )
        for i in range(200)
    ]
    out = savgol_smooth(tracks, window=w, order=1)
    err = np.stack([(o - tr.clean)[w:-w] for o, tr in zip(out, tracks, strict=True)])
    assert err.std() == pytest.approx(s / np.sqrt(w), rel=0.05)


def test_short_tracks_get_a_smaller_window_or_pass_through() -> None:
    assert fitted_window(100, 21, 2) == 21
    assert fitted_window(10, 21, 2) == 9
    assert fitted_window(9, 21, 2) == 9
    assert fitted_window(3, 21, 2) == 3
    assert fitted_window(2, 21, 2) is None
    assert fitted_window(0, 21, 2) is None
    rng = np.random.default_rng(1)
    tracks = [
        Track(str(n), np.arange(n, dtype=np.float64), rng.normal(0, 1, (n, 2)))
        for n in (10, 2, 1, 0)
    ]
    out = savgol_smooth(tracks, window=21, order=2)
    np.testing.assert_allclose(out[0], savgol_filter(tracks[0].xy, 9, 2, axis=0, mode="interp"))
    for o, tr in zip(out[1:], tracks[1:], strict=True):
        np.testing.assert_array_equal(o, tr.xy)
        assert o is not tr.xy  # a copy: callers may write into their estimates


def test_rejects_bad_windows() -> None:
    tr = Track("a", np.arange(5.0), np.zeros((5, 2)))
    for window, order in ((8, 2), (5, 5), (5, -1), (0, 0)):
        with pytest.raises(ThetaError, match="savgol"):
            savgol_smooth([tr], window=window, order=order)


def test_registry_names_and_raw() -> None:
    assert list(BASELINES) == ["raw", "rts", "robust_rts", "savgol"]
    tr = Track("a", np.arange(4.0), np.arange(8.0).reshape(4, 2))
    out = raw([tr])[0]
    np.testing.assert_array_equal(out, tr.xy)
    assert out is not tr.xy
    for name in BASELINES:
        est = baseline(name)([tr])
        assert len(est) == 1 and est[0].shape == (4, 2)
    with pytest.raises(ThetaError, match="unknown"):
        baseline("kalman")
