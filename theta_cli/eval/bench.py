"""``theta bench``: trained models against the classic smoothers, on whole tracks with a clean
truth that trained and tuned nothing.

    request    models (runs, checkpoints, exports), Euler step counts, the data
    data       default: the first model's dataset, test split, read as whole tracks from the raw
               files its ``state/prepare.json`` lists; or any raw pairs (``pairs``)
    tuning     raw, RTS, robust RTS and Savitzky-Golay are tuned (``tuning.tune_all``) on the
               dataset's val split, or on ``tune_pairs``; never on a scored track
               (``tuning.assert_disjoint``), and no model is scored on tracks of its own
               dataset's train or val split
    methods    each baseline with its tuned parameters; each model at each step count through
               ``infer.engine.denoise_points``, exactly as ``theta denoise`` runs it
    score      per point, the horizontal distance in metres between output and clean position
               (``trajectory.latlon_error``, pymap3d ENU); mean, median, p95, RMSE, max, GSDC
               (p50 + p95) / 2, points per second, and the same per class (walk/cycle/drive)
    compare    the best theta row against the best baseline (RTS, robust RTS, SG; chosen per
               metric) on the median and on the p95, in percent (positive: theta is better)
    record     one ``BenchRow`` per model that is a run (or a checkpoint of one) and step count,
               appended to its ``log/bench.csv``
    charts     error CDF, median/p95 bars, one example track (``bench_charts``)

``run(BenchRequest(...)) -> BenchResult``; ``render(result)`` gives the Rich tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from theta_cli import flow
from theta_cli.core import csvlog, logs
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout
from theta_cli.eval.bench_data import CLASSES, BenchTracks, Dataset, find_dataset, read_pairs
from theta_cli.eval.bench_data import read_tracks as read_raw_tracks
from theta_cli.eval.trajectory import ErrorSummary, latlon_error, summarize

#: The classic methods, in table order, and how the table names them.
BASELINES = ("raw", "rts", "robust_rts", "savgol")
BASELINE_LABELS = {"raw": "raw (noisy)", "rts": "RTS", "robust_rts": "robust RTS",
                   "savgol": "Savitzky-Golay"}  # fmt: skip
#: The baselines theta is compared with: the best of them on each metric (raw is not a method).
COMPARED = ("rts", "robust_rts", "savgol")
CHART_NAMES = ("bench-cdf.png", "bench-bars.png", "bench-example.png")
METRICS = ("mean", "median", "p95", "rmse", "max", "gsdc")


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


@dataclass
class BenchRequest:
    """What to bench. ``models``: run names or paths (best checkpoint), checkpoint files or
    exported directories. ``pairs``: score on these raw pairs instead of the test split;
    ``tune_pairs``: tune the baselines on these instead of the val split. ``fig_dir``: where the
    charts go [default: the first run's fig/; required when no model is a run]."""

    models: Sequence[str]
    steps: Sequence[int] = (flow.DEFAULT_STEPS,)
    pairs: Path | None = None
    tune_pairs: Path | None = None
    device: str | None = None
    batch_size: int = 256
    fig_dir: Path | None = None
    criterion: str = "gsdc"
    record: bool = True  # append to each run's bench.csv
    charts: bool = True
    symmetries: int = 1  # 8: theta runs with the test-time ensemble (infer.runner)
    builtin: bool = True  # also bench the built-in default model (when it is installed)


@dataclass
class Model:
    """One model given to bench, loaded."""

    ref: str
    label: str  # the model in a few words: run name, run:epoch:step, checkpoint or export name
    description: str
    loaded: Any  # model.load.LoadedModel
    run: RunLayout | None  # the run it belongs to, when it is a run's checkpoint
    ckpt_name: str
    dataset: Dataset | None
    alias: str = ""  # "A", "B", ... when several models are benched (rows say "theta A")


@dataclass
class MethodRow:
    """One row of the table: a baseline, or one model at one step count."""

    method: str  # raw, rts, robust_rts, savgol, theta
    label: str
    params: dict[str, Any]
    points: int
    mean: float
    median: float
    p95: float
    rmse: float
    max: float
    gsdc: float
    seconds: float
    points_per_s: float | None  # None for raw (nothing is computed)
    model: str | None = None
    steps: int | None = None
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    median_gain_pct: float | None = None  # theta rows: vs the best baseline's median
    p95_gain_pct: float | None = None
    errors: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    est: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)  # lat, lon

    @property
    def is_theta(self) -> bool:
        return self.method == "theta"

    def as_dict(self) -> dict[str, Any]:
        keys = ("method", "label", "model", "steps", "params", "points", *METRICS, "seconds",
                "points_per_s", "median_gain_pct", "p95_gain_pct", "per_class")  # fmt: skip
        return {k: getattr(self, k) for k in keys}


