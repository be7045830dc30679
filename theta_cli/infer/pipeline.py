"""The denoise pipeline on points, for several files at once (``engine`` reads and writes them):

    segments   per track: time order, gaps, pass-through rules       (segments.py)
    pre-pass   gross outliers replaced by adaptive RTS's position     (prepass.py)
    rate       segments at the model's fix interval are used as they are; steps of whole
               intervals get points filled in; others are interpolated onto a grid at that
               interval                                               (tracks/resample.py)
    chunks     every series cut into K-point chunks, ENU about each chunk's first point
                                                                      (chunks.py, tracks/enu.py)
    flow       Euler steps of the model, batched across files         (runner.py)
    stitch     each point takes its chunk's displacement; grid displacements are interpolated
               back to the real fixes; points move in their chunk's frame   (tracks/enu.py)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from theta_cli.core.errors import ThetaError
from theta_cli.infer import chunks, prepass
from theta_cli.infer.request import DenoiseSettings
from theta_cli.infer.runner import FlowRunner, Progress
from theta_cli.infer.segments import SegmentPlan, plan_segments
from theta_cli.tracks import enu, resample
from theta_cli.tracks.enu import to_enu
from theta_cli.tracks.points import Denoised, Points

#: Output coordinates are rounded to 1e-9 degrees (0.1 mm): more digits would be noise.
DECIMALS = 9


@dataclass
class PointsResult:
    """What denoising did to one file's points."""

    out: Denoised
    plan: SegmentPlan
    moved: np.ndarray  # float64 [N]: metres each point moved; NaN where it passed through
    resampled: int  # segments brought to the model's interval (filled in or resampled)
    outliers: int = 0  # fixes the pre-pass replaced before the model saw them


@dataclass
class _Series:
    """Per file: which points are denoised directly, and the grids of the resampled ones."""

    direct: np.ndarray  # point indices, segment after segment, time order
    direct_lengths: np.ndarray
    resampled: np.ndarray  # point indices of resampled segments
    grid: resample.Grid | None


@dataclass
class _Chunked:
    """Every series as one array of points (``_concat_series``), cut into chunks in ENU metres
    about each chunk's first point, and the flow's displacement of every chunk."""

    lat: np.ndarray
    lon: np.ndarray
    lengths: np.ndarray
    plan: chunks.ChunkPlan
    x: np.ndarray  # [C, K, 2]
    lat0: np.ndarray  # [C]: each chunk's origin
    lon0: np.ndarray
    d: np.ndarray  # [C, K, 2]


@dataclass
class _Moved:
    """Every denoised point's new position and move: direct points first, then resampled."""

    lat: np.ndarray
    lon: np.ndarray
    d: np.ndarray  # [N, 2] metres east, north
    metres: np.ndarray  # [N]: the length of each move


def _split_by_rate(p: Points, plan: SegmentPlan, settings: DenoiseSettings, name: str) -> _Series:
    interval = settings.fix_interval_s
    lengths = plan.lengths
    if plan.n_segments == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Series(empty, empty, empty, None)
    modes = resample.rate_modes(p.time[plan.order], plan.bounds, interval)
    point_mode = np.repeat(modes, lengths)
    direct = plan.order[point_mode == resample.DIRECT]
    # Fill-in segments first, then resampled ones: ``resampled`` lists their points in the order
    # of the joined grid.
    grids, parts = [], []
    for mode, make, count in ((resample.FILL, resample.fill_grid, resample.fill_lengths),
                              (resample.RESAMPLE, resample.make_grid, resample.grid_lengths)):
        idx = plan.order[point_mode == mode]
        if not idx.size:
            continue
        bounds = np.concatenate([[0], np.cumsum(lengths[modes == mode])]).astype(np.int64)
        _check_grid(count(p.time[idx], bounds, interval).sum(), idx.size, settings, name)
        grids.append(make(p.lat[idx], p.lon[idx], p.time[idx], bounds, interval))
        parts.append(idx)
    grid = None
    for g in grids:
        grid = resample.join(grid, g)
    rs = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return _Series(direct, lengths[modes == resample.DIRECT], rs, grid)


