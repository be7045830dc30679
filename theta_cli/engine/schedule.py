"""Optimizer and learning-rate schedule: AdamW, linear warm-up, then cosine decay to ``min_lr``.

The learning rate is a pure function of the number of optimizer steps taken, so the schedule is
deterministic and its whole state is a handful of plain numbers (``state_dict``). Restoring it on
resume continues the curve where it stopped: warm-up is never repeated.

    step s (0-based, the lr used by the (s+1)-th optimizer step):
        s <  warmup:  lr = base * (s + 1) / warmup   (never 0; reaches base at s = warmup - 1)
        s >= warmup:  p  = (s - warmup) / (total - warmup)   clamped to [0, 1]
                      lr = min_lr + (base - min_lr) * (1 + cos(pi * p)) / 2
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from theta_cli.core.errors import ThetaError

if TYPE_CHECKING:
    import torch


def lr_at(step: int, base_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The learning rate for 0-based optimizer step ``step`` (see the module docstring)."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, max(0.0, (step - warmup_steps) / span))
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosine:
    """Sets the optimizer's lr each step; ``state_dict`` holds only Python numbers."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        base_lr: float,
        min_lr: float,
        warmup_steps: int,
        total_steps: int,
    ) -> None:
        self.optimizer = optimizer
        self.base_lr = float(base_lr)
        self.min_lr = float(min_lr)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.step_count = 0
        self._apply()

    @property
    def lr(self) -> float:
        """The lr the next optimizer step will use."""
        return lr_at(
            self.step_count, self.base_lr, self.min_lr, self.warmup_steps, self.total_steps
        )

    @property
    def last_lr(self) -> float:
        """The lr the most recent optimizer step used (the first step's before any step)."""
        return lr_at(
            max(self.step_count - 1, 0),
            self.base_lr,
            self.min_lr,
            self.warmup_steps,
            self.total_steps,
        )

    def _apply(self) -> None:
        lr = self.lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self) -> None:
        """Call after each optimizer step."""
        self.step_count += 1
        self._apply()

    def set_total_steps(self, total_steps: int) -> None:
        """Stretch or shrink the cosine (resume with another --epochs); the step is kept."""
        self.total_steps = int(total_steps)
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {
            "step_count": self.step_count,
            "base_lr": self.base_lr,
            "min_lr": self.min_lr,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys = ("step_count", "base_lr", "min_lr", "warmup_steps", "total_steps")
        missing = [k for k in keys if k not in state]
        if missing:
            raise ThetaError(f"scheduler state lacks {', '.join(missing)}")
        self.step_count = int(state["step_count"])
        self.base_lr = float(state["base_lr"])
        self.min_lr = float(state["min_lr"])
        self.warmup_steps = int(state["warmup_steps"])
        self.total_steps = int(state["total_steps"])
        self._apply()


def build_optimizer(
    params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float, device_type: str
) -> torch.optim.AdamW:
    """AdamW; the fused kernel on CUDA (one launch per step), the default foreach path on CPU."""
    import torch

    fused = device_type == "cuda"
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
