"""The denoiser's geometry with stand-in models whose answer is known exactly.

A model that predicts zero must give every point back; one that predicts a constant V must move
every point by -V in ENU about the point, on every chunk, buckles included; a model that
reveals the chunk position shows that each point takes its output from the payload rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from _infer_helpers import (
    MM,
    ConstModel,
    PositionModel,
    ZeroModel,
    offsets_m,
    points,
    settings,
    track,
)

from theta_cli.infer.pipeline import denoise_points
from theta_cli.infer.runner import FlowRunner


def run(pts, model, **changes):
    s = settings(**changes)
    runner = FlowRunner(model, s.steps, s.batch_size, s.device)
    return denoise_points(pts, runner, s), runner


def mixed_tracks():
    """1 Hz (several chunks), 5 s (resampled), a 1 Hz track with a 60 s gap, a short one."""
    a = track(150, dt=1.0, seed=1)
    b = track(40, dt=5.0, seed=2, speed=12.0)
    c_lat, c_lon, c_t = track(90, dt=1.0, seed=3)
    c = (c_lat, c_lon, c_t + np.where(np.arange(90) >= 50, 60.0, 0.0))
    d = track(9, dt=1.0, seed=4)
    return [points(a, b), points(c, d)]


@pytest.mark.parametrize("q", [(1, 0), (1, 1), (0, 2)])
def test_zero_model_returns_every_point(q: tuple[int, int]) -> None:
    files = mixed_tracks()
    results, runner = run(files, ZeroModel(), Q1=q[0], Q2=q[1])
    assert runner.chunks > 10
    for p, res in zip(files, results, strict=True):
        assert res.out.changed.all()
        moved = offsets_m(p.lat, p.lon, res.out.lat, res.out.lon)
        assert np.abs(moved).max() < MM
    assert results[0].resampled == 1  # the 5 s track went through the grid
    assert results[1].plan.n_segments == 3  # the gap cut the third track in two


@pytest.mark.parametrize("q", [(1, 0), (1, 1)])
def test_constant_model_moves_every_point_by_minus_v(q: tuple[int, int]) -> None:
    v = np.array([1.25, -0.75])
    files = mixed_tracks()
    results, _ = run(files, ConstModel(tuple(v)), Q1=q[0], Q2=q[1], steps=10)
    for p, res in zip(files, results, strict=True):
        moved = offsets_m(p.lat, p.lon, res.out.lat, res.out.lon)
        assert np.abs(moved + v).max() < MM, np.abs(moved + v).max()
        assert np.allclose(res.moved, np.hypot(*v))


def test_each_point_takes_its_payload_position() -> None:
    # K=32, Q1=Q2=1: head 8, tail 8, stride 16. Point q's chunk is 0 if q < 24, else
    # (q - 8) // 16 (at most the last); it moves east by minus its position in that chunk.
    n = 100
    lat, lon, t = track(n)
    results, runner = run([points((lat, lon, t))], PositionModel(), steps=1)
    assert runner.chunks == 6
    moved = offsets_m(lat, lon, results[0].out.lat, results[0].out.lon)
    expected = []
    for q in range(n):
        j = 0 if q < 24 else min((q - 8) // 16, 5)
        expected.append(q - 16 * j)
    assert np.abs(moved[:, 0] + np.array(expected)).max() < MM
    assert np.abs(moved[:, 1]).max() < MM


def test_pass_through_points_are_unchanged_and_counted() -> None:
    lat, lon, t = track(60)
    lat, lon, t = lat.copy(), lon.copy(), t.copy()
    lat[5] = np.nan  # non-finite coordinate
    t[10] = t[9]  # duplicate timestamp
    t[59] = t[58] + 500  # a lone fix after a gap
    p = points((lat, lon, t))
    results, _ = run([p], ConstModel())
    res = results[0]
    assert len(res.out.lat) == 60
    assert res.plan.passed == {"non_finite": 1, "no_time": 0, "duplicate_time": 1,
                               "short_segment": 1}  # fmt: skip
    passed = np.array([5, 10, 59])
    assert not res.out.changed[passed].any() and res.out.changed.sum() == 57
    assert np.isnan(res.out.lat[5])
    assert (res.out.lat[passed[1:]] == lat[passed[1:]]).all()
    assert (res.out.lon[passed] == lon[passed]).all()


def test_output_keeps_input_order_and_does_not_depend_on_it() -> None:
    lat, lon, t = track(80)
    perm = np.random.default_rng(5).permutation(80)
    ordered, _ = run([points((lat, lon, t))], PositionModel(), steps=1)
    shuffled, _ = run([points((lat[perm], lon[perm], t[perm]))], PositionModel(), steps=1)
    assert np.array_equal(shuffled[0].out.lat, ordered[0].out.lat[perm])
    assert np.array_equal(shuffled[0].out.lon, ordered[0].out.lon[perm])


def test_zero_model_is_exact_on_long_fast_chunks() -> None:
    # 40 m/s for 256 s: chunks span 10 km, where a plain ENU round trip (up = 0) is off by
    # about 8 mm; the way back must not be.
    lat, lon, t = track(600, speed=40.0, seed=9)
    results, _ = run([points((lat, lon, t))], ZeroModel(), K=256, Q1=1, Q2=0, steps=1)
    assert (results[0].out.lat == np.round(lat, 9)).all()
    moved = offsets_m(lat, lon, results[0].out.lat, results[0].out.lon)
    assert np.abs(moved).max() < 0.2 * MM


def test_a_file_with_nothing_to_denoise_passes_through_whole() -> None:
    lat, lon, t = track(4)
    t = t + np.arange(4) * 100.0  # every fix alone between gaps
    p = points((lat, lon, t))
    results, runner = run([p], ConstModel())
    assert runner.chunks == 0
    assert not results[0].out.changed.any() and results[0].plan.passed["short_segment"] == 4
    assert (results[0].out.lat == lat).all() and np.isnan(results[0].moved).all()


def test_max_gap_decides_what_is_one_segment() -> None:
    p = points(track(30, dt=5.0, seed=6))
    default, _ = run([p], ZeroModel())  # default 10 s: one segment, resampled to 1 s
    assert default[0].plan.n_segments == 1 and default[0].resampled == 1
    tight, runner = run([p], ZeroModel(), max_gap_s=3.0)  # every fix alone: all pass through
    assert tight[0].plan.passed["short_segment"] == 30 and runner.chunks == 0
