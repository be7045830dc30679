"""Bringing segments to the model's fix interval, and mapping results back to the real fixes.

The model learned motion at ``fix_interval_s`` seconds per point, and reads every step of a
chunk as one such interval. Only a segment whose *every* step is at that interval (within
``GRID_TOLERANCE``) is denoised as it is. Any other (a 5 s fleet track, a 10 Hz logger, a
Garmin "smart recording" track with steps of 1-8 s, a 1 Hz track with a lost fix) is
interpolated onto a regular grid, denoised there, and the denoised *displacement* is
interpolated back to the segment's own timestamps, so every input point gets exactly one output
point. (Sent as it is, a 7 s step read as a 1 s one moved noise-free fixes metres along the
road: issue 20.)

The grid's interval is the model's, or, where a segment has steps at the model's interval, the
mean of those steps: a 1 Hz track with lost fixes keeps its fixes on grid points (only the lost
ones are interpolated) instead of drifting against a 1.0009 s grid. Where every step is a
whole number of grid intervals (give or take ``GRID_TOLERANCE``: timestamp jitter), the fixes
are snapped onto grid points (``snap_times``) and reach the model as they are.

Interpolation is linear in local ENU between consecutive fixes: each grid point is placed on
the straight line from the fix before it to the fix after it, in the ENU frame of the fix before
it. (One frame for a whole segment would do on short segments, but dropping the up component
of a single tangent plane bends long ones by metres; a frame per interval is exact at any
length.)

All resampled segments are handled at once: each segment's times are shifted onto a common,
increasing axis ("keys", seconds), so one ``searchsorted`` serves every segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theta_cli.tracks.enu import from_enu, to_enu

#: A step within this fraction of the model's fix interval is "on the grid".
GRID_TOLERANCE = 0.25
#: The most grid points per resampled fix, plus a fixed allowance. With the default max gap
#: (ten of the model's fixes) a segment gets at most ~10 grid points per fix; 16 leaves room
#: for a 5 s fleet track under a 1 s model (5x) and a 1 Hz track under a 10 Hz model (10x).
#: The allowance lets a short track join a long pause (--max-gap 3600 on a 1 Hz model: 3600
#: points). Beyond both the grid is not denoising the input any more, and memory is no longer
#: bounded by it.
GRID_FACTOR = 16
GRID_SLACK = 65_536


def grid_limit(n_fixes: int) -> int:
    """The most grid points that ``n_fixes`` resampled fixes may become."""
    return max(GRID_FACTOR * n_fixes, n_fixes + GRID_SLACK)


def grid_lengths(time: np.ndarray, bounds: np.ndarray, interval) -> np.ndarray:
    """Grid points per segment, as float64: counted before anything that size is allocated
    (an absurd span would overflow an integer count). ``interval``: one, or one per segment."""
    span = time[bounds[1:] - 1] - time[bounds[:-1]]
    return np.ceil(span / interval - 1e-9) + 1.0


def _good_steps(time: np.ndarray, fix_interval_s: float) -> np.ndarray:
    return np.abs(np.diff(time) / fix_interval_s - 1.0) <= GRID_TOLERANCE


def _per_segment(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Sums of per-step ``values`` over each segment's own steps (not the step between two)."""
    done = np.concatenate([[0], np.cumsum(values)])  # done[i]: the sum over the first i steps
    return done[bounds[1:] - 1] - done[bounds[:-1]]


def on_grid(time: np.ndarray, bounds: np.ndarray, fix_interval_s: float) -> np.ndarray:
    """Per segment: True when every one of its steps is within ``GRID_TOLERANCE`` of the
    model's fix interval. Such a segment (a 1 Hz watch track, for a 1 s model) is denoised as
    it is; any other is resampled (``make_grid``).

    ``time``: the segments' fixes concatenated in time order, segment s being
    ``[bounds[s], bounds[s + 1])`` with at least 2 fixes.
    """
    good = _per_segment(_good_steps(time, fix_interval_s), bounds)
    return good == np.diff(bounds) - 1


def grid_intervals(time: np.ndarray, bounds: np.ndarray, fix_interval_s: float) -> np.ndarray:
    """Per segment, the interval of its grid: the mean of its steps that are at the model's
    interval (within ``GRID_TOLERANCE``), or the model's interval where it has none."""
    ok = _good_steps(time, fix_interval_s)
    n = _per_segment(ok, bounds)
    total = _per_segment(np.where(ok, np.diff(time), 0.0), bounds)
    return np.where(n > 0, total / np.maximum(n, 1), fix_interval_s)