def _check_grid(n_grid: float, n_fixes: int, settings: DenoiseSettings, name: str) -> None:
    """Refuse, before allocating it, a grid out of all proportion to the fixes it comes from:
    only gaps joined by a huge --max-gap make one (the model's interval is range-checked)."""
    limit = resample.grid_limit(n_fixes)
    if n_grid > limit:
        raise ThetaError(
            f"{name}: resampling to the model's {settings.fix_interval_s:g} s fix interval "
            f"would make a grid of {n_grid:.4g} points from {n_fixes} fixes (at most {limit:,}),"
            f" bridging time gaps of up to {settings.gap_s:g} s; give a smaller --max-gap, "
            "or use a model trained at this track's rate"
        )


def _concat_series(files: Sequence[Points], series: list[_Series]):
    """All series as one array of points: every file's direct segments, then every grid."""
    lat = [p.lat[s.direct] for p, s in zip(files, series, strict=True)]
    lon = [p.lon[s.direct] for p, s in zip(files, series, strict=True)]
    lengths = [s.direct_lengths for s in series]
    for s in series:
        if s.grid is not None:
            lat.append(s.grid.lat)
            lon.append(s.grid.lon)
            lengths.append(s.grid.lengths)
    return (np.concatenate(lat), np.concatenate(lon),
            np.concatenate(lengths).astype(np.int64))  # fmt: skip


def denoise_points(
    files: Sequence[Points],
    runner: FlowRunner,
    settings: DenoiseSettings,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
    names: Sequence[str] | None = None,
) -> list[PointsResult]:
    """Denoise the points of several files together (one batch stream for all of them).
    ``names`` (one per file) are what errors call the files. ``settings`` are taken as checked
    (``DenoiseOptions.settings`` checks them; hand-made ones: ``DenoiseSettings.validate``)."""
    clock = _Clock(timings)
    names = list(names) if names is not None else [f"input {i + 1}" for i in range(len(files))]
    plans = [plan_segments(p, settings.gap_s) for p in files]
    originals = list(files)
    replaced = [np.zeros(0, dtype=np.int64)] * len(files)
    if settings.prepass:
        done = [prepass.replace_outliers(p, plan) for p, plan in zip(files, plans, strict=True)]
        files, replaced = [d[0] for d in done], [d[1] for d in done]
        clock.lap("pre-pass")
    series = [_split_by_rate(p, plan, settings, name)
              for p, plan, name in zip(files, plans, names, strict=True)]  # fmt: skip
    s_lat, s_lon, lengths = _concat_series(files, series)
    cplan = chunks.plan_chunks(lengths, settings.K, settings.Q1, settings.Q2)
    clock.lap("segments")

    x, lat0, lon0 = enu.chunk_enu(s_lat, s_lon, cplan.index)
    clock.lap("enu")
    links = cplan.links(settings.K, settings.Q1, settings.Q2)
    d = (runner.displacement(x, progress, links, settings.stitch) if cplan.n_chunks
         else np.zeros_like(x))  # fmt: skip
    clock.lap("flow")

    chunked = _Chunked(s_lat, s_lon, lengths, cplan, x, lat0, lon0, d)
    moved = _stitch(files, series, settings, chunked)
    _check_finite(runner, moved)
    clock.lap("stitch")
    results = _per_file(files, series, plans, moved)
    for res, p, idx in zip(results, originals, replaced, strict=True):
        if idx.size:  # a replaced fix moved from where the file had it, not from its stand-in
            off = to_enu(res.out.lat[idx], res.out.lon[idx], p.lat[idx], p.lon[idx])
            res.moved[idx] = np.hypot(off[:, 0], off[:, 1])
            res.outliers = len(idx)
    clock.lap("stitch")
    return results


