"""Adaptive RTS: it is theta's RTS when q is fixed and nothing is gated, it picks q by the motion,
it removes a burst longer than robust RTS's re-acquire limit, its tuning, and it never reads
the truth."""

from __future__ import annotations

import numpy as np
import pytest
from test_kalman import uneven_track
from test_tuning import noisy_tracks

from theta_cli.core.errors import ThetaError
from theta_cli.eval.trajectory import Track, get_criterion, track_errors
from theta_cli.eval.tuning import tune_adaptive_rts, tune_robust_rts
from theta_cli.smooth.adaptive import adaptive_padded, adaptive_rts_smooth, select_q
from theta_cli.smooth.kalman import (
    MAX_REJECTS,
    Padded,
    gate_threshold,
    robust_rts_smooth,
    rts_smooth,
)

Q_GRID = tuple(10.0 ** (k / 2) for k in range(-6, 5))


def straight(n: int, seed: int, noise: float = 3.0) -> Track:
    """Constant speed, constant heading, 1 Hz."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    clean = np.stack([8.0 * t, 2.0 * t], axis=1)
    return Track(f"s{seed}", t, clean + rng.normal(0.0, noise, clean.shape), clean)


def weaving(n: int, seed: int, noise: float = 3.0) -> Track:
    """12 m/s with the heading swinging +-70 degrees every 20 s: a hard manoeuvring track."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    heading = 1.2 * np.sin(2 * np.pi * t / 20.0)
    vel = 12.0 * np.stack([np.cos(heading), np.sin(heading)], 1)
    clean = np.cumsum(vel, axis=0)
    return Track(f"w{seed}", t, clean + rng.normal(0.0, noise, clean.shape), clean)


@pytest.mark.parametrize("q", [0.01, 0.7, 30.0])
def test_one_q_and_no_outlier_handling_is_rts(q: float) -> None:
    tracks = [uneven_track(n, seed=n, track_id=str(n)) for n in (60, 9, 1, 33)]
    want = rts_smooth(tracks, q=q, r=3.0)
    got = adaptive_rts_smooth(tracks, r=3.0, gate=None, q_grid=(q,))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    # With the gate on but never firing (clean fixes), the refinement changes nothing either.
    calm = [uneven_track(60, seed=3, noise=0.5)]
    got = adaptive_rts_smooth(calm, r=3.0, gate=0.999999, q_grid=(q,))
    np.testing.assert_allclose(got[0], rts_smooth(calm, q=q, r=3.0)[0], rtol=0, atol=1e-9)


def test_picks_a_small_q_on_a_straight_track_and_a_large_one_when_manoeuvring() -> None:
    batch = Padded.of([straight(400, seed=1), weaving(400, seed=2)])
    for gate in (None, float(gate_threshold(0.99))):
        q_straight, q_weave = select_q(batch, 3.0, gate, Q_GRID)
        assert q_straight <= 0.01
        assert q_weave >= 1.0


def test_catches_a_burst_that_robust_rts_lets_through() -> None:
    """Six fixes in a row 40 m off: robust RTS drops three, then re-admits the rest."""
    tr = straight(400, seed=5)
    xy = tr.xy.copy()
    xy[200:206] += [40.0, 0.0]
    burst = Track("burst", tr.t, xy, tr.clean)
    robust = robust_rts_smooth([burst], q=0.3, r=3.0, gate=0.99)[0]
    adaptive = adaptive_rts_smooth([burst], r=3.0, gate=0.99)[0]
    near = slice(190, 216)
    err_robust = np.hypot(*(robust - tr.clean)[near].T)
    err_adaptive = np.hypot(*(adaptive - tr.clean)[near].T)
    assert 6 > MAX_REJECTS and err_robust.max() > 10.0  # the re-admitted part of the burst
    assert err_adaptive.max() < 2.5  # as close as the rest of the track
    assert err_adaptive.mean() < 0.2 * err_robust.mean()


def test_parameter_axis_equals_separate_runs() -> None:
    tracks = [uneven_track(n, seed=n, track_id=str(n)) for n in (50, 20)]
    batch = Padded.of(tracks)
    rs, gates = np.array([[2.0], [6.0]]), gate_threshold(np.array([[0.9], [0.999]]))
    grid = adaptive_padded(batch, rs, gates, q_grid=Q_GRID).pos  # [T, 2, P, B]
    for p in range(2):
        one = adaptive_padded(batch, float(rs[p, 0]), float(gates[p, 0]), q_grid=Q_GRID).pos
        np.testing.assert_allclose(grid[:, :, p, :], one, rtol=0, atol=1e-9)


def test_never_reads_the_truth() -> None:
    tracks = [weaving(120, seed=7), straight(90, seed=8)]
    scrambled = [
        Track(tr.id, tr.t, tr.xy, np.random.default_rng(0).normal(0, 1e3, tr.xy.shape))
        for tr in tracks
    ]
    bare = [Track(tr.id, tr.t, tr.xy) for tr in tracks]
    a, b, c = (adaptive_rts_smooth(x, r=4.0, gate=0.99) for x in (tracks, scrambled, bare))
    for x, y, z in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)


def test_tuning_gives_sensible_parameters_and_beats_robust_rts() -> None:
    val = noisy_tracks(6, 300, seed=0, prefix="val")
    test = noisy_tracks(6, 300, seed=1, prefix="test")
    tuned = tune_adaptive_rts(val)
    assert set(tuned.params) == {"r", "gate"}
    assert 1.0 <= tuned.params["r"] <= 32.0 and 0.5 < tuned.params["gate"] < 1.0
    est = adaptive_rts_smooth(val, **tuned.params)
    gsdc = get_criterion("gsdc")
    assert tuned.score == pytest.approx(gsdc(track_errors(val, est)), rel=1e-9)
    # Three speeds (walk, cycle, drive) in one set: one q cannot fit them all, per track can.
    robust = tune_robust_rts(val)
    ours = gsdc(track_errors(test, adaptive_rts_smooth(test, **tuned.params)))
    theirs = gsdc(track_errors(test, robust_rts_smooth(test, **robust.params)))
    assert ours < theirs


def test_rejects_bad_arguments() -> None:
    tr = uneven_track(10, seed=0)
    with pytest.raises(ThetaError, match="refine"):
        adaptive_rts_smooth([tr], refine=-1)
    with pytest.raises(ThetaError, match="q grid"):
        adaptive_rts_smooth([tr], q_grid=())
    with pytest.raises(ThetaError, match="gate"):
        adaptive_rts_smooth([tr], gate=1.0)
