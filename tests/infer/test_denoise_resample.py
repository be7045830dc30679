"""Resampling onto the model's grid and interpolating results back to the real fixes."""

from __future__ import annotations

import numpy as np
from _infer_helpers import MM, offsets_m, track

from theta_cli.tracks.resample import (
    DIRECT,
    FILL,
    RESAMPLE,
    fill_grid,
    fill_lengths,
    grid_to_points,
    join,
    make_grid,
    rate_modes,
)


def test_rate_modes_follow_the_timestamps() -> None:
    segs = [
        [0, 1, 2, 3, 4, 5],  # steady 1 s: as it is
        [0, 1, 3, 4, 11, 12],  # lost fixes, a 7 s step: fill in
        [0, 1.04, 1.98, 2.6, 3.61, 4.6],  # jitter and one 0.62 s step: as it is
        [0, 0.1, 0.2, 0.3, 0.4, 0.5],  # 10 Hz: resample
        [0, 1.5, 3.0, 4.5, 6.0, 7.5],  # a steady 1.5 s: resample
        [0, 5, 10, 15, 20, 25],  # 5 s fleet: fill in (4 points per step)
    ]
    time = np.concatenate([np.array(s, float) + 100.0 * i for i, s in enumerate(segs)])
    bounds = np.arange(0, 37, 6)
    assert rate_modes(time, bounds, 1.0).tolist() == [
        DIRECT, FILL, DIRECT, RESAMPLE, RESAMPLE, FILL]  # fmt: skip
    assert rate_modes(time, bounds, 5.0)[-1] == DIRECT
    assert fill_lengths(time, bounds, 1.0).tolist() == [6, 13, 6, 6, 11, 26]


def test_filled_grid_keeps_every_fix_and_fills_steps_evenly() -> None:
    lat, lon, t = track(12, dt=1.0, speed=8.0)
    t = t + np.concatenate([[0.0] * 4, [6.0] * 8])  # one 7 s step after fix 3
    t[-3:] += 2.0  # ... and a 3 s step before fix 9
    bounds = np.array([0, 12])
    grid = fill_grid(lat, lon, t, bounds, 1.0)
    assert len(grid.lat) == fill_lengths(t, bounds, 1.0)[0] == 12 + 6 + 2
    fix_at = np.searchsorted(grid.key, grid.point_key)
    assert (grid.key[fix_at] == grid.point_key).all()  # every fix is a grid point ...
    assert (grid.lat[fix_at] == lat).all() and (grid.lon[fix_at] == lon).all()  # ... unmoved
    assert np.allclose(np.diff(grid.key), 1.0)  # whole-second steps: an even 1 s grid
    # The inserted points lie on the line from the fix before, at even fractions of the step.
    pos = offsets_m(lat[3], lon[3], grid.lat[fix_at[3] : fix_at[4] + 1],
                    grid.lon[fix_at[3] : fix_at[4] + 1])  # fmt: skip
    step = offsets_m(lat[3], lon[3], lat[4:5], lon[4:5])
    assert np.abs(pos - np.arange(8)[:, None] / 7 * step).max() < MM
    # Values come back at the fixes exactly as the grid held them (no blending of neighbours).
    values = np.random.default_rng(0).normal(size=(len(grid.lat), 2))
    back, j = grid_to_points(grid, values)
    assert np.array_equal(back, values[fix_at])


def test_joined_grids_map_back_per_segment() -> None:
    lat, lon, t = track(20, dt=2.0)
    lat2, lon2, t2 = track(10, dt=0.5, seed=1)
    a = fill_grid(lat, lon, t, np.array([0, 20]), 1.0)
    b = make_grid(lat2, lon2, t2, np.array([0, 10]), 1.0)
    grid = join(a, b)
    assert grid.bounds.tolist() == [0, len(a.lat), len(a.lat) + len(b.lat)]
    assert (np.diff(grid.key[grid.bounds[1] - 1 : grid.bounds[1] + 1]) > 0).all()
    values = np.stack([2.0 * grid.key + 1.0, -grid.key], axis=1)
    back, j = grid_to_points(grid, values)
    assert np.allclose(back[:, 0], 2.0 * grid.point_key + 1.0)
    assert (j[:20] < grid.bounds[1]).all() and (j[20:] >= grid.bounds[1]).all()
    assert join(None, b) is b and join(a, None) is a


def test_grid_points_lie_on_the_line_between_fixes() -> None:
    lat, lon, t = track(30, dt=5.0, speed=10.0)
    t = t + np.linspace(0, 2.0, 30)  # irregular: 5 s plus a little drift
    grid = make_grid(lat, lon, t, np.array([0, 30]), 1.0)
    span = t[-1] - t[0]
    assert len(grid.lat) == int(np.ceil(span)) + 1
    # Grid point k is at time t0 + k: between fixes i and i+1, at the fraction of the time.
    gt = t[0] + np.arange(len(grid.lat))
    i = np.clip(np.searchsorted(t, gt, side="right") - 1, 0, 28)
    a = np.clip((gt - t[i]) / (t[i + 1] - t[i]), 0, 1)
    step = offsets_m(lat[i], lon[i], lat[i + 1], lon[i + 1])
    pos = offsets_m(lat[i], lon[i], grid.lat, grid.lon)
    assert np.abs(pos - a[:, None] * step).max() < MM
    assert grid.lat[0] == lat[0] and abs(grid.lat[-1] - lat[-1]) < 1e-12


def test_values_map_back_linearly_in_time_per_segment() -> None:
    lat, lon, t = track(20, dt=5.0)
    lat2, lon2, t2 = track(10, dt=3.0, seed=1)
    grid = make_grid(np.concatenate([lat, lat2]), np.concatenate([lon, lon2]),
                     np.concatenate([t, t2 + 1000]), np.array([0, 20, 30]), 1.0)  # fmt: skip
    # A value linear in grid time comes back exactly at the fixes' times, segment by segment.
    gtime = grid.key
    values = np.stack([2.0 * gtime + 1.0, -gtime], axis=1)
    back, j = grid_to_points(grid, values)
    assert np.allclose(back[:, 0], 2.0 * grid.point_key + 1.0)
    assert np.allclose(back[:, 1], -grid.point_key)
    assert (j < grid.bounds[1]).sum() == 20  # the first segment's fixes use its own grid
    const, _ = grid_to_points(grid, np.full((len(gtime), 2), 0.5))
    assert (const == 0.5).all()
