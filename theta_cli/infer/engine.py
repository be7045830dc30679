"""`theta denoise`: read every input, denoise all their segments in shared batches, write back.

The pipeline, for all files at once:
    read       each file into points (lat, lon, time, track) plus a handle to its source
    segments   per track: time order, gaps, pass-through rules       (segments.py)
    rate       segments at the model's fix interval are used as they are; others are
               interpolated onto a grid at that interval              (resample.py)
    chunks     every series cut into K-point chunks, ENU about each chunk's first point
                                                                      (chunks.py, enu.py)
    flow       Euler steps of the model, batched across files         (runner.py)
    stitch     each point takes its chunk's displacement; grid displacements are interpolated
               back to the real fixes; points move in their chunk's frame   (enu.py)
    write      every output atomically, in its format                 (formats.py)
Everything is read (and refused, if bad) before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from theta_cli import flow
from theta_cli.core import atomic, logs
from theta_cli.core.config import FIX_INTERVAL_MAX_S, FIX_INTERVAL_MIN_S
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import BYTE, check_buckles
from theta_cli.data.geo import to_enu
from theta_cli.infer import chunks, enu, resample
from theta_cli.infer.formats import read_track_file, write_track_file
from theta_cli.infer.outputs import Job
from theta_cli.infer.runner import ENSEMBLES, FlowRunner, Progress
from theta_cli.infer.segments import SegmentPlan, default_max_gap, plan_segments
from theta_cli.infer.table import ColumnNames
from theta_cli.infer.tracks import Denoised, Points, TrackFile

#: Output coordinates are rounded to 1e-9 degrees (0.1 mm): more digits would be noise.
DECIMALS = 9


@dataclass(frozen=True)
class DenoiseSettings:
    """The model's geometry (K, buckles, fix interval) and how to run it."""

    K: int
    Q1: int
    Q2: int
    fix_interval_s: float
    steps: int = flow.DEFAULT_STEPS
    batch_size: int = 256
    device: str = "cpu"
    max_gap_s: float | None = None  # None: default_max_gap(fix_interval_s)
    symmetries: int = 1  # 8: the test-time ensemble over rotations and reflections (runner)

    @property
    def gap_s(self) -> float:
        if self.max_gap_s is not None:
            return self.max_gap_s
        return default_max_gap(self.fix_interval_s)

    def validate(self) -> None:
        """Refuse settings that cannot denoise, naming the option."""
        if self.steps < 1:
            raise ThetaError(f"--steps {self.steps}: must be at least 1")
        if self.batch_size < 1:
            raise ThetaError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.K < BYTE or self.K % BYTE:
            raise ThetaError(f"model K={self.K}: must be a positive multiple of {BYTE}")
        try:
            check_buckles(self.K, self.Q1, self.Q2)
        except ValueError as e:
            raise ThetaError(f"--q1/--q2: {e}") from None
        # The grid a track is resampled onto is sized by it (NaN fails the test too).
        if not FIX_INTERVAL_MIN_S <= self.fix_interval_s <= FIX_INTERVAL_MAX_S:
            raise ThetaError(
                f"model fix interval {self.fix_interval_s!r} s: must be between "
                f"{FIX_INTERVAL_MIN_S:g} and {FIX_INTERVAL_MAX_S:g} s"
            )
        if self.symmetries not in ENSEMBLES:
            raise ThetaError(
                f"--symmetries {self.symmetries}: expected one of {', '.join(map(str, ENSEMBLES))}"
            )
        if self.max_gap_s is not None and not (self.max_gap_s > 0):
            raise ThetaError(f"--max-gap {self.max_gap_s}: must be > 0 seconds")


@dataclass
class PointsResult:
    """What denoising did to one file's points."""

    out: Denoised
    plan: SegmentPlan
    moved: np.ndarray  # float64 [N]: metres each point moved; NaN where it passed through
    resampled: int  # segments brought to the model's interval by interpolation


@dataclass
class FileSummary:
    """One row of the summary table (and of ``--json``)."""

    input: str
    output: str
    format: str
    tracks: int
    segments: int
    resampled_segments: int
    points: int
    passed_through: int
    passed_by_reason: dict[str, int]
    moved_median_m: float | None
    moved_p95_m: float | None
    seconds: float


