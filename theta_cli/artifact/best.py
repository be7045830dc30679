"""The one rule for "the best checkpoint" of a run, used by info, prune, denoise and bench.

    best = the lowest value of the metric (acc_mean by default: an error, lower is better)
           among the checkpoints on disk that train_data.csv describes, each judged by its
           last row (a resume from an older checkpoint rewrites later names);
           a NaN metric ranks last; on a tie the newer (more trained) checkpoint wins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from theta_cli.core import csvlog
from theta_cli.core.layout import RunLayout

METRICS = ("acc_mean", "acc_median", "acc_std", "avg_loss")
DEFAULT_METRIC = "acc_mean"


def metric_key(value: float | None) -> float:
    """Sort key of a metric value: lower is better, NaN and missing rank last."""
    return math.inf if value is None or math.isnan(value) else value


def latest_rows(rows: Sequence[csvlog.TrainRow]) -> dict[str, csvlog.TrainRow]:
    """Checkpoint name -> its last row (the one written with the file now on disk)."""
    return {r.ckpt_name: r for r in rows}


def rank(on_disk: Sequence[Path], rows: Sequence[csvlog.TrainRow], metric: str) -> list[Path]:
    """Described checkpoints, best first. ``on_disk`` is oldest first (``run.checkpoints()``)."""
    described = latest_rows(rows)
    scored = [p for p in reversed(on_disk) if p.name in described]  # newest first ...
    # ... and a stable sort keeps newest first among equals: the tie rule.
    return sorted(scored, key=lambda p: metric_key(float(getattr(described[p.name], metric))))


def best_checkpoint(
    run: RunLayout,
    rows: Sequence[csvlog.TrainRow] | None = None,
    metric: str = DEFAULT_METRIC,
) -> Path | None:
    """The run's best checkpoint on disk, or None when no checkpoint is described."""
    rows = csvlog.read_train_rows(run) if rows is None else rows
    ranked = rank([p for _, _, p in run.checkpoints()], rows, metric)
    return ranked[0] if ranked else None
