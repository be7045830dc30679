"""Which checkpoints of a run to delete (``theta prune``), and the deletion itself.

Kept: the ``keep_best`` best by a train_data.csv metric (lower is better) and the ``keep_last``
newest. Never deleted, whatever the options: the best checkpoint by the metric, the newest one
(``theta resume`` continues from it), any checkpoint train_data.csv does not describe (unknown
means keep), and anything that is not a checkpoint file directly inside the run's ``ckpt/``.

"Best" is the one rule of ``artifact.best`` (its last CSV row per checkpoint, NaN last, the newer
wins a tie), so prune protects exactly the checkpoint ``theta info`` marks as best.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from theta_cli.artifact.best import DEFAULT_METRIC, METRICS, latest_rows, rank
from theta_cli.core import csvlog
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import CKPT_RE, RunLayout

DEFAULT_KEEP_BEST = 3
DEFAULT_KEEP_LAST = 2
NOT_IN_CSV = "not in train_data.csv"


@dataclass(frozen=True)
class PruneItem:
    path: Path
    epoch: int
    step: int
    size: int
    metric: float | None  # None: train_data.csv does not describe this checkpoint
    reasons: tuple[str, ...]  # why it is kept; empty means delete

    @property
    def keep(self) -> bool:
        return bool(self.reasons)

    @property
    def decision(self) -> str:
        return f"keep ({', '.join(self.reasons)})" if self.reasons else "delete"


@dataclass(frozen=True)
class PrunePlan:
    run: RunLayout
    metric: str
    keep_best: int
    keep_last: int
    items: tuple[PruneItem, ...]  # oldest first

    @property
    def to_delete(self) -> list[PruneItem]:
        return [i for i in self.items if not i.keep]

    @property
    def bytes_freed(self) -> int:
        return sum(i.size for i in self.to_delete)


def plan_prune(
    run: RunLayout,
    keep_best: int = DEFAULT_KEEP_BEST,
    keep_last: int = DEFAULT_KEEP_LAST,
    metric: str = DEFAULT_METRIC,
) -> PrunePlan:
    """Decide keep/delete for every checkpoint on disk. Deletes nothing."""
    if metric not in METRICS:
        raise ThetaError(f"--metric {metric!r}: expected one of {', '.join(METRICS)}")
    if keep_best < 0:
        raise ThetaError(f"--keep-best {keep_best}: must be >= 0")
    if keep_last < 0:
        raise ThetaError(f"--keep-last {keep_last}: must be >= 0")
    on_disk = run.checkpoints()  # (epoch, step, path), oldest first
    if not on_disk:
        raise ThetaError(f"{run.ckpt_dir}: the run has no checkpoints")
    rows = csvlog.read_train_rows(run)
    described = {name: float(getattr(r, metric)) for name, r in latest_rows(rows).items()}
    metric_of = {p.name: described.get(p.name) for _, _, p in on_disk}
    position = {p.name: i for i, p in enumerate(rank([p for _, _, p in on_disk], rows, metric))}
    newest = on_disk[-1][2].name
    last = {p.name for _, _, p in on_disk[-keep_last:]} if keep_last else set()

    items = []
    for epoch, step, path in on_disk:
        reasons = []
        r = position.get(path.name)
        if r == 0:
            reasons.append(f"best {metric}")
        elif r is not None and r < keep_best:
            reasons.append(f"top {keep_best} {metric}")
        if path.name == newest:
            reasons.append("newest")
        elif path.name in last:
            reasons.append(f"last {keep_last}")
        if r is None:
            reasons.append(NOT_IN_CSV)
        items.append(
            PruneItem(path, epoch, step, path.stat().st_size, metric_of[path.name], tuple(reasons))
        )
    return PrunePlan(run, metric, keep_best, keep_last, tuple(items))


def _deletable(run: RunLayout, path: Path) -> bool:
    """Only a regular checkpoint file (or link) sitting directly in the run's ckpt/."""
    return (
        path.parent.resolve() == run.ckpt_dir.resolve()
        and CKPT_RE.match(path.name) is not None
        and not path.is_dir()
    )


def execute(plan: PrunePlan) -> list[PruneItem]:
    """Delete the plan's ``delete`` items; returns those actually removed."""
    removed = []
    for item in plan.to_delete:
        if not _deletable(plan.run, item.path):  # a plan is built from ckpt/; refuse anything else
            raise ThetaError(f"{item.path}: refusing to delete a file outside {plan.run.ckpt_dir}")
        try:
            item.path.unlink()
        except FileNotFoundError:  # already gone (deleted by hand meanwhile): nothing to free
            continue
        removed.append(item)
    return removed


def execute_confirmed(plan: PrunePlan) -> list[PruneItem]:
    """Delete what ``plan`` (already confirmed by the user) deletes, under the run's lock.

    One writer per run: training must not save or resume while checkpoints vanish. Under the
    lock the plan is made again; if it would now delete anything the user did not confirm, the
    run changed meanwhile and nothing is deleted.
    """
    from theta_cli.core import lock, logs

    run = plan.run
    logs.attach_run_log(run.runtime_log)
    with lock.hold_run(run, "theta prune"):
        fresh = plan_prune(run, plan.keep_best, plan.keep_last, plan.metric)
        confirmed = {i.path for i in plan.to_delete}
        if {i.path for i in fresh.to_delete} - confirmed:
            raise ThetaError(
                f"{run.ckpt_dir}: checkpoints changed while confirming; run prune again"
            )
        final = PrunePlan(
            run, plan.metric, plan.keep_best, plan.keep_last,
            tuple(i for i in fresh.items if i.keep or i.path in confirmed),
        )
        return execute(final)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