def _stitch(
    files: Sequence[Points], series: list[_Series], settings: DenoiseSettings, c: _Chunked
) -> _Moved:
    """Each denoised point's new position (rounded to ``DECIMALS``) and move in metres."""
    # Direct points move as their payload position in their chunk does. The move is converted
    # to degrees chunk by chunk (origins [C, 1] broadcast: each origin converted once), on the
    # chunks that hold direct points (they come first), then each point takes its own.
    n_direct = sum(len(s.direct) for s in series)
    n_dc = int(chunks.chunk_counts(c.lengths[: sum(len(s.direct_lengths) for s in series)],
                                   settings.K, settings.Q1, settings.Q2).sum())  # fmt: skip
    dlat_c, dlon_c = enu.degree_deltas(c.x[:n_dc], c.d[:n_dc], c.lat0[:n_dc, None],
                                       c.lon0[:n_dc, None])  # fmt: skip
    at = c.plan.point_chunk[:n_direct], c.plan.point_pos[:n_direct]
    d_pt = c.plan.stitch(c.d)
    base_lat, base_lon = [c.lat[:n_direct]], [c.lon[:n_direct]]
    dlat, dlon, moves = [dlat_c[at]], [dlon_c[at]], [d_pt[:n_direct]]
    # Resampled points take the grid's displacement interpolated at their own time, applied in
    # the frame of the chunk that denoised the grid point before them.
    g0 = n_direct
    for p, s in zip(files, series, strict=True):
        if s.grid is None:
            continue
        g = len(s.grid.lat)
        d_fix, j = resample.grid_to_points(s.grid, d_pt[g0 : g0 + g])
        k = c.plan.point_chunk[g0 : g0 + g][j]
        la, lo = p.lat[s.resampled], p.lon[s.resampled]
        dla, dlo = enu.degree_deltas(to_enu(la, lo, c.lat0[k], c.lon0[k]), d_fix, c.lat0[k],
                                     c.lon0[k])  # fmt: skip
        base_lat.append(la)
        base_lon.append(lo)
        dlat.append(dla)
        dlon.append(dlo)
        moves.append(d_fix)
        g0 += g
    new_lat, new_lon = enu.shift(np.concatenate(base_lat), np.concatenate(base_lon),
                                 np.concatenate(dlat), np.concatenate(dlon))  # fmt: skip
    d_all = np.concatenate(moves)
    return _Moved(np.round(new_lat, DECIMALS), np.round(new_lon, DECIMALS), d_all,
                  np.hypot(d_all[:, 0], d_all[:, 1]))  # fmt: skip


def _per_file(
    files: Sequence[Points], series: list[_Series], plans: list[SegmentPlan], moved: _Moved
) -> list[PointsResult]:
    """Back to each file, in its own point order: direct points first, then resampled ones."""
    results = []
    direct_at, rs_at = 0, sum(len(s.direct) for s in series)
    for p, s, plan in zip(files, series, plans, strict=True):
        lat, lon = p.lat.copy(), p.lon.copy()
        changed = np.zeros(len(p), dtype=bool)
        metres = np.full(len(p), np.nan)
        for idx, a in ((s.direct, direct_at), (s.resampled, rs_at)):
            lat[idx], lon[idx] = moved.lat[a : a + len(idx)], moved.lon[a : a + len(idx)]
            changed[idx] = True
            metres[idx] = moved.metres[a : a + len(idx)]
        direct_at += len(s.direct)
        rs_at += len(s.resampled)
        n_rs = 0 if s.grid is None else len(s.grid.lengths)
        results.append(PointsResult(Denoised(lat, lon, changed), plan, metres, n_rs))
    return results


def _check_finite(runner: FlowRunner, moved: _Moved) -> None:
    """Refuse a flow that moved points to NaN or infinity (NaN or overflowing weights): the
    outputs would hold "nan" coordinates or empty cells. Runs before any output is written."""
    bad = ~(np.isfinite(moved.d).all(axis=1) & np.isfinite(moved.lat) & np.isfinite(moved.lon))
    if bad.any():
        raise ThetaError(
            f"{runner.name}: the model's output is not finite for {int(bad.sum())} of "
            f"{len(bad)} points (NaN or overflowing weights?); nothing was written"
        )


class _Clock:
    """Adds wall time per stage into ``timings`` (if given)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
        self.last = now
