"""Scoring for ``theta bench``: each method's per-point error against the clean track, its
summary (``core.metrics``) overall, per class and per situation, and theta's gain over the best
baseline with its bootstrap interval.

    tuning     every method of ``tuning.METHODS`` on the tuning tracks: once on all of them
               (pooled), or once per travel class on that class's tracks (``tune_per_class``),
               each class's parameters then applied to the scored tracks of that class
    baselines  each classic method with its tuned parameters
    theta      each model at each step count through ``infer.pipeline.denoise_points``, exactly
               as ``theta denoise`` runs it, scored point by point
    gains      the best theta row against the best compared baseline (chosen per metric, on
               the points compared), with a 90% interval from resampling whole agents
               (``bootstrap``)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theta_cli.core.errors import ThetaError
from theta_cli.core.metrics import METRIC_NAMES
from theta_cli.eval import situations
from theta_cli.eval.bench_data import CLASSES, BenchTracks
from theta_cli.eval.bench_models import Model
from theta_cli.eval.bench_types import (
    GAIN_METRICS,
    BenchRequest,
    Gain,
    MethodRow,
    baseline_label,
)
from theta_cli.eval.bootstrap import Resampler, gain_interval, verdict
from theta_cli.eval.trajectory import ErrorSummary, latlon_error, summarize

#: class (None: pooled, all classes together) -> method -> its ``tuning.Tuned``
Tunings = dict[str | None, dict[str, Any]]


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


def tune(tune: BenchTracks, scored: BenchTracks, criterion: str, per_class: bool) -> Tunings:
    """Every method of ``tuning.METHODS`` tuned on ``tune``: pooled, or per class on the
    classes the scored tracks have (refused when a track has no class, or a scored class has
    no tuning track)."""
    from theta_cli.eval import tuning

    if not per_class:
        return {None: tuning.tune_all(tune.tracks, criterion=criterion)}
    for tracks, what in ((scored, "scored"), (tune, "tuning")):
        bare = [tr.id for tr in tracks.tracks if tr.cls not in CLASSES]
        if bare:
            raise ThetaError(
                f"--tune-per-class: {len(bare)} of the {len(tracks.tracks)} {what} tracks "
                f"({tracks.label}) have no travel class (e.g. {bare[0]!r}; a class comes from "
                "agent names walk_N, cycle_N, drive_N, as synth writes them); drop "
                "--tune-per-class to tune on the pooled tracks"
            )
    wanted = [c for c in CLASSES if any(tr.cls == c for tr in scored.tracks)]
    for c in wanted:
        if not any(tr.cls == c for tr in tune.tracks):
            raise ThetaError(f"--tune-per-class: the scored tracks have {c} agents but the "
                             f"tuning tracks ({tune.label}) have none to tune on")  # fmt: skip
    return {c: tuning.tune_all([tr for tr in tune.tracks if tr.cls == c], criterion=criterion)
            for c in wanted}  # fmt: skip


def tuned_summary(tunings: Tunings) -> dict[str, dict[str, Any]]:
    """What ``BenchResult.tuned`` holds (see there)."""

    def one(v: Any) -> dict[str, Any]:
        return {"params": v.params, "score": v.score, "criterion": v.criterion,
                "evaluated": v.evaluated, "seconds": v.seconds}  # fmt: skip

    if None in tunings:
        return {k: one(v) for k, v in tunings[None].items()}
    methods = next(iter(tunings.values()))
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        per = {c: one(t[m]) for c, t in tunings.items()}
        out[m] = {"seconds": sum(v["seconds"] for v in per.values()),
                  "evaluated": sum(v["evaluated"] for v in per.values()), "per_class": per}
    return out


def _estimates(scored: BenchTracks, func: Callable[..., Any], name: str,
               tunings: Tunings) -> list[np.ndarray]:  # fmt: skip
    """``func``'s estimate of every scored track, each class with its own parameters."""
    if None in tunings:
        return list(func(scored.tracks, **tunings[None][name].params))
    out: list[np.ndarray] = [np.empty((0, 2))] * len(scored.tracks)
    for c, tuned in tunings.items():
        idx = [i for i, tr in enumerate(scored.tracks) if tr.cls == c]
        for i, est in zip(idx, func([scored.tracks[i] for i in idx], **tuned[name].params),
                          strict=True):  # fmt: skip
            out[i] = est
    return out


def run_baselines(
    scored: BenchTracks, tunings: Tunings, classes: Sequence[str]
) -> list[MethodRow]:
    """Each tuned classic method with its parameters (per class: each class's); a method's time
    runs from the noisy lat/lon (the ENU conversion's share) to lat/lon out, like theta's."""
    from theta_cli.eval.baselines import BASELINES as FUNCS

    rows = []
    for name in next(iter(tunings.values())):
        if None in tunings:
            params: dict[str, Any] = dict(tunings[None][name].params)
        else:
            params = {c: dict(t[name].params) for c, t in tunings.items()}
        start = time.perf_counter()
        if name == "raw":
            lat, lon = scored.lat, scored.lon
            seconds = 0.0
        else:
            if name not in FUNCS:
                raise ThetaError(f"bench: {name} was tuned but baselines.py has no such "
                                 "method")  # fmt: skip
            lat, lon = scored.to_latlon(_estimates(scored, FUNCS[name], name, tunings))
            seconds = time.perf_counter() - start + scored.enu_seconds
        errors = _error(scored, lat, lon)
        row = _row(name, baseline_label(name), params, errors, seconds, scored, classes)
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
                             symmetries=req.symmetries, stitch=req.stitch,
                             prepass=req.prepass)  # fmt: skip
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
    ensemble += f", {req.stitch}" if req.stitch != "independent" else ""
    ensemble += ", no pre-pass" if not req.prepass else ""
    label = f"{who} ({steps} step{'s' if steps != 1 else ''}{ensemble})"
    row = _row("theta", label, params, errors, seconds, scored, classes, model=model.label,
               steps=steps)  # fmt: skip
    row.est = (lat, lon)
    return row


