"""Bringing segments to the model's fix interval, and mapping results back to the real fixes.

The model learned motion at ``fix_interval_s`` seconds per point. A segment sampled at another
rate (a 5 s fleet track, a 10 Hz logger) is interpolated onto a regular grid at that interval,
denoised there, and the denoised *displacement* is interpolated back to the segment's own
timestamps, so every input point gets exactly one output point.

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


def grid_lengths(time: np.ndarray, bounds: np.ndarray, interval: float) -> np.ndarray:
    """Grid points per segment, as float64: counted before anything that size is allocated
    (an absurd span would overflow an integer count)."""
    span = time[bounds[1:] - 1] - time[bounds[:-1]]
    return np.ceil(span / interval - 1e-9) + 1.0


def on_grid(time: np.ndarray, bounds: np.ndarray, fix_interval_s: float) -> np.ndarray:
    """Per segment: True when at least half its steps are within ``GRID_TOLERANCE`` of the
    model's fix interval. Such a segment (a 1 Hz watch track with a few lost fixes, for a 1 s
    model) is denoised as it is; any other is resampled.

    ``time``: the segments' fixes concatenated in time order, segment s being
    ``[bounds[s], bounds[s + 1])`` with at least 2 fixes.
    """
    ok = np.abs(np.diff(time) / fix_interval_s - 1.0) <= GRID_TOLERANCE
    done = np.concatenate([[0], np.cumsum(ok)])  # done[i]: good steps among the first i
    good = done[bounds[1:] - 1] - done[bounds[:-1]]  # only the steps inside each segment
    return 2 * good >= np.diff(bounds) - 1


@dataclass(frozen=True)
class Grid:
    """Regular grids of several segments, concatenated; grid r is ``[bounds[r], bounds[r+1])``."""

    lat: np.ndarray  # [G]
    lon: np.ndarray  # [G]
    bounds: np.ndarray  # int64 [R + 1]
    key: np.ndarray  # [G] grid times on the common axis
    point_key: np.ndarray  # [M] the segments' own fix times on the same axis
    point_bounds: np.ndarray  # int64 [R + 1]: the segments' fixes
    interval: float

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
    lat: np.ndarray, lon: np.ndarray, time: np.ndarray, bounds: np.ndarray, interval: float
) -> Grid:
    """Grids at ``interval`` seconds from each segment's first fix to (at least) its last one.

    Input: fixes of segments (each >= 2 points, strictly increasing times) concatenated; the
    caller has checked ``grid_lengths`` against ``grid_limit``. The last grid point may lie up
    to one interval past the last fix; it then sits on that fix.
    """
    seg = _segment_of(bounds)
    t0 = time[bounds[:-1]]
    span = time[bounds[1:] - 1] - t0
    n_grid = grid_lengths(time, bounds, interval).astype(np.int64)
    offset = np.concatenate([[0.0], np.cumsum(span + 2.0 * interval + 1.0)[:-1]])
    point_key = time - t0[seg] + offset[seg]
    grid_bounds = np.concatenate([[0], np.cumsum(n_grid)]).astype(np.int64)
    gseg = _segment_of(grid_bounds)
    step = np.arange(int(n_grid.sum()), dtype=np.float64) - grid_bounds[:-1][gseg]
    key = step * interval + offset[gseg]

    i = _floor_index(point_key, key, bounds, gseg)
    alpha = np.clip((key - point_key[i]) / (point_key[i + 1] - point_key[i]), 0.0, 1.0)
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
    beta = np.clip((grid.point_key - grid.key[j]) / grid.interval, 0.0, 1.0)
    beta = beta.reshape(-1, *([1] * (values.ndim - 1)))
    return (1.0 - beta) * values[j] + beta * values[j + 1], j
