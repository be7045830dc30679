"""``theta bench``: trained models against the classic smoothers, on whole tracks with a clean
truth that trained and tuned nothing.

    request    models (runs, checkpoints, exports), Euler step counts, the data (``bench_types``)
    load       the models (``bench_models``); the data: by default the first model's dataset,
               test split, read as whole tracks from the raw files its ``state/prepare.json``
               lists, or any raw pairs (``pairs``)
    score      the classic methods (``tuning.METHODS``) are tuned (``tuning.tune_all``) on the
               dataset's val split, or on ``tune_pairs``, pooled or per travel class
               (``tune_per_class``); never on a scored track
               (``tuning.assert_disjoint``), and no model is scored on tracks of its own
               dataset's train or val split. Each baseline with its tuned parameters, each model
               at each step count through ``infer.pipeline.denoise_points``, exactly as
               ``theta denoise`` runs it (``bench_score``); per point, the horizontal distance in
               metres between output and clean position (``trajectory.latlon_error``, pymap3d
               ENU); mean, median, p95, RMSE, max, GSDC (p50 + p95) / 2 (``core.metrics``),
               points per second, and the same per class (walk/cycle/drive) and per situation
               (near an outlier, stops, turns, cruise: ``situations``)
    compare    the best theta row against the best baseline (any but raw, chosen per metric) on
               the median and on the p95, in percent (positive: theta is better), overall, per
               class and per situation, each with a 90% interval from resampling whole agents
               (``bootstrap``); a gain whose interval includes 0 is "level"
    record     one ``BenchRow`` per model that is a run (or a checkpoint of one) and step count,
               appended to its ``log/bench.csv``; the charts: error CDF, median/p95 bars, one
               example track, median/p95 per situation (``bench_charts``)

``run(BenchRequest(...)) -> BenchResult``; ``render(result)`` gives the Rich tables.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from theta_cli.core import csvlog, logs
from theta_cli.core.errors import ThetaError
from theta_cli.core.metrics import METRIC_NAMES
from theta_cli.eval import situations
from theta_cli.eval.bench_data import CLASSES, BenchTracks, Dataset, read_pairs
from theta_cli.eval.bench_data import read_tracks as read_raw_tracks
from theta_cli.eval.bench_models import Model, load_models, with_builtin
from theta_cli.eval.bench_score import (
    Tunings,
    best_baselines,
    compare,
    run_baselines,
    run_theta,
    tune,
    tuned_summary,
)
from theta_cli.eval.bench_types import (
    CHART_NAMES,
    BenchRequest,
    BenchResult,
    Gain,
    MethodRow,
)
from theta_cli.eval.bootstrap import Resampler

#: What callers use from here; some live in the modules bench is made of.
__all__ = [
    "CHART_NAMES", "BenchRequest", "BenchResult", "best_baselines", "check_unseen", "load_data",
    "load_models", "parse_steps", "record", "render", "run", "run_theta",
]  # fmt: skip


def parse_steps(text: str) -> list[int]:
    """``"1,2,4,10"`` -> [1, 2, 4, 10] (order kept, repeats dropped); each at least 1."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise ThetaError(
                f"--steps {text!r}: expected Euler step counts separated by commas, e.g. 1,2,4,10"
            ) from None
        if value < 1:
            raise ThetaError(f"--steps {text!r}: every step count must be at least 1")
        if value not in out:
            out.append(value)
    return out


# ---- data ---------------------------------------------------------------------------------


@dataclass
class _Data:
    scored: BenchTracks
    tune: BenchTracks
    data_label: str  # bench.csv's data column


def _split_tracks(ds: Dataset, splits: Sequence[str]) -> dict[str, BenchTracks]:
    got = read_raw_tracks(ds.raw_files, {s: ds.splits[s] for s in splits}, str(ds.root))
    for s in splits:
        got[s].label = ds.split_label(s)
        missing = len(set(ds.splits[s]) - set(got[s].ids))
        if missing:
            logs.get_logger().warning(
                f"{ds.manifest_path}: {missing} of the {len(ds.splits[s])} {s} agents have no "
                "usable rows in the raw files (changed since prepare?)"
            )
    return got


