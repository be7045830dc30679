"""Never train on from, or checkpoint, a broken state: a non-finite loss, weight or quick_val
metric stops the run with ``EXIT_DIVERGED`` and names the last good checkpoint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from theta_cli.core.errors import ThetaError
from theta_cli.engine.quickval import Acc

if TYPE_CHECKING:
    import torch

#: Exit code of a run stopped by non-finite loss: a training failure, not bad input.
EXIT_DIVERGED = 1


def _stop(what: str, epoch: int, step: int, last_ckpt: Path | None) -> ThetaError:
    last = f"last checkpoint: {last_ckpt}" if last_ckpt else "no checkpoint"
    return ThetaError(
        f"{what} at epoch {epoch} step {step}: training stopped, no checkpoint written from "
        f"this state ({last}); lower lr or check the data",
        code=EXIT_DIVERGED,
    )


def check_losses(values: Sequence[float], epoch: int, step: int, last_ckpt: Path | None) -> None:
    """``values``: the losses of the steps up to ``step``; stop at the first non-finite one."""
    for j, v in enumerate(values):
        if not math.isfinite(v):
            bad = step - len(values) + 1 + j
            raise _stop(f"non-finite loss ({v})", epoch, bad, last_ckpt)


def refuse_non_finite(
    module: torch.nn.Module, acc: Acc, epoch: int, step: int, last_ckpt: Path | None
) -> None:
    """Before a checkpoint: non-finite weights or quick_val metrics stop the run like a
    non-finite loss (an absurd lr can blow up the weights while the loss, clipped by Huber,
    still reads finite)."""
    import torch

    bad = next(
        (n for n, p in module.named_parameters() if not bool(torch.isfinite(p).all())),
        None,
    )
    what = f"weight {bad!r} is non-finite" if bad else None
    if what is None and not all(math.isfinite(v) for v in (acc.mean, acc.median, acc.std)):
        what = f"quick_val acc is non-finite (mean {acc.mean}, median {acc.median})"
    if what is not None:
        raise _stop(what, epoch, step, last_ckpt)