@dataclass
class Gain:
    """The best theta row against the best compared baseline, on one metric."""

    metric: str
    theta: str
    theta_value: float
    baseline: str
    baseline_value: float
    pct: float  # (baseline - theta) / baseline * 100: positive when theta is better

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class BenchResult:
    data: str
    tune_data: str
    tracks: int
    points: int
    dropped_rows: int
    device: str
    criterion: str
    tuned: dict[str, dict[str, Any]]  # method -> params, score, seconds, evaluated
    rows: list[MethodRow]
    gains: dict[str, Gain]  # "median", "p95"
    class_gains: dict[str, dict[str, Gain]]  # class -> metric -> Gain
    classes: list[str]
    models: list[dict[str, Any]]
    timings: dict[str, float]
    charts: list[Path] = field(default_factory=list)
    bench_csv: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "tune_data": self.tune_data,
            "tracks": self.tracks,
            "points": self.points,
            "dropped_rows": self.dropped_rows,
            "device": self.device,
            "criterion": self.criterion,
            "models": self.models,
            "tuned": self.tuned,
            "rows": [r.as_dict() for r in self.rows],
            "gains": {k: g.as_dict() for k, g in self.gains.items()},
            "classes": self.classes,
            "class_gains": {c: {k: g.as_dict() for k, g in gs.items()}
                            for c, gs in self.class_gains.items()},  # fmt: skip
            "timings": self.timings,
            "charts": [str(p) for p in self.charts],
            "bench_csv": [str(p) for p in self.bench_csv],
        }


# ---- models ---------------------------------------------------------------------------------


def _run_of(path: Path) -> RunLayout | None:
    try:
        run, _, _ = RunLayout.from_ckpt(path)
    except (ThetaError, ValueError):
        return None
    return run if run.log_dir.is_dir() else None


def with_builtin(refs: Sequence[str], builtin: bool) -> list[str]:
    """The models to bench: those given, then the built-in default model (alone when none is
    given), so every bench shows how a user's model compares with the shipped one."""
    from theta_cli.runs.find import BUILTIN, WEIGHTS_FILE, builtin_dir

    refs = list(refs)
    if builtin and BUILTIN not in refs and (builtin_dir() / WEIGHTS_FILE).is_file():
        refs.append(BUILTIN)
    return refs


def load_models(refs: Sequence[str]) -> list[Model]:
    """Resolve every reference first (an unknown one is refused before anything loads), then
    load each; two references to one file are refused."""
    from theta_cli.model.load import load_model
    from theta_cli.runs.find import resolve_model_ref

    if not refs:
        raise ThetaError("bench: give at least one model (a run, a checkpoint or an export)")
    resolved = [resolve_model_ref(r) for r in refs]
    paths = [p.resolve() for _, p, _ in resolved]
    if len(set(paths)) != len(paths):
        raise ThetaError("bench: a model is named twice (two references to one checkpoint)")
    models = []
    for ref, (kind, path, _why) in zip(refs, resolved, strict=True):
        loaded = load_model(ref)
        run = _run_of(path) if kind == "checkpoint" else None
        if run is not None:
            from theta_cli.runs.plots import ckpt_label

            # A run named as such is labelled by its name; a checkpoint file by run:epoch:step.
            given_file = Path(ref).is_file()
            label = f"{run.name}:{ckpt_label(path.name)}" if given_file else run.name
            bases = [run.root.parent.parent]
        else:
            label = path.stem if kind == "checkpoint" else path.name
            bases = [path.parent]
        dataset = find_dataset(loaded.config.train_dir, bases)
        models.append(Model(str(ref), label, loaded.description, loaded, run,
                            path.name, dataset))  # fmt: skip
    if len({m.label for m in models}) != len(models):
        for i, m in enumerate(models):
            m.label = f"{i + 1}:{m.label}"
    if len(models) > 1:
        for i, m in enumerate(models):
            m.alias = _alias(i)
    return models


