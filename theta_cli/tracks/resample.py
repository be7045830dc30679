"""Bringing segments to the model's fix interval, and mapping results back to the real fixes.

The model learned motion at ``fix_interval_s`` seconds per point: it reads every step of a chunk
as one such interval. A segment whose steps are not all that interval is brought to it using
its timestamps, one of two ways (``rate_modes``):

    fill      steps that are whole multiples of the interval (a 1 Hz watch that lost fixes,
              Garmin "smart recording" at 1-8 s, a 5 s fleet tracker): each n-interval step
              gets n - 1 points interpolated into it, and every real fix stays as it is. The
              model sees an even series; the inserted points are dropped afterwards.
    resample  anything else (10 Hz, a steady 1.5 s): the segment is interpolated onto a regular
              grid at the interval, denoised there, and the denoised *displacement* is
              interpolated back to the segment's own timestamps.

Both give a grid whose displacements are interpolated back at the fixes' own times (exactly the
fix's own value under ``fill``), so every input point gets one output point. A segment already
at the interval (every step within ``FILL_TOLERANCE``) goes to the model as it is.

Interpolation is linear in local ENU between consecutive fixes: each grid point is placed on
the straight line from the fix before it to the fix after it, in the ENU frame of the fix before
it. (One frame for a whole segment would do on short segments, but dropping the up component
of a single tangent plane bends long ones by metres; a frame per interval is exact at any
length.)

All grids are handled at once: each segment's times are shifted onto a common, increasing axis
("keys", seconds), so one ``searchsorted`` serves every segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theta_cli.tracks.enu import from_enu, to_enu

#: A step within this fraction of a whole number of the model's fix intervals is taken as that
#: many intervals (see ``rate_modes``). Receiver timing jitter is a few hundredths.
FILL_TOLERANCE = 0.1
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


DIRECT, FILL, RESAMPLE = 0, 1, 2


def step_multiples(time: np.ndarray, interval: float) -> tuple[np.ndarray, np.ndarray]:
    """Per step: the whole number of intervals it spans (at least 1), and how far the step is
    from that many intervals, as a fraction of one interval of it (|dt / (n * interval) - 1|)."""
    r = np.diff(time) / interval
    n = np.maximum(1.0, np.round(r))
    return n, np.abs(r / n - 1.0)


def rate_modes(time: np.ndarray, bounds: np.ndarray, fix_interval_s: float) -> np.ndarray:
    """Per segment: ``DIRECT``, ``FILL`` or ``RESAMPLE`` (see the module docstring).

    A segment is on whole multiples of the interval when the median step is within
    ``FILL_TOLERANCE`` of one (receiver timing jitter stays well inside it; a steady 1.5 s or
    0.1 s does not). It then goes ``DIRECT`` if no step spans two intervals or more, else
    ``FILL``. Deciding on the median keeps one odd step from sending a whole jittered 1 Hz
    segment through interpolation, which blurs every fix (measured: 7% worse on synth).

    ``time``: the segments' fixes concatenated in time order, segment s being
    ``[bounds[s], bounds[s + 1])`` with at least 2 fixes.
    """
    n, off = step_multiples(time, fix_interval_s)
    modes = np.full(len(bounds) - 1, RESAMPLE, dtype=np.int8)
    for s, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        if np.median(off[a : b - 1]) <= FILL_TOLERANCE:
            modes[s] = FILL if (n[a : b - 1] > 1).any() else DIRECT
    return modes


def fill_lengths(time: np.ndarray, bounds: np.ndarray, interval: float) -> np.ndarray:
    """Grid points per segment under ``fill``: one per interval each step spans, plus the last
    fix."""
    n, _ = step_multiples(time, interval)
    n[bounds[1:-1] - 1] = 0  # the steps between segments are not steps
    done = np.concatenate([[0.0], np.cumsum(n)])
    return done[bounds[1:] - 1] - done[bounds[:-1]] + 1.0


@dataclass(frozen=True)
class Grid:
    """Grids of several segments, concatenated; grid r is ``[bounds[r], bounds[r+1])``. Regular
    at ``interval`` (``make_grid``) or the fixes with points filled in (``fill_grid``)."""

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
    point_key = _keys(time, bounds, interval)
    n_grid = grid_lengths(time, bounds, interval).astype(np.int64)
    offset = point_key[bounds[:-1]]
    grid_bounds = np.concatenate([[0], np.cumsum(n_grid)]).astype(np.int64)
    gseg = _segment_of(grid_bounds)
    step = np.arange(int(n_grid.sum()), dtype=np.float64) - grid_bounds[:-1][gseg]
    key = step * interval + offset[gseg]

    i = _floor_index(point_key, key, bounds, gseg)
    alpha = np.clip((key - point_key[i]) / (point_key[i + 1] - point_key[i]), 0.0, 1.0)
    glat, glon = _between(lat, lon, i, i + 1, alpha)
    return Grid(glat, glon, grid_bounds, key, point_key, bounds.astype(np.int64), interval)


def _keys(time: np.ndarray, bounds: np.ndarray, interval: float) -> np.ndarray:
    """The fixes' times on the common axis: segment s starts ``2 * interval + 1`` s after the
    end of segment s - 1 (room for a grid point past its last fix)."""
    seg = _segment_of(bounds)
    t0 = time[bounds[:-1]]
    span = time[bounds[1:] - 1] - t0
    offset = np.concatenate([[0.0], np.cumsum(span + 2.0 * interval + 1.0)[:-1]])
    return time - t0[seg] + offset[seg]


def _between(lat, lon, i: np.ndarray, j: np.ndarray, alpha: np.ndarray):
    """Points ``alpha`` of the way from fix i to fix j, on the straight line in i's ENU frame."""
    nxt = to_enu(lat[j], lon[j], lat[i], lon[i])
    return from_enu(alpha * nxt[:, 0], alpha * nxt[:, 1], lat[i], lon[i])


