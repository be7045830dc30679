"""Warm-up + cosine schedule: shape of the curve, state round trip, AdamW construction."""

from __future__ import annotations

import math

import pytest
import torch

from theta_cli.core.errors import ThetaError
from theta_cli.engine.schedule import WarmupCosine, build_optimizer, lr_at


def _opt(lr: float = 1.0) -> torch.optim.Optimizer:
    return build_optimizer([torch.nn.Parameter(torch.zeros(3))], lr, 0.01, "cpu")


def test_warmup_is_linear_and_never_zero() -> None:
    lrs = [lr_at(s, 1.0, 0.0, 4, 100) for s in range(5)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert lrs[4] == pytest.approx(1.0)


def test_cosine_ends_at_min_lr_and_stays_there() -> None:
    base, low, warm, total = 1e-3, 1e-5, 10, 110
    mid = lr_at(warm + 50, base, low, warm, total)
    assert mid == pytest.approx(low + (base - low) * 0.5)
    assert lr_at(total, base, low, warm, total) == pytest.approx(low)
    assert lr_at(total + 40, base, low, warm, total) == pytest.approx(low)
    curve = [lr_at(s, base, low, warm, total) for s in range(warm, total)]
    assert all(a >= b for a, b in zip(curve, curve[1:], strict=False))


def test_no_warmup() -> None:
    assert lr_at(0, 2.0, 0.0, 0, 10) == 2.0


def test_scheduler_sets_the_optimizer_lr_and_restores_exactly() -> None:
    opt = _opt()
    sched = WarmupCosine(opt, 1.0, 0.1, 3, 20)
    assert opt.param_groups[0]["lr"] == pytest.approx(1 / 3)
    for _ in range(7):
        sched.step()
    state = sched.state_dict()
    assert all(isinstance(v, (int, float)) for v in state.values())
    opt2 = _opt()
    again = WarmupCosine(opt2, 5.0, 0.0, 100, 1000)  # restored state wins over constructor args
    again.load_state_dict(state)
    assert again.step_count == 7 and again.lr == sched.lr
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert again.last_lr == lr_at(6, 1.0, 0.1, 3, 20)


def test_more_total_steps_stretch_the_cosine_from_the_same_step() -> None:
    sched = WarmupCosine(_opt(), 1.0, 0.0, 0, 10)
    for _ in range(5):
        sched.step()
    assert sched.lr == pytest.approx(0.5)
    sched.set_total_steps(20)
    assert sched.step_count == 5
    assert sched.lr == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 20)))


def test_incomplete_state_is_refused() -> None:
    with pytest.raises(ThetaError, match="step_count"):
        WarmupCosine(_opt(), 1.0, 0.0, 0, 10).load_state_dict({"base_lr": 1.0})


def test_optimizer_is_adamw_with_weight_decay() -> None:
    opt = _opt(0.5)
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.param_groups[0]["weight_decay"] == 0.01