def load_data(req: BenchRequest, models: Sequence[Model]) -> _Data:
    """The scored tracks and the tuning tracks (see the module docstring)."""
    ds = next((m.dataset for m in models if m.dataset is not None), None)
    need = []
    if req.pairs is None:
        if ds is None:
            raise ThetaError(
                f"{models[0].ref}: the model's dataset was not found (config train_dir "
                f"{models[0].loaded.config.train_dir!r} has no state/prepare.json); "
                "give --pairs PATH to score on raw pairs"
            )
        if not ds.splits["test"]:
            raise ThetaError(f"{ds.manifest_path}: the test split has no agents; give --pairs "
                             "PATH to score on other raw pairs")  # fmt: skip
        need.append("test")
    if req.tune_pairs is None:
        if ds is None or not ds.splits["val"]:
            where = "no model's dataset was found" if ds is None else (
                f"{ds.manifest_path} has no val split")
            raise ThetaError(
                f"--pairs: the baselines must be tuned on tracks that are not scored, and "
                f"{where}; add --tune-pairs PATH (raw pairs to tune RTS and Savitzky-Golay on)"
            )
        need.append("val")
    # Checked before reading anything: a missing file is one line, not a half-done bench.
    for opt, p in (("--pairs", req.pairs), ("--tune-pairs", req.tune_pairs)):
        if p is not None and not Path(p).exists():
            raise ThetaError(f"{opt} {p}: no such file or directory")
    split = _split_tracks(ds, need) if need and ds is not None else {}
    scored = read_pairs(Path(req.pairs), "--pairs") if req.pairs is not None else split["test"]
    tune = (read_pairs(Path(req.tune_pairs), "--tune-pairs") if req.tune_pairs is not None
            else split["val"])  # fmt: skip
    if not scored.tracks:
        raise ThetaError(f"{scored.label}: no tracks to score (its agents are not in the raw "
                         "files)")  # fmt: skip
    if not tune.tracks:
        raise ThetaError(f"{tune.label}: no tracks to tune on (its agents are not in the raw "
                         "files)")  # fmt: skip
    data_label = str(Path(req.pairs).resolve()) if req.pairs is not None else scored.label
    return _Data(scored, tune, data_label)


def check_unseen(data: _Data, models: Sequence[Model]) -> None:
    """Nothing scored was tuned on, and no model is scored on its own train or val tracks."""
    from theta_cli.eval.tuning import assert_disjoint

    try:
        assert_disjoint(data.tune.keys(), data.scored.keys())
    except ThetaError as e:
        raise ThetaError(
            f"bench: the tuning tracks ({data.tune.label}) and the scored tracks "
            f"({data.scored.label}) overlap: {e}"
        ) from None
    scored = set(data.scored.keys())
    for m in models:
        if m.dataset is None:
            continue
        seen = sorted(scored & m.dataset.keys(("train", "val")))
        if seen:
            agents = sorted({k.split("@", 1)[0] for k in seen})
            shown = ", ".join(agents[:5]) + (", ..." if len(agents) > 5 else "")
            raise ThetaError(
                f"{m.ref}: {len(agents)} scored track(s) are in the train or val split of the "
                f"model's dataset {m.dataset.root} ({shown}); score on tracks it never saw "
                "(its test split, or other --pairs)"
            )


# ---- the whole bench: load, score, compare, record ------------------------------------------


