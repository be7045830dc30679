"""`theta denoise`: read every input, denoise all their segments in shared batches, write back.

The pipeline, for all files at once:
    request    the options, checked once, and the planned jobs        (request.py, outputs.py)
    read       each file into points (lat, lon, time, track) plus a handle to its source
    model      loaded after every input is read; its geometry makes the settings (request.py)
    points     segments, rate, chunks, flow and stitch, batched across files   (pipeline.py)
    write      every output atomically, in its format                 (tracks/formats.py)
Everything is read before anything is written. One input, or ``--stop-on-error``: the first
bad file refuses the whole batch and nothing is written. Several inputs: a bad file gets its
own error in the summary (``FileSummary.error``), the good ones are denoised and written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from theta_cli.core import atomic, logs
from theta_cli.core.errors import ThetaError
from theta_cli.infer.outputs import Job
from theta_cli.infer.pipeline import PointsResult, denoise_points
from theta_cli.infer.request import DenoiseRequest, DenoiseSettings
from theta_cli.infer.runner import FlowRunner, Progress
from theta_cli.infer.segments import MIN_SEGMENT_FIXES
from theta_cli.tracks.formats import read_track_file, write_track_file
from theta_cli.tracks.points import TrackFile
from theta_cli.tracks.table import ColumnNames


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
    moved_median_m: float | None  # over every point: a point passed through moved 0 m
    moved_p95_m: float | None
    seconds: float
    moved: int = 0  # points denoised (the rest passed through unchanged)
    short_segments: int = 0  # segments under MIN_SEGMENT_FIXES fixes, passed through whole
    outliers_replaced: int = 0  # fixes the outlier pre-pass replaced before the model
    error: str | None = None  # why this file was not denoised or written (None: written)
    note: str | None = None  # e.g. nothing denoised because the fixes are too far apart

    @property
    def status(self) -> str:
        return "error" if self.error is not None else "written"


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

    @property
    def failed(self) -> list[FileSummary]:
        return [f for f in self.files if f.error is not None]


# ---- files ----------------------------------------------------------------------------------


def _quantile(values: np.ndarray, q: float) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.quantile(values, q)) if values.size else None


def read_inputs(jobs: Sequence[Job], columns: ColumnNames | None = None) -> list[TrackFile]:
    """Read (and so validate) every input; the first bad one raises ThetaError."""
    tracks, _ = read_each(jobs, columns, stop_on_error=True)
    return [tf for tf in tracks if tf is not None]


def read_each(
    jobs: Sequence[Job],
    columns: ColumnNames | None = None,
    stop_on_error: bool = False,
    strict: bool = False,
) -> tuple[list[TrackFile | None], dict[int, str]]:
    """Read every input: (each file's points, None where it failed; each failure's one-line
    error by job index). With ``stop_on_error`` the first bad file raises ThetaError."""
    log = logs.get_logger()
    tracks: list[TrackFile | None] = []
    errors: dict[int, str] = {}
    for i, job in enumerate(jobs):
        t0 = time.perf_counter()
        try:
            tf = read_track_file(job.input, columns, strict)  # strict: damaged FIT refused
        except ThetaError as e:
            if stop_on_error:
                raise
            errors[i] = str(e)
            log.error(f"{e} (skipped; the other files go on)")
            tracks.append(None)
            continue
        tf.read_seconds = time.perf_counter() - t0
        for note in tf.notes:
            log.debug(f"{job.input.name}: {note}")
        tracks.append(tf)
    return tracks, errors


def denoise_files(
    jobs: Sequence[Job],
    model: Any,
    settings: DenoiseSettings,
    columns: ColumnNames | None = None,
    progress: Progress | None = None,
    model_name: str = "",
    tracks: Sequence[TrackFile | None] | None = None,
    errors: dict[int, str] | None = None,
    stop_on_error: bool = True,
) -> DenoiseReport:
    """Denoise every job's input into its output; returns the summary.

    ``model`` is a torch module (or callable) mapping (x [B, K, 2] float32 metres, t [B, 1]) to
    the flow velocity. ``tracks`` are the inputs already read by ``read_inputs`` (else they are
    read here). Bad input raises ThetaError before any output is written. ``settings`` are
    taken as checked (``DenoiseOptions.settings``; hand-made ones: ``DenoiseSettings.validate``).
    ``errors``: the inputs that could not be read (job index: error; their ``tracks`` are None),
    reported, not written. Without ``stop_on_error`` a file that cannot be written is reported
    the same way and the others are still written.
    """
    log = logs.get_logger()
    start = time.perf_counter()
    gap_note = "--max-gap" if settings.max_gap_s is not None else (
        f"default: max(10 s, 10 x the model's {settings.fix_interval_s:g} s fix interval)"
    )
    log.info(f"segments split at gaps over {settings.gap_s:g} s ({gap_note})")
    pre_read = tracks is not None
    if tracks is None:
        tracks, errors = read_each(jobs, columns, stop_on_error)
    errors = dict(errors or {})
    read_s = [0.0 if tf is None else tf.read_seconds for tf in tracks]
    timings: dict[str, float] = {"read": sum(read_s)}
    good = [i for i, tf in enumerate(tracks) if tf is not None]

    runner = FlowRunner(
        model, settings.steps, settings.batch_size, settings.device, settings.symmetries,
        name=model_name or "the model",
    )
    results_good = denoise_points(
        [tracks[i].points for i in good], runner, settings, progress, timings,  # type: ignore[union-attr]
        [str(jobs[i].input) for i in good],
    ) if good else []
    results: list[PointsResult | None] = [None] * len(tracks)
    for i, res in zip(good, results_good, strict=True):
        results[i] = res
    shared = sum(v for k, v in timings.items() if k != "read")
    total_moved = sum(int(r.out.changed.sum()) for r in results_good) or 1

    summaries = []
    for i, (job, tf, res, took) in enumerate(zip(jobs, tracks, results, read_s, strict=True)):
        if tf is None or res is None:
            summaries.append(_failed(job, errors.get(i, "not read")))
            continue
        t0 = time.perf_counter()
        try:
            # Without --force, a file that appeared at the output while we computed is kept.
            with atomic.no_replace(not job.replace):
                write_track_file(tf, res.out, job.output, job.out_format, settings.gap_s)
        except ThetaError as e:
            if stop_on_error:
                raise
            logs.get_logger().error(f"{e} (not written; the other files go on)")
            summaries.append(_failed(job, str(e)))
            continue
        took += time.perf_counter() - t0
        timings["write"] = timings.get("write", 0.0) + time.perf_counter() - t0
        # The shared stages (segments to stitching) are charged by each file's share of points.
        took += shared * int(res.out.changed.sum()) / total_moved
        summary = _summary(job, tf.points.n_tracks, res, took)
        summary.note = _sparse_note(tf, res, settings.gap_s)
        summaries.append(summary)
        _warn_passed(job, res)
        if res.outliers:
            log.info(f"{job.input.name}: {res.outliers} fix(es) taken as outliers and replaced "
                     "by adaptive RTS's position before the model (--no-outlier-prepass: off)")
        if res.resampled:
            log.info(f"{job.input.name}: {res.resampled} segment(s) brought to the model's "
                     f"{settings.fix_interval_s:g} s fix interval by their timestamps")
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


def _failed(job: Job, error: str) -> FileSummary:
    return FileSummary(
        input=str(job.input), output=str(job.output), format=job.out_format, tracks=0,
        segments=0, resampled_segments=0, points=0, passed_through=0, passed_by_reason={},
        moved_median_m=None, moved_p95_m=None, seconds=0.0, moved=0, error=error,
    )


def _sparse_note(tf: TrackFile, res: PointsResult, gap_s: float) -> str | None:
    """Say plainly when nothing was denoised because the fixes are further apart than the max
    gap (an IGC-like log every 15 s), or every segment is too short: the file comes back
    unchanged."""
    if res.out.changed.any() or not res.plan.passed.get("short_segment"):
        return None
    t = np.asarray(tf.points.time, dtype=np.float64)
    dt = np.diff(t[np.isfinite(t)])
    dt = dt[dt > 0]
    if dt.size and float(np.median(dt)) <= gap_s:
        return (f"nothing denoised: every segment is shorter than {MIN_SEGMENT_FIXES} fixes "
                "(see --max-gap)")
    apart = f"fixes {float(np.median(dt)):g} s apart, " if dt.size else ""
    return f"nothing denoised: {apart}over --max-gap {gap_s:g} s (see --max-gap)"


def _summary(job: Job, n_tracks: int, res: PointsResult, seconds: float) -> FileSummary:
    # Over every point: one passed through unchanged moved 0 m (not left out of the median).
    every = np.where(np.isfinite(res.moved), res.moved, 0.0)
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
        moved_median_m=_quantile(every, 0.5),
        moved_p95_m=_quantile(every, 0.95),
        seconds=seconds,
        moved=int(res.out.changed.sum()),
        short_segments=res.plan.short_segments,
        outliers_replaced=res.outliers,
    )


def _warn_passed(job: Job, res: PointsResult) -> None:
    short = res.plan.passed["short_segment"]
    if not short:
        return
    text = (f"{job.input.name}: {short} point(s) in {res.plan.short_segments} segment(s) "
            f"shorter than {MIN_SEGMENT_FIXES} fixes passed through unchanged")
    if short >= 0.1 * len(res.out.lat):
        logs.get_logger().warning(f"{text} (cut by time gaps over the max gap; --max-gap "
                                  "joins them)")
    else:
        logs.get_logger().info(text)


def denoise_with_model(
    request: DenoiseRequest, progress: Progress | None = None, strict: bool = False
) -> DenoiseReport:
    """What ``theta denoise`` does once its options are checked (``DenoiseRequest``): read every
    input (bad input is refused before a possibly large model loads), load the model, denoise,
    write."""
    from theta_cli.artifact.load import load_model
    from theta_cli.core.device import pick_device

    options = request.options
    dev = str(pick_device(options.device))
    # One input keeps its one-line refusal (exit 2); so does --stop-on-error for a batch.
    stop = request.stop_on_error or len(request.jobs) == 1
    tracks, errors = read_each(request.jobs, request.columns, stop, strict)
    if errors and len(errors) == len(request.jobs):
        raise ThetaError(f"none of the {len(errors)} inputs could be read (see above); "
                         "nothing was written")
    loaded = load_model(request.model, request.models_dir)
    settings = options.settings(loaded, dev)
    ensemble = f", ensemble of {options.symmetries} symmetries" if options.symmetries > 1 else ""
    steps_note = " (the model's best_steps)" if options.steps is None and getattr(
        loaded.config, "best_steps", None) else ""
    logs.get_logger().info(
        f"model: {loaded.description} (K={settings.K}, Q1={settings.Q1}, Q2={settings.Q2}, "
        f"fix interval {settings.fix_interval_s:g} s); {settings.steps} Euler step(s){steps_note}"
        f"{ensemble} "
        f"on {dev}"
    )
    return denoise_files(request.jobs, loaded.model, settings, request.columns, progress,
                         loaded.description, tracks, errors, stop)  # fmt: skip