def snap_times(time: np.ndarray, bounds: np.ndarray, interval: np.ndarray) -> np.ndarray:
    """Per segment whose every step is within ``GRID_TOLERANCE`` of a whole number (>= 1) of
    its grid ``interval`` (a 1 Hz track with lost fixes, 1-8 s smart recording): times moved
    onto that grid, so its fixes are grid points and reach the model as they are, and only the
    lost fixes between them are interpolated. Other segments keep their times."""
    seg = _segment_of(bounds)
    dt = np.diff(time) / interval[seg[1:]]
    n = np.round(dt)
    ok = (n >= 1) & (np.abs(dt - n) <= GRID_TOLERANCE)
    inner = np.ones(len(time) - 1, dtype=bool)
    inner[bounds[1:-1] - 1] = False  # the step from one segment into the next
    snap = _per_segment(ok & inner, bounds) == np.diff(bounds) - 1
    t0 = time[bounds[:-1]]
    k = np.concatenate([[0.0], np.cumsum(np.where(inner, n, 0.0))])
    k = k - k[bounds[:-1]][seg]  # whole grid steps from the segment's first fix
    return np.where(snap[seg], t0[seg] + k * interval[seg], time)


@dataclass(frozen=True)
class Grid:
    """Regular grids of several segments, concatenated; grid r is ``[bounds[r], bounds[r+1])``."""

    lat: np.ndarray  # [G]
    lon: np.ndarray  # [G]
    bounds: np.ndarray  # int64 [R + 1]
    key: np.ndarray  # [G] grid times on the common axis
    point_key: np.ndarray  # [M] the segments' own fix times on the same axis
    point_bounds: np.ndarray  # int64 [R + 1]: the segments' fixes
    interval: np.ndarray  # [R]: each grid's step, seconds

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.bounds)


def _segment_of(bounds: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))


def _floor_index(keys: np.ndarray, at: np.ndarray, bounds: np.ndarray, seg: np.ndarray):
    """Index of the last key <= ``at`` within each query's own segment, leaving room for +1."""
    i = np.searchsorted(keys, at, side="right") - 1
    return np.clip(i, bounds[:-1][seg], bounds[1:][seg] - 2)


def make_grid(
    lat: np.ndarray, lon: np.ndarray, time: np.ndarray, bounds: np.ndarray, interval
) -> Grid:
    """Grids at ``interval`` seconds (one, or one per segment: ``grid_intervals``) from each
    segment's first fix to (at least) its last one.

    Input: fixes of segments (each >= 2 points, strictly increasing times) concatenated; the
    caller has checked ``grid_lengths`` against ``grid_limit``. The last grid point may lie up
    to one interval past the last fix, on the line of the segment's last step.
    """
    seg = _segment_of(bounds)
    interval = np.broadcast_to(np.asarray(interval, dtype=np.float64), (len(bounds) - 1,))
    t0 = time[bounds[:-1]]
    span = time[bounds[1:] - 1] - t0
    n_grid = grid_lengths(time, bounds, interval).astype(np.int64)
    offset = np.concatenate([[0.0], np.cumsum(span + 2.0 * interval + 1.0)[:-1]])
    point_key = time - t0[seg] + offset[seg]
    grid_bounds = np.concatenate([[0], np.cumsum(n_grid)]).astype(np.int64)
    gseg = _segment_of(grid_bounds)
    step = np.arange(int(n_grid.sum()), dtype=np.float64) - grid_bounds[:-1][gseg]
    key = step * interval[gseg] + offset[gseg]

    i = _floor_index(point_key, key, bounds, gseg)
    # Past the last fix (at most one interval) the last step goes on: a grid point parked on
    # the last fix would be a sudden stop, which the model smooths into the fixes before it.
    alpha = np.maximum((key - point_key[i]) / (point_key[i + 1] - point_key[i]), 0.0)
    nxt = to_enu(lat[i + 1], lon[i + 1], lat[i], lon[i])
    glat, glon = from_enu(alpha * nxt[:, 0], alpha * nxt[:, 1], lat[i], lon[i])
    return Grid(glat, glon, grid_bounds, key, point_key, bounds.astype(np.int64), interval)


def grid_to_points(grid: Grid, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values [G, ...] on the grid, interpolated linearly at the segments' own fix times.

    Returns the values [M, ...] and, per fix, the grid point at or before it (its neighbour
    frame: the caller applies the value in the frame that grid point was denoised in).
    """
    seg = _segment_of(grid.point_bounds)
    j = _floor_index(grid.key, grid.point_key, grid.bounds, seg)
    beta = np.clip((grid.point_key - grid.key[j]) / grid.interval[seg], 0.0, 1.0)
    beta = beta.reshape(-1, *([1] * (values.ndim - 1)))
    return (1.0 - beta) * values[j] + beta * values[j + 1], j