@dataclass
class _Loaded:
    """What the load step found: the models, the tracks, where the charts go."""

    models: list[Model]
    data: _Data
    classes: list[str]  # the travel classes of the scored points, in CLASSES order
    device: str
    fig_dir: Path | None
    situations: np.ndarray  # int8 per scored point: index into situations.SITUATIONS
    resampler: Resampler  # the agent draws of every interval


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Puts the wall time of the ``with`` block in ``timings[name]``."""
    start = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - start


def run(req: BenchRequest, log: Callable[[str], None] | None = None) -> BenchResult:
    """Bench ``req.models`` against the tuned baselines; see the module docstring."""
    say = log or logs.get_logger().info
    start = time.perf_counter()
    timings: dict[str, float] = {}
    loaded = load(req, say, timings)
    tunings, rows = score(req, loaded, say, timings)
    with _timed(timings, "intervals"):
        gains = compare(rows, loaded.classes, loaded.data.scored.cls, loaded.situations,
                        loaded.resampler)  # fmt: skip
    result = _result(req, loaded, tunings, rows, gains, timings)
    record_and_chart(req, loaded, result, timings)
    timings["total"] = time.perf_counter() - start
    for r in rows:  # the estimates were for the charts; the result stays light
        r.est = None
    return result


def load(req: BenchRequest, say: Callable[[str], None], timings: dict[str, float]) -> _Loaded:
    """Check the request, load the models, then the scored and tuning tracks (refused when a
    scored track was tuned on, or trained on by a model)."""
    from theta_cli.core.device import pick_device

    start = time.perf_counter()
    steps = list(req.steps)
    if not steps or any(int(s) < 1 for s in steps):
        raise ThetaError(f"--steps {steps}: every step count must be at least 1")
    if req.batch_size < 1:
        raise ThetaError(f"--batch-size {req.batch_size}: must be at least 1")
    device = str(pick_device(req.device))
    models = load_models(with_builtin(req.models, req.builtin), req.models_dir)
    runs = [m.run for m in models if m.run is not None]
    fig_dir = req.fig_dir if req.fig_dir is not None else (runs[0].fig_dir if runs else None)
    if req.charts and fig_dir is None and not req.models:
        raise ThetaError(
            "bench needs a model to score: a run (theta bench RUN; `theta info` lists them; "
            "after the demo: theta --models-dir theta-demo/models bench RUN), or the built-in "
            "model on your own pairs with a place for the charts: theta bench --pairs PAIRS "
            "--fig-dir DIR"
        )
    if req.charts and fig_dir is None:
        raise ThetaError("--fig-dir: required when no model is a run (charts go to the first "
                         "run's fig/ otherwise)")  # fmt: skip
    for m in models:
        say(f"model: {m.description} (K={m.loaded.config.K}, Q1={m.loaded.config.Q1}, "
            f"Q2={m.loaded.config.Q2}, fix interval {m.loaded.fix_interval_s:g} s)")
    timings["load_models"] = time.perf_counter() - start

    with _timed(timings, "load_data"):
        data = load_data(req, models)
        check_unseen(data, models)
        classes = [c for c in CLASSES if (data.scored.cls == c).any()]
        codes = situations.label(data.scored.tracks)
        agents = np.repeat(np.array(data.scored.ids, dtype=object), np.diff(data.scored.bounds))
        resampler = Resampler.of(agents.astype(str))
    say(f"scoring on {data.scored.label}: {len(data.scored.tracks)} tracks, "
        f"{data.scored.n_points:,} points; tuning on {data.tune.label}: "
        f"{len(data.tune.tracks)} tracks, {data.tune.n_points:,} points")
    return _Loaded(models, data, classes, device, fig_dir, codes, resampler)


def score(
    req: BenchRequest, loaded: _Loaded, say: Callable[[str], None], timings: dict[str, float]
) -> tuple[Tunings, list[MethodRow]]:
    """Tune the baselines, then score them and every model at every step count; returns the
    tuning results and the rows, baselines first."""
    data = loaded.data
    with _timed(timings, "tuning"):
        tunings = tune(data.tune, data.scored, req.criterion, req.tune_per_class)
    how = ", per class" if req.tune_per_class else ""
    say(f"tuned the baselines on {data.tune.label} ({req.criterion}{how}) in "
        f"{timings['tuning']:.1f} s")
    with _timed(timings, "baselines"):
        rows = run_baselines(data.scored, tunings, loaded.classes)
    with _timed(timings, "theta"):
        for m in loaded.models:
            for s in req.steps:
                row = run_theta(data.scored, m, s, req, loaded.device, loaded.classes)
                say(f"{row.label}: median {row.median:.2f} m, p95 {row.p95:.2f} m, "
                    f"{row.points_per_s:,.0f} points/s")
                _keep_best_estimate(rows, row)
                rows.append(row)
    return tunings, rows


def _keep_best_estimate(rows: Sequence[MethodRow], row: MethodRow) -> None:
    """The example chart draws the best theta row (GSDC): only its estimates are kept."""
    kept = next((r for r in rows if r.is_theta and r.est is not None), None)
    if kept is not None:
        if kept.gsdc <= row.gsdc:
            row.est = None
        else:
            kept.est = None


def _result(
    req: BenchRequest, loaded: _Loaded, tunings: Tunings, rows: list[MethodRow],
    gains: dict[str, dict[str, dict[str, Gain]]], timings: dict[str, float],
) -> BenchResult:
    scored = loaded.data.scored
    codes = loaded.situations
    return BenchResult(
        data=scored.label, tune_data=loaded.data.tune.label, tracks=len(scored.tracks),
        points=scored.n_points, dropped_rows=scored.dropped, device=loaded.device,
        criterion=req.criterion, tuned=tuned_summary(tunings),
        rows=rows, gains=gains["all"].get("all", {}), class_gains=gains["class"],
        classes=list(loaded.classes),
        models=[{"ref": m.ref, "alias": m.alias, "label": m.label,
                 "description": m.description,
                 "checkpoint": str(m.loaded.source),
                 "run": str(m.run.root) if m.run is not None else None,
                 "dataset": str(m.dataset.root) if m.dataset is not None else None}
                for m in loaded.models],
        timings=timings, tuning="per_class" if req.tune_per_class else "pooled",
        situations={s: int((codes == k).sum()) for k, s in enumerate(situations.SITUATIONS)},
        situation_gains=gains["situation"],
    )  # fmt: skip


def record_and_chart(
    req: BenchRequest, loaded: _Loaded, result: BenchResult, timings: dict[str, float]
) -> None:
    """The record step: each run's bench.csv rows (``req.record``), then the charts."""
    if req.record:
        with _timed(timings, "record"):
            result.bench_csv = record(loaded.models, result.rows, loaded.data.data_label,
                                      list(req.steps))  # fmt: skip
    if req.charts and loaded.fig_dir is not None:
        from theta_cli.eval import bench_charts

        with _timed(timings, "charts"):
            result.charts = bench_charts.write_all(result, loaded.data.scored,
                                                   Path(loaded.fig_dir))  # fmt: skip


