"""Resampling onto the model's grid and interpolating results back to the real fixes."""

from __future__ import annotations

import numpy as np
from _infer_helpers import MM, offsets_m, track

from theta_cli.infer.resample import grid_to_points, make_grid, on_grid


def test_segments_mostly_at_the_model_interval_are_on_its_grid() -> None:
    # steps: 1 1 2 (2 of 3 good) | 5 5 1 (1 of 3) | 1.2 0.8 (2 of 2) | 0.5 1.5 (0 of 2)
    time = np.array([0, 1, 2, 4, 100, 105, 110, 111, 200, 201.2, 202, 300, 300.5, 302.0])
    bounds = np.array([0, 4, 8, 11, 14])
    assert on_grid(time, bounds, 1.0).tolist() == [True, False, True, False]
    assert on_grid(time, bounds, 5.0).tolist() == [False, True, False, False]


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