def _alias(i: int) -> str:
    """A, B, ..., Z, AA, AB, ...: a short name per model for the table's rows."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("A") + r) + out
    return out


# ---- data -----------------------------------------------------------------------------------


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


# ---- scoring --------------------------------------------------------------------------------


def _summary_fields(s: ErrorSummary) -> dict[str, float]:
    return {k: float(getattr(s, k)) for k in METRICS}


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
    from theta_cli.infer.engine import DenoiseSettings, denoise_points
    from theta_cli.infer.runner import FlowRunner

    cfg = model.loaded.config
    settings = DenoiseSettings(
        K=cfg.K, Q1=cfg.Q1, Q2=cfg.Q2, fix_interval_s=float(model.loaded.fix_interval_s),
        steps=steps, batch_size=req.batch_size, device=device, symmetries=req.symmetries,
    )
    settings.validate()
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


def _gain(metric: str, rows: Sequence[MethodRow], cls: str | None = None) -> Gain | None:
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
    return Gain(metric, tr.label, tv, br.label, bv, _pct(bv, tv))


def best_baselines(rows: Sequence[MethodRow]) -> dict[str, float]:
    """The best median and the best p95 among the compared baselines (each its own method)."""
    return {k: min(getattr(b, k) for b in rows if b.method in COMPARED) for k in ("median", "p95")}


def _pct(baseline: float, theta: float) -> float:
    return 100.0 * (baseline - theta) / baseline if baseline > 0 else 0.0


# ---- the whole bench ------------------------------------------------------------------------


def run(req: BenchRequest, log: Callable[[str], None] | None = None) -> BenchResult:
    """Bench ``req.models`` against the tuned baselines; see the module docstring."""
    from theta_cli.core.device import pick_device
    from theta_cli.eval.tuning import tune_all

    say = log or logs.get_logger().info
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    steps = list(req.steps)
    if not steps or any(int(s) < 1 for s in steps):
        raise ThetaError(f"--steps {steps}: every step count must be at least 1")
    if req.batch_size < 1:
        raise ThetaError(f"--batch-size {req.batch_size}: must be at least 1")
    device = str(pick_device(req.device))
    models = load_models(with_builtin(req.models, req.builtin))
    runs = [m.run for m in models if m.run is not None]
    fig_dir = req.fig_dir if req.fig_dir is not None else (runs[0].fig_dir if runs else None)
    if req.charts and fig_dir is None:
        raise ThetaError("--fig-dir: required when no model is a run (charts go to the first "
                         "run's fig/ otherwise)")  # fmt: skip
    for m in models:
        say(f"model: {m.description} (K={m.loaded.config.K}, Q1={m.loaded.config.Q1}, "
            f"Q2={m.loaded.config.Q2}, fix interval {m.loaded.fix_interval_s:g} s)")
    timings["load_models"] = time.perf_counter() - clock

    t0 = time.perf_counter()
    data = load_data(req, models)
    check_unseen(data, models)
    scored = data.scored
    classes = [c for c in CLASSES if (scored.cls == c).any()]
    timings["load_data"] = time.perf_counter() - t0
    say(f"scoring on {scored.label}: {len(scored.tracks)} tracks, {scored.n_points:,} points; "
        f"tuning on {data.tune.label}: {len(data.tune.tracks)} tracks, "
        f"{data.tune.n_points:,} points")

    t0 = time.perf_counter()
    tuned = tune_all(data.tune.tracks, criterion=req.criterion)
    timings["tuning"] = time.perf_counter() - t0
    say(f"tuned the baselines on {data.tune.label} ({req.criterion}) in "
        f"{timings['tuning']:.1f} s")

    t0 = time.perf_counter()
    rows = run_baselines(scored, tuned, classes)
    timings["baselines"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    for m in models:
        for s in steps:
            row = run_theta(scored, m, s, req, device, classes)
            say(f"{row.label}: median {row.median:.2f} m, p95 {row.p95:.2f} m, "
                f"{row.points_per_s:,.0f} points/s")
            # The example chart draws the best theta row (GSDC): only its estimates are kept.
            kept = next((r for r in rows if r.is_theta and r.est is not None), None)
            if kept is not None:
                if kept.gsdc <= row.gsdc:
                    row.est = None
                else:
                    kept.est = None
            rows.append(row)
    timings["theta"] = time.perf_counter() - t0

    gains = {k: g for k in ("median", "p95") if (g := _gain(k, rows)) is not None}
    best = best_baselines(rows)
    for r in rows:
        if r.is_theta:
            r.median_gain_pct = _pct(best["median"], r.median)
            r.p95_gain_pct = _pct(best["p95"], r.p95)
    class_gains = {}
    for c in classes:
        got = {k: g for k in ("median", "p95") if (g := _gain(k, rows, c)) is not None}
        if got:
            class_gains[c] = got

    result = BenchResult(
        data=scored.label, tune_data=data.tune.label, tracks=len(scored.tracks),
        points=scored.n_points, dropped_rows=scored.dropped, device=device,
        criterion=req.criterion,
        tuned={k: {"params": v.params, "score": v.score, "criterion": v.criterion,
                   "evaluated": v.evaluated, "seconds": v.seconds}
               for k, v in tuned.items()},
        rows=rows, gains=gains, class_gains=class_gains, classes=classes,
        models=[{"ref": m.ref, "alias": m.alias, "label": m.label,
                 "description": m.description,
                 "checkpoint": str(m.loaded.source),
                 "run": str(m.run.root) if m.run is not None else None,
                 "dataset": str(m.dataset.root) if m.dataset is not None else None}
                for m in models],
        timings=timings,
    )  # fmt: skip

    if req.record:
        t0 = time.perf_counter()
        result.bench_csv = record(models, rows, data.data_label, steps)
        timings["record"] = time.perf_counter() - t0
    if req.charts and fig_dir is not None:
        from theta_cli.eval import bench_charts

        t0 = time.perf_counter()
        result.charts = bench_charts.write_all(result, scored, Path(fig_dir))
        timings["charts"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - clock
    for r in rows:  # the estimates were for the charts; the result stays light
        r.est = None
    return result


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
                    points=r.points, mean=r.mean, median=r.median, p95=r.p95, rmse=r.rmse,
                    max=r.max, gsdc=r.gsdc, points_per_s=r.points_per_s,
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