def record(
    models: Sequence[Model], rows: Sequence[MethodRow], data: str, steps: Sequence[int]
) -> list[Path]:
    """One bench.csv row per run model and step count; returns the files written."""
    from theta_cli.core import lock

    best = best_baselines(rows)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    written: list[Path] = []
    for m in models:
        if m.run is None:
            continue
        mine = [r for r in rows if r.is_theta and r.model == m.label]
        with lock.log_append(m.run.bench_csv):
            for r in sorted(mine, key=lambda r: steps.index(r.steps)):
                csvlog.append_bench_row(m.run, csvlog.BenchRow(
                    time=stamp, ckpt_name=m.ckpt_name, steps=int(r.steps or 0), data=data,
                    points=r.points, **{k: getattr(r, k) for k in METRIC_NAMES},
                    points_per_s=r.points_per_s,
                    best_baseline_median=best["median"], best_baseline_p95=best["p95"],
                    median_gain_pct=float(r.median_gain_pct or 0.0),
                    p95_gain_pct=float(r.p95_gain_pct or 0.0),
                ))
        if m.run.bench_csv not in written:
            written.append(m.run.bench_csv)
    return written


def render(result: BenchResult) -> list[Any]:
    """The Rich renderables of a result: the main table, the comparison, per class, timings."""
    from theta_cli.eval.bench_render import render as _render

    return _render(result)
