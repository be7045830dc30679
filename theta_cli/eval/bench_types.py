"""What ``theta bench`` is asked (``BenchRequest``) and what it finds (``BenchResult``: one
``MethodRow`` per method, the ``Gain``s of theta over the best baseline), with the names the
tables and charts give the methods. ``bench`` computes them; ``bench_render`` and
``bench_charts`` show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from theta_cli import flow
from theta_cli.core.metrics import METRIC_NAMES, with_metric_fields

#: How the tables name the classic methods. Which methods run is ``tuning.METHODS`` (in its
#: order); one missing here is named by its key.
BASELINE_LABELS = {"raw": "raw (noisy)", "rts": "RTS", "robust_rts": "robust RTS",
                   "adaptive_rts": "adaptive RTS", "savgol": "Savitzky-Golay"}  # fmt: skip


def baseline_label(method: str) -> str:
    """The table name of a classic method (its key when it has none yet)."""
    return BASELINE_LABELS.get(method, method.replace("_", " "))


#: How a table says which tuning its baselines had (``BenchResult.tuning``).
TUNING_TEXT = {"pooled": "baselines tuned on the pooled val split",
               "per_class": "baselines tuned per class"}  # fmt: skip
#: The metrics theta's gain over the best baseline is given on.
GAIN_METRICS = ("median", "p95")
CHART_NAMES = ("bench-cdf.png", "bench-bars.png", "bench-example.png", "bench-situations.png")


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
    stitch: str = "independent"  # how theta denoises a series' chunks together (infer.stitch)
    prepass: bool = True  # theta replaces gross outliers first, as denoise does (infer.prepass)
    models_dir: Path | None = None  # where models named by run are looked for (None: default)
    builtin: bool = True  # also bench the built-in default model (when it is installed)
    tune_per_class: bool = False  # tune (and apply) every baseline per travel class


@dataclass
@with_metric_fields(after="points")
class MethodRow:
    """One row of the table: a baseline, or one model at one step count. The metric fields
    (mean, median, p95, rmse, max, gsdc: ``core.metrics``) follow ``points``."""

    method: str  # a tuning.METHODS name (raw, rts, ...) or theta
    label: str
    params: dict[str, Any]
    points: int
    seconds: float
    points_per_s: float | None  # None for raw (nothing is computed)
    model: str | None = None
    steps: int | None = None
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    per_situation: dict[str, dict[str, float]] = field(default_factory=dict)  # situations.py
    median_gain_pct: float | None = None  # theta rows: vs the best baseline's median
    p95_gain_pct: float | None = None
    errors: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    est: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)  # lat, lon

    @property
    def is_theta(self) -> bool:
        return self.method == "theta"

    @property
    def is_compared(self) -> bool:
        """A baseline theta is compared with (raw is the input, not a method)."""
        return self.method not in ("theta", "raw")

    def as_dict(self) -> dict[str, Any]:
        keys = ("method", "label", "model", "steps", "params", "points", *METRIC_NAMES, "seconds",
                "points_per_s", "median_gain_pct", "p95_gain_pct", "per_class",
                "per_situation")  # fmt: skip
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
    # The 90% bootstrap interval of pct over whole agents (``bootstrap``), and what it says.
    low: float | None = None
    high: float | None = None
    resamples: int = 0
    verdict: str = "level"  # better, worse, or level: the interval includes 0

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
    # method -> params, score, seconds, evaluated; tuned per class: method -> seconds,
    # evaluated, and per_class: class -> params, score, seconds, evaluated
    tuned: dict[str, dict[str, Any]]
    rows: list[MethodRow]
    gains: dict[str, Gain]  # "median", "p95"
    class_gains: dict[str, dict[str, Gain]]  # class -> metric -> Gain
    classes: list[str]
    models: list[dict[str, Any]]
    timings: dict[str, float]
    tuning: str = "pooled"  # or "per_class": see TUNING_TEXT
    situations: dict[str, int] = field(default_factory=dict)  # situation -> points
    situation_gains: dict[str, dict[str, Gain]] = field(default_factory=dict)
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
            "tuning": self.tuning,
            "tuning_text": TUNING_TEXT[self.tuning],
            "models": self.models,
            "tuned": self.tuned,
            "rows": [r.as_dict() for r in self.rows],
            "gains": {k: g.as_dict() for k, g in self.gains.items()},
            "classes": self.classes,
            "class_gains": {c: {k: g.as_dict() for k, g in gs.items()}
                            for c, gs in self.class_gains.items()},  # fmt: skip
            "situations": self.situations,
            "situation_gains": {s: {k: g.as_dict() for k, g in gs.items()}
                                for s, gs in self.situation_gains.items()},  # fmt: skip
            "timings": self.timings,
            "charts": [str(p) for p in self.charts],
            "bench_csv": [str(p) for p in self.bench_csv],
        }
