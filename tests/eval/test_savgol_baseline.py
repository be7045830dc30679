"""Savitzky–Golay baseline: exact on polynomials, the theoretical noise reduction, short tracks,
its window in seconds on irregular sampling, and the baseline registry."""

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


def curvy(t: np.ndarray, seed: int, noise: float = 4.0) -> Track:
    """A 10 m/s track turning at varying rates, sampled at times ``t``, with white noise."""
    rng = np.random.default_rng(seed)
    heading = 0.8 * np.sin(t / 40.0) + 0.002 * t
    speed = 10.0 + 3.0 * np.sin(t / 70.0)
    # Integrate the velocity finely, then sample it at the fix times.
    fine = np.arange(0.0, t[-1] + 0.1, 0.1)
    hf, sf = np.interp(fine, t, heading), np.interp(fine, t, speed)
    path = np.cumsum(0.1 * sf[:, None] * np.stack([np.cos(hf), np.sin(hf)], 1), axis=0)
    clean = np.stack([np.interp(t, fine, path[:, 0]), np.interp(t, fine, path[:, 1])], 1)
    return Track(str(seed), t, clean + rng.normal(0.0, noise, clean.shape), clean)


def test_irregular_sampling_is_smoothed_on_time() -> None:
    """Smart recording (fixes 1-8 s apart): a window of 31 s spans ~7 fixes whatever their
    spacing, so the filter smooths; by index, a window fitting the 1 Hz stretches would span
    anything from 31 s to 4 minutes."""
    rng = np.random.default_rng(3)
    tracks = [curvy(np.cumsum(rng.uniform(1.0, 8.0, 600)), seed) for seed in range(4)]
    est = savgol_smooth(tracks, window=31, order=2)
    err = np.concatenate([np.hypot(*(e - tr.clean).T) for e, tr in zip(est, tracks, strict=True)])
    raw_err = np.concatenate([np.hypot(*(tr.xy - tr.clean).T) for tr in tracks])
    assert np.median(err) < 0.75 * np.median(raw_err)
    assert np.percentile(err, 95) < 0.8 * np.percentile(raw_err, 95)


def test_jittered_1hz_is_close_to_the_classic_filter() -> None:
    """Fix times jittered by up to 0.1 s around 1 Hz: the resampled filter stays close to the
    classic, index-based one (exactly 1 Hz is equal: see above). Not equal: at 10 m/s a 0.1 s
    jitter is a metre, which the classic filter takes for noise and the resampled one does not,
    so it differs by up to that much and is, if anything, more accurate."""
    rng = np.random.default_rng(4)
    t = np.arange(800.0) + rng.uniform(-0.1, 0.1, 800)
    tr = curvy(t, seed=9)
    got = savgol_smooth([tr], window=21, order=2)[0]
    classic = savgol_filter(tr.xy, 21, 2, axis=0, mode="interp")
    diff = np.hypot(*(got - classic).T)
    assert np.median(diff) < 0.15 * 4.0 and diff.max() < 0.5 * 4.0
    e_got, e_classic = (np.hypot(*(x - tr.clean).T).mean() for x in (got, classic))
    assert e_got < 1.02 * e_classic


def test_gaps_and_repeated_times() -> None:
    t = np.array([0.0, 1.0, 1.0, 2.0, 3.0, 40.0, 41.0, 42.0, 43.0, 44.0])
    xy = np.stack([t * 2.0, -t], 1)
    xy[1:3] += [[0.5, 0.0], [-0.5, 0.0]]  # one instant, two fixes: their mean is on the line
    out = savgol_smooth([Track("g", t, xy)], window=5, order=1)[0]
    # A straight line at constant speed survives resampling across the gap exactly.
    np.testing.assert_allclose(out[3:], xy[3:], rtol=0, atol=1e-9)
    same = Track("s", np.zeros(3), np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(savgol_smooth([same], window=5, order=1)[0], same.xy)


def test_rejects_bad_windows() -> None:
    tr = Track("a", np.arange(5.0), np.zeros((5, 2)))
    for window, order in ((0.5, 0), (5, 5), (5, -1), (0, 0)):
        with pytest.raises(ThetaError, match="savgol"):
            savgol_smooth([tr], window=window, order=order)


def test_registry_names_and_raw() -> None:
    assert list(BASELINES) == ["raw", "rts", "robust_rts", "adaptive_rts", "savgol"]
    tr = Track("a", np.arange(4.0), np.arange(8.0).reshape(4, 2))
    out = raw([tr])[0]
    np.testing.assert_array_equal(out, tr.xy)
    assert out is not tr.xy
    for name in BASELINES:
        est = baseline(name)([tr])
        assert len(est) == 1 and est[0].shape == (4, 2)
    with pytest.raises(ThetaError, match="unknown"):
        baseline("kalman")
