"""`theta denoise`: read every input, denoise all their segments in shared batches, write back.

The pipeline, for all files at once:
    request    the options, checked once, and the planned jobs        (request.py, outputs.py)
    read       each file into points (lat, lon, time, track) plus a handle to its source
    model      loaded after every input is read; its geometry makes the settings (request.py)
    points     segments, rate, chunks, flow and stitch, batched across files   (pipeline.py)
    write      every output atomically, in its format                 (tracks/formats.py)
Everything is read (and refused, if bad) before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from theta_cli.core import atomic, logs
from theta_cli.infer.outputs import Job
from theta_cli.infer.pipeline import PointsResult, denoise_points
from theta_cli.infer.request import DenoiseRequest, DenoiseSettings
from theta_cli.infer.runner import FlowRunner, Progress
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
    read here). Bad input raises ThetaError before any output is written. ``settings`` are
    taken as checked (``DenoiseOptions.settings``; hand-made ones: ``DenoiseSettings.validate``).
    """
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


def denoise_with_model(request: DenoiseRequest, progress: Progress | None = None) -> DenoiseReport:
    """What ``theta denoise`` does once its options are checked (``DenoiseRequest``): read every
    input (bad input is refused before a possibly large model loads), load the model, denoise,
    write."""
    from theta_cli.artifact.load import load_model
    from theta_cli.core.device import pick_device

    options = request.options
    dev = str(pick_device(options.device))
    tracks = read_inputs(request.jobs, request.columns)
    loaded = load_model(request.model, request.models_dir)
    settings = options.settings(loaded, dev)
    ensemble = f", ensemble of {options.symmetries} symmetries" if options.symmetries > 1 else ""
    logs.get_logger().info(
        f"model: {loaded.description} (K={settings.K}, Q1={settings.Q1}, Q2={settings.Q2}, "
        f"fix interval {settings.fix_interval_s:g} s); {options.steps} Euler step(s){ensemble} "
        f"on {dev}"
    )
    return denoise_files(request.jobs, loaded.model, settings, request.columns, progress,
                         loaded.description, tracks)  # fmt: skip