@dataclass
class DenoiseReport:
    files: list[FileSummary]
    model: str
    device: str
    steps: int
    K: int
    Q1: int
    Q2: int
    fix_interval_s: float
    max_gap_s: float
    chunks: int
    seconds: float
    model_seconds: float  # inside the model's forward passes
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- the geometry, on points ----------------------------------------------------------------


@dataclass
class _Series:
    """Per file: which points are denoised directly, and the grids of the resampled ones."""

    direct: np.ndarray  # point indices, segment after segment, time order
    direct_lengths: np.ndarray
    resampled: np.ndarray  # point indices of resampled segments
    grid: resample.Grid | None


def _split_by_rate(p: Points, plan: SegmentPlan, settings: DenoiseSettings, name: str) -> _Series:
    interval = settings.fix_interval_s
    lengths = plan.lengths
    if plan.n_segments == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Series(empty, empty, empty, None)
    direct_seg = resample.on_grid(p.time[plan.order], plan.bounds, interval)
    direct_pt = np.repeat(direct_seg, lengths)
    direct = plan.order[direct_pt]
    rs = plan.order[~direct_pt]
    grid = None
    if rs.size:
        bounds = np.concatenate([[0], np.cumsum(lengths[~direct_seg])]).astype(np.int64)
        _check_grid(resample.grid_lengths(p.time[rs], bounds, interval).sum(), rs.size,
                    settings, name)  # fmt: skip
        grid = resample.make_grid(p.lat[rs], p.lon[rs], p.time[rs], bounds, interval)
    return _Series(direct, lengths[direct_seg], rs, grid)


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
    ``names`` (one per file) are what errors call the files."""
    settings.validate()
    clock = _Clock(timings)
    names = list(names) if names is not None else [f"input {i + 1}" for i in range(len(files))]
    plans = [plan_segments(p, settings.gap_s) for p in files]
    series = [_split_by_rate(p, plan, settings, name)
              for p, plan, name in zip(files, plans, names, strict=True)]  # fmt: skip
    s_lat, s_lon, lengths = _concat_series(files, series)
    cplan = chunks.plan_chunks(lengths, settings.K, settings.Q1, settings.Q2)
    clock.lap("segments")

    x, lat0, lon0 = enu.chunk_enu(s_lat, s_lon, cplan.index)
    clock.lap("enu")
    d = runner.displacement(x, progress) if cplan.n_chunks else np.zeros_like(x)
    clock.lap("flow")

    # Direct points move as their payload position in their chunk does. The move is converted
    # to degrees chunk by chunk (origins [C, 1] broadcast: each origin converted once), on the
    # chunks that hold direct points (they come first), then each point takes its own.
    n_direct = sum(len(s.direct) for s in series)
    n_dc = int(chunks.chunk_counts(lengths[: sum(len(s.direct_lengths) for s in series)],
                                   settings.K, settings.Q1, settings.Q2).sum())  # fmt: skip
    dlat_c, dlon_c = enu.degree_deltas(x[:n_dc], d[:n_dc], lat0[:n_dc, None], lon0[:n_dc, None])
    at = cplan.point_chunk[:n_direct], cplan.point_pos[:n_direct]
    d_pt = cplan.stitch(d)
    base_lat, base_lon = [s_lat[:n_direct]], [s_lon[:n_direct]]
    dlat, dlon, moves = [dlat_c[at]], [dlon_c[at]], [d_pt[:n_direct]]
    # Resampled points take the grid's displacement interpolated at their own time, applied in
    # the frame of the chunk that denoised the grid point before them.
    g0 = n_direct
    for p, s in zip(files, series, strict=True):
        if s.grid is None:
            continue
        g = len(s.grid.lat)
        d_fix, j = resample.grid_to_points(s.grid, d_pt[g0 : g0 + g])
        c = cplan.point_chunk[g0 : g0 + g][j]
        la, lo = p.lat[s.resampled], p.lon[s.resampled]
        dla, dlo = enu.degree_deltas(to_enu(la, lo, lat0[c], lon0[c]), d_fix, lat0[c], lon0[c])
        base_lat.append(la)
        base_lon.append(lo)
        dlat.append(dla)
        dlon.append(dlo)
        moves.append(d_fix)
        g0 += g
    new_lat, new_lon = enu.shift(np.concatenate(base_lat), np.concatenate(base_lon),
                                 np.concatenate(dlat), np.concatenate(dlon))  # fmt: skip
    new_lat, new_lon = np.round(new_lat, DECIMALS), np.round(new_lon, DECIMALS)
    d_all = np.concatenate(moves)
    metres = np.hypot(d_all[:, 0], d_all[:, 1])
    _check_finite(runner, d_all, new_lat, new_lon)
    clock.lap("stitch")

    # Back to each file, in its own point order: direct points first, then resampled ones.
    results = []
    direct_at, rs_at = 0, n_direct
    for p, s, plan in zip(files, series, plans, strict=True):
        lat, lon = p.lat.copy(), p.lon.copy()
        changed = np.zeros(len(p), dtype=bool)
        moved = np.full(len(p), np.nan)
        for idx, a in ((s.direct, direct_at), (s.resampled, rs_at)):
            lat[idx], lon[idx] = new_lat[a : a + len(idx)], new_lon[a : a + len(idx)]
            changed[idx] = True
            moved[idx] = metres[a : a + len(idx)]
        direct_at += len(s.direct)
        rs_at += len(s.resampled)
        n_rs = 0 if s.grid is None else len(s.grid.lengths)
        results.append(PointsResult(Denoised(lat, lon, changed), plan, moved, n_rs))
    clock.lap("stitch")
    return results


def _check_finite(runner: FlowRunner, d: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> None:
    """Refuse a flow that moved points to NaN or infinity (NaN or overflowing weights): the
    outputs would hold "nan" coordinates or empty cells. Runs before any output is written."""
    bad = ~(np.isfinite(d).all(axis=1) & np.isfinite(lat) & np.isfinite(lon))
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


# ---- files ----------------------------------------------------------------------------------


def _quantile(values: np.ndarray, q: float) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.quantile(values, q)) if values.size else None


def read_inputs(jobs: Sequence[Job], columns: ColumnNames | None = None) -> list[TrackFile]:
    """Read (and so validate) every input; the first bad one raises ThetaError."""
    log = logs.get_logger()
    tracks = []
    for job in jobs:
        t0 = time.perf_counter()
        tf = read_track_file(job.input, columns)
        tf.read_seconds = time.perf_counter() - t0
        for note in tf.notes:
            log.debug(f"{job.input.name}: {note}")
        tracks.append(tf)
    return tracks


def denoise_files(
    jobs: Sequence[Job],
    model: Any,
    settings: DenoiseSettings,
    columns: ColumnNames | None = None,
    progress: Progress | None = None,
    model_name: str = "",
    tracks: Sequence[TrackFile] | None = None,
) -> DenoiseReport:
    """Denoise every job's input into its output; returns the summary.

    ``model`` is a torch module (or callable) mapping (x [B, K, 2] float32 metres, t [B, 1]) to
    the flow velocity. ``tracks`` are the inputs already read by ``read_inputs`` (else they are
    read here). Bad input raises ThetaError before any output is written.
    """
    settings.validate()
    log = logs.get_logger()
    start = time.perf_counter()
    gap_note = "--max-gap" if settings.max_gap_s is not None else (
        f"default: max(10 s, 10 x the model's {settings.fix_interval_s:g} s fix interval)"
    )
    log.info(f"segments split at gaps over {settings.gap_s:g} s ({gap_note})")
    pre_read = tracks is not None
    if tracks is None:
        tracks = read_inputs(jobs, columns)
    read_s = [tf.read_seconds for tf in tracks]
    timings: dict[str, float] = {"read": sum(read_s)}

    runner = FlowRunner(
        model, settings.steps, settings.batch_size, settings.device, settings.symmetries,
        name=model_name or "the model",
    )
    results = denoise_points([tf.points for tf in tracks], runner, settings, progress, timings,
                             [str(job.input) for job in jobs])  # fmt: skip
    shared = sum(v for k, v in timings.items() if k != "read")
    total_moved = sum(int(r.out.changed.sum()) for r in results) or 1

    summaries = []
    for job, tf, res, took in zip(jobs, tracks, results, read_s, strict=True):
        t0 = time.perf_counter()
        # Without --force, a file that appeared at the output while we computed is kept.
        with atomic.no_replace(not job.replace):
            write_track_file(tf, res.out, job.output, job.out_format, settings.gap_s)
        took += time.perf_counter() - t0
        timings["write"] = timings.get("write", 0.0) + time.perf_counter() - t0
        # The shared stages (segments to stitching) are charged by each file's share of points.
        took += shared * int(res.out.changed.sum()) / total_moved
        summaries.append(_summary(job, tf.points.n_tracks, res, took))
        _warn_passed(job, res)
        if res.resampled:
            log.info(f"{job.input.name}: {res.resampled} segment(s) resampled to the model's "
                     f"{settings.fix_interval_s:g} s fix interval")
        log.debug(f"wrote {job.output}")
    return DenoiseReport(
        files=summaries,
        model=model_name,
        device=settings.device,
        steps=settings.steps,
        K=settings.K,
        Q1=settings.Q1,
        Q2=settings.Q2,
        fix_interval_s=settings.fix_interval_s,
        max_gap_s=settings.gap_s,
        chunks=runner.chunks,
        seconds=time.perf_counter() - start + (sum(read_s) if pre_read else 0.0),
        model_seconds=runner.forward_seconds,
        stage_seconds=timings,
    )


def _summary(job: Job, n_tracks: int, res: PointsResult, seconds: float) -> FileSummary:
    return FileSummary(
        input=str(job.input),
        output=str(job.output),
        format=job.out_format,
        tracks=n_tracks,
        segments=res.plan.n_segments,
        resampled_segments=res.resampled,
        points=len(res.out.lat),
        passed_through=res.plan.n_passed,
        passed_by_reason=dict(res.plan.passed),
        moved_median_m=_quantile(res.moved, 0.5),
        moved_p95_m=_quantile(res.moved, 0.95),
        seconds=seconds,
    )


def _warn_passed(job: Job, res: PointsResult) -> None:
    short = res.plan.passed["short_segment"]
    if short and short >= 0.1 * len(res.out.lat):
        logs.get_logger().warning(
            f"{job.input.name}: {short} point(s) in segments of one point passed through "
            "(fixes further apart than the max gap); --max-gap joins them"
        )


def denoise_with_model(
    jobs: Sequence[Job],
    model_ref: str | None,
    columns: ColumnNames | None = None,
    steps: int = 10,
    batch_size: int = 256,
    device: str | None = None,
    max_gap: float | None = None,
    q1: int | None = None,
    q2: int | None = None,
    progress: Progress | None = None,
    symmetries: int = 1,
) -> DenoiseReport:
    """What ``theta denoise`` does once its options are checked: read every input (bad input is
    refused before a possibly large model loads), load ``model_ref``, denoise, write."""
    from theta_cli.core.device import pick_device
    from theta_cli.model.load import load_model

    log = logs.get_logger()
    dev = str(pick_device(device))
    tracks = read_inputs(jobs, columns)
    loaded = load_model(model_ref)
    cfg = loaded.config
    settings = DenoiseSettings(
        K=cfg.K,
        Q1=cfg.Q1 if q1 is None else q1,
        Q2=cfg.Q2 if q2 is None else q2,
        fix_interval_s=float(loaded.fix_interval_s),
        steps=steps,
        batch_size=batch_size,
        device=dev,
        max_gap_s=max_gap,
        symmetries=symmetries,
    )
    settings.validate()
    ensemble = f", ensemble of {symmetries} symmetries" if symmetries > 1 else ""
    log.info(f"model: {loaded.description} (K={settings.K}, Q1={settings.Q1}, "
             f"Q2={settings.Q2}, fix interval {settings.fix_interval_s:g} s); "
             f"{steps} Euler step(s){ensemble} on {dev}")
    return denoise_files(
        jobs, loaded.model, settings, columns, progress, loaded.description, tracks
    )