def fill_grid(
    lat: np.ndarray, lon: np.ndarray, time: np.ndarray, bounds: np.ndarray, interval: float
) -> Grid:
    """Each segment's fixes with ``n - 1`` points inserted evenly into every step that spans n
    intervals (``step_multiples``). Real fixes keep their exact position and time, so the
    displacement ``grid_to_points`` gives a fix is the one the model gave that very point."""
    point_key = _keys(time, bounds, interval)
    n, _ = step_multiples(time, interval)
    last = bounds[1:] - 1
    n = np.append(n, 1.0).astype(np.int64)
    n[last] = 1  # a segment's last fix: itself only
    base = np.repeat(np.arange(len(time)), n)  # the fix before each grid point
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    k = np.arange(len(base)) - starts[base]
    alpha = k / n[base]
    nxt = np.where(np.isin(base, last), base, base + 1)  # alpha is 0 at a last fix
    key = point_key[base] + alpha * (point_key[nxt] - point_key[base])
    glat, glon = _between(lat, lon, base, nxt, alpha)
    glat[k == 0], glon[k == 0] = lat[base[k == 0]], lon[base[k == 0]]  # the fixes, exactly
    fixes = np.concatenate([[0], np.cumsum(n)])
    grid_bounds = fixes[bounds].astype(np.int64)
    return Grid(glat, glon, grid_bounds, key, point_key, bounds.astype(np.int64), interval)


def grid_to_points(grid: Grid, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values [G, ...] on the grid, interpolated linearly at the segments' own fix times (on a
    filled grid each fix is a grid point and takes that point's value).

    Returns the values [M, ...] and, per fix, the grid point at or before it (its neighbour
    frame: the caller applies the value in the frame that grid point was denoised in).
    """
    seg = _segment_of(grid.point_bounds)
    j = _floor_index(grid.key, grid.point_key, grid.bounds, seg)
    beta = np.clip((grid.point_key - grid.key[j]) / (grid.key[j + 1] - grid.key[j]), 0.0, 1.0)
    beta = beta.reshape(-1, *([1] * (values.ndim - 1)))
    return (1.0 - beta) * values[j] + beta * values[j + 1], j


def join(a: Grid | None, b: Grid | None) -> Grid | None:
    """Two grids (of distinct segments) as one: ``b``'s keys shifted past ``a``'s."""
    if a is None or b is None:
        return a if b is None else b
    shift = max(a.key[-1], a.point_key[-1]) + 2.0 * a.interval + 1.0
    return Grid(
        np.concatenate([a.lat, b.lat]),
        np.concatenate([a.lon, b.lon]),
        np.concatenate([a.bounds, a.bounds[-1] + b.bounds[1:]]),
        np.concatenate([a.key, b.key + shift]),
        np.concatenate([a.point_key, b.point_key + shift]),
        np.concatenate([a.point_bounds, a.point_bounds[-1] + b.point_bounds[1:]]),
        a.interval,
    )
