"""Scoring for ``theta bench``: each method's per-point error against the clean track, its
summary (``core.metrics``) overall and per class, and theta's gain over the best baseline.

    baselines  raw, RTS, robust RTS and Savitzky-Golay with their tuned parameters
    theta      each model at each step count through ``infer.pipeline.denoise_points``, exactly
               as ``theta denoise`` runs it, scored point by point
    gains      the best theta row against the best compared baseline (chosen per metric)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from theta_cli.core.metrics import METRIC_NAMES
from theta_cli.eval.bench_data import BenchTracks
from theta_cli.eval.bench_models import Model
from theta_cli.eval.bench_types import (
    BASELINE_LABELS,
    BASELINES,
    COMPARED,
    GAIN_METRICS,
    BenchRequest,
    Gain,
    MethodRow,
)
from theta_cli.eval.trajectory import ErrorSummary, latlon_error, summarize


def _summary_fields(s: ErrorSummary) -> dict[str, float]:
    return {k: float(getattr(s, k)) for k in METRIC_NAMES}


def _per_class(errors: np.ndarray, cls: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in classes:
        e = errors[cls == c]
        if e.size:
            s = summarize(e)
            out[c] = {"points": int(e.size), **_summary_fields(s)}
    return out


def _row(
    method: str, label: str, params: dict[str, Any], errors: np.ndarray, seconds: float,
    scored: BenchTracks, classes: Sequence[str], **extra: Any,
) -> MethodRow:
    s = summarize(errors)
    rate = errors.size / seconds if method != "raw" and seconds > 0 else None
    return MethodRow(
        method=method, label=label, params=params, points=int(errors.size),
        seconds=seconds, points_per_s=rate,
        per_class=_per_class(errors, scored.cls, classes), errors=errors,
        **_summary_fields(s), **extra,
    )


def _error(scored: BenchTracks, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    return latlon_error(lat, lon, scored.clean_lat, scored.clean_lon)


def run_baselines(
    scored: BenchTracks, tuned: dict[str, Any], classes: Sequence[str]
) -> list[MethodRow]:
    """Each classic method with its tuned parameters; a method's time runs from the noisy
    lat/lon (the ENU conversion's share) to lat/lon out, like theta's."""
    from theta_cli.eval.baselines import BASELINES as FUNCS

    rows = []
    for name in BASELINES:
        params = dict(tuned[name].params)
        start = time.perf_counter()
        if name == "raw":
            lat, lon = scored.lat, scored.lon
            seconds = 0.0
        else:
            lat, lon = scored.to_latlon(FUNCS[name](scored.tracks, **params))
            seconds = time.perf_counter() - start + scored.enu_seconds
        errors = _error(scored, lat, lon)
        row = _row(name, BASELINE_LABELS[name], params, errors, seconds, scored, classes)
        if name == "rts":  # the example chart draws RTS
            row.est = (lat, lon)
        rows.append(row)
    return rows


def run_theta(
    scored: BenchTracks, model: Model, steps: int, req: BenchRequest, device: str,
    classes: Sequence[str],
) -> MethodRow:
    """One model at ``steps`` Euler steps through ``denoise_points``: what ``theta denoise``
    would write for these tracks, scored point by point."""
    from theta_cli.infer.pipeline import denoise_points
    from theta_cli.infer.request import DenoiseOptions
    from theta_cli.infer.runner import FlowRunner

    cfg = model.loaded.config
    options = DenoiseOptions(steps=steps, batch_size=req.batch_size, device=device,
                             symmetries=req.symmetries)  # fmt: skip
    settings = options.settings(model.loaded, device)  # the one check of them
    runner = FlowRunner(model.loaded.model, steps, req.batch_size, device, req.symmetries,
                        name=model.description)  # fmt: skip
    # One chunk through the model first: thread pools, allocators and CUDA kernels start up
    # outside the timed run, so points/s is the steady rate a long denoise gets.
    runner.displacement(np.zeros((1, cfg.K, 2)))
    start = time.perf_counter()
    (res,) = denoise_points([scored.points()], runner, settings, names=[scored.label])
    seconds = time.perf_counter() - start
    lat, lon = res.out.lat, res.out.lon
    errors = _error(scored, lat, lon)
    params = {"K": cfg.K, "Q1": cfg.Q1, "Q2": cfg.Q2,
              "fix_interval_s": settings.fix_interval_s, "passed_through": res.plan.n_passed}
    who = f"theta {model.alias}" if model.alias else "theta"
    ensemble = f", x{req.symmetries}" if req.symmetries > 1 else ""
    label = f"{who} ({steps} step{'s' if steps != 1 else ''}{ensemble})"
    row = _row("theta", label, params, errors, seconds, scored, classes, model=model.label,
               steps=steps)  # fmt: skip
    row.est = (lat, lon)
    return row


def gain(metric: str, rows: Sequence[MethodRow], cls: str | None = None) -> Gain | None:
    """The best theta row against the best compared baseline on ``metric`` (in class ``cls``:
    its points only); None when either is missing."""

    def value(r: MethodRow) -> float | None:
        if cls is None:
            return getattr(r, metric)
        got = r.per_class.get(cls)
        return None if got is None else got[metric]

    thetas = [(value(r), r) for r in rows if r.is_theta and value(r) is not None]
    bases = [(value(r), r) for r in rows if r.method in COMPARED and value(r) is not None]
    if not thetas or not bases:
        return None
    tv, tr = min(thetas, key=lambda p: p[0])
    bv, br = min(bases, key=lambda p: p[0])
    return Gain(metric, tr.label, tv, br.label, bv, gain_pct(bv, tv))


def best_baselines(rows: Sequence[MethodRow]) -> dict[str, float]:
    """The best median and the best p95 among the compared baselines (each its own method)."""
    return {k: min(getattr(b, k) for b in rows if b.method in COMPARED) for k in GAIN_METRICS}


def gain_pct(baseline: float, theta: float) -> float:
    """How much lower theta is than the baseline, in percent (positive: theta is better)."""
    return 100.0 * (baseline - theta) / baseline if baseline > 0 else 0.0
