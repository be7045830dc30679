"""Early stopping: a plateau test on acc_mean in the run's train_data.csv.

The run stops when the best acc_mean (lower is better) was reached ``patience`` or more
checkpoints ago, i.e. none of the last ``patience`` checkpoints improved on the best one before
them. An improvement must beat the best by a relative ``MIN_REL_IMPROVEMENT`` (the same
threshold as torch's ReduceLROnPlateau default), so noise in the last digits does not keep a
flat run alive. ``patience = 0`` never stops. Values are ordered by ``artifact.best.metric_key``
(the best-checkpoint rule's order: lower is better, NaN last); the threshold is what makes this a
plateau test rather than a search for the best checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from theta_cli.artifact.best import metric_key
from theta_cli.core.csvlog import TrainRow, read_train_rows
from theta_cli.core.layout import RunLayout

MIN_REL_IMPROVEMENT = 1e-4


@dataclass(frozen=True)
class Verdict:
    stop: bool
    reason: str


def plateau(rows: list[TrainRow], patience: int) -> Verdict:
    """Decide on a list of checkpoint rows, oldest first."""
    if patience <= 0:
        return Verdict(False, "early stopping is off (early_stop_patience=0)")
    if not rows:
        return Verdict(False, "no checkpoints yet")
    best_i = 0
    for i, row in enumerate(rows[1:], start=1):
        if metric_key(row.acc_mean) < metric_key(rows[best_i].acc_mean) * (
            1.0 - MIN_REL_IMPROVEMENT
        ):
            best_i = i
    since = len(rows) - 1 - best_i
    best = rows[best_i]
    if since >= patience:
        return Verdict(
            True,
            f"acc_mean has not improved for {since} checkpoints (patience {patience}); "
            f"best {best.acc_mean:.4f} m at {best.ckpt_name}",
        )
    return Verdict(
        False, f"best acc_mean {best.acc_mean:.4f} m at {best.ckpt_name}, {since} checkpoints ago"
    )


def converge_detector(run: RunLayout, patience: int) -> Verdict:
    """The spec's converge_detector: read train_data.csv and apply the plateau test."""
    if patience <= 0:
        return plateau([], patience)
    return plateau(read_train_rows(run), patience)