Stats = Callable[[MethodRow], "dict[str, float] | None"]


def _value(r: MethodRow, metric: str, stats: Stats | None) -> float | None:
    if stats is None:
        return float(getattr(r, metric))
    got = stats(r)
    return None if got is None else got[metric]


def pick(metric: str, rows: Sequence[MethodRow], stats: Stats | None = None
         ) -> tuple[int, int] | None:  # fmt: skip
    """(best compared baseline, best theta row) on ``metric``, as indices into ``rows``
    (``stats``: a row's numbers on a subset of the points, None where it has none; default:
    all points); None when either is missing."""
    thetas = [(v, i) for i, r in enumerate(rows)
              if r.is_theta and (v := _value(r, metric, stats)) is not None]  # fmt: skip
    bases = [(v, i) for i, r in enumerate(rows)
             if r.is_compared and (v := _value(r, metric, stats)) is not None]  # fmt: skip
    if not thetas or not bases:
        return None
    return min(bases)[1], min(thetas)[1]


def _gain_of(
    metric: str, rows: Sequence[MethodRow], stats: Stats | None, pair: tuple[int, int]
) -> Gain:
    """The best theta row against the best compared baseline on ``metric``, ``pair`` being
    what ``pick`` chose; the interval is filled in by ``_with_intervals``."""
    b, t = rows[pair[0]], rows[pair[1]]
    bv, tv = _value(b, metric, stats), _value(t, metric, stats)
    assert bv is not None and tv is not None  # pick chose rows that have both
    return Gain(metric, t.label, tv, b.label, bv, gain_pct(bv, tv))


def compare(
    rows: Sequence[MethodRow], classes: Sequence[str], cls: np.ndarray, codes: np.ndarray,
    resampler: Resampler,
) -> dict[str, dict[str, dict[str, Gain]]]:
    """Theta against the best compared baseline on the median and the p95, overall ("all"),
    per class and per situation (``cls``, ``codes``: each scored point's), with intervals;
    fills each row's ``per_situation`` and each theta row's own gains (``median_gain_pct``,
    ``p95_gain_pct``). Returns family ("all", "class", "situation") -> name -> metric -> Gain."""
    for r in rows:
        r.per_situation = situations.per_situation(r.errors, codes)
    best = best_baselines(rows)
    for r in rows:
        if r.is_theta:
            r.median_gain_pct = gain_pct(best["median"], r.median)
            r.p95_gain_pct = gain_pct(best["p95"], r.p95)
    subsets = {
        "class": {c: (cls == c, lambda r, c=c: r.per_class.get(c)) for c in classes},
        "situation": {s: (codes == k, lambda r, s=s: r.per_situation.get(s))
                      for k, s in enumerate(situations.SITUATIONS) if (codes == k).any()},
    }  # fmt: skip
    return _with_intervals(rows, subsets, resampler)


def _with_intervals(
    rows: Sequence[MethodRow], subsets: dict[str, dict[str, tuple[np.ndarray, Stats]]],
    resampler: Resampler,
) -> dict[str, dict[str, dict[str, Gain]]]:  # fmt: skip
    """The gains, each with its interval: ``subsets`` is family ("class", "situation") -> name
    -> (its point mask, a row's numbers there); the result adds family "all" -> "all". Each
    row's quantiles are resampled once per subset, on the same agent draws for every row."""
    qs = [0.5 if k == "median" else 0.95 for k in GAIN_METRICS]
    families = {"all": {"all": (np.ones(len(rows[0].errors), dtype=bool), None)}, **subsets}
    out: dict[str, dict[str, dict[str, Gain]]] = {}
    for family, named in families.items():
        out[family] = {}
        for name, (mask, stats) in named.items():
            cache: dict[int, np.ndarray] = {}
            got = {}
            for j, k in enumerate(GAIN_METRICS):
                pair = pick(k, rows, stats)
                if pair is None:
                    continue
                g, (bi, ti) = _gain_of(k, rows, stats, pair), pair
                for i in (bi, ti):
                    if i not in cache:
                        cache[i] = resampler.quantiles(rows[i].errors, qs, mask)
                g.low, g.high = gain_interval(cache[bi][:, j], cache[ti][:, j])
                g.resamples, g.verdict = resampler.resamples, verdict(g.low, g.high)
                got[k] = g
            if got:
                out[family][name] = got
    return out


def best_baselines(rows: Sequence[MethodRow]) -> dict[str, float]:
    """The best median and the best p95 among the compared baselines (each its own method)."""
    return {k: min(getattr(b, k) for b in rows if b.is_compared) for k in GAIN_METRICS}


def gain_pct(baseline: float, theta: float) -> float:
    """How much lower theta is than the baseline, in percent (positive: theta is better)."""
    return 100.0 * (baseline - theta) / baseline if baseline > 0 else 0.0
