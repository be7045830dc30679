"""The spec's ``training_initializer``, and the checkpoint payload's save/restore side by side.

A checkpoint holds everything an exact resume needs (checkpoint.py names the keys): the model,
AdamW and schedule state, where in the run it was taken, the Huber delta, the lr, the CPU (and
CUDA) RNG state and the run config. ``state_payload`` builds it; ``_restore`` puts it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from theta_cli.core.config import RunConfig
from theta_cli.core.errors import ThetaError
from theta_cli.engine import checkpoint
from theta_cli.engine.schedule import WarmupCosine, build_optimizer
from theta_cli.engine.setup import Plan

if TYPE_CHECKING:
    import torch


@dataclass
class Engine:
    """What training_initializer builds."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: WarmupCosine
    num_params: int


def training_initializer(plan: Plan) -> Engine:
    """Build model, optimizer and schedule on the device; restore them from the checkpoint."""
    import torch

    from theta_cli.model import build_from_config

    cfg = plan.config
    torch.manual_seed(cfg.seed)  # fixes the initial weights of a new run
    built = build_from_config(cfg)
    model: torch.nn.Module = built["model"].to(plan.device)
    model.train()
    optimizer = build_optimizer(model.parameters(), cfg.lr_init, cfg.weight_decay, plan.device.type)
    total = plan.loader.total_steps(cfg.epochs)
    scheduler = WarmupCosine(optimizer, cfg.lr_init, cfg.min_lr, cfg.warmup_steps, total)
    engine = Engine(model, optimizer, scheduler, int(built["num_params"]))
    if plan.payload is not None:
        assert plan.resume_ckpt is not None
        _restore(engine, plan.payload, plan.resume_ckpt, plan.device, total)
    return engine


def state_payload(
    engine: Engine,
    rc: RunConfig,
    rng: torch.Tensor,
    device: torch.device,
) -> dict[str, Any]:
    """The checkpoint dict at (rc.epoch, rc.step); ``rng`` is the CPU RNG state to resume with."""
    import torch

    payload: dict[str, Any] = {
        checkpoint.MODEL: engine.model.state_dict(),
        checkpoint.OPTIMIZER: engine.optimizer.state_dict(),
        checkpoint.SCHEDULER: engine.scheduler.state_dict(),
        checkpoint.EPOCH: rc.epoch,
        checkpoint.STEP: rc.step,
        checkpoint.GLOBAL_STEP: rc.global_step,
        checkpoint.DELTA: rc.delta_curr,
        checkpoint.LR: rc.lr,
        checkpoint.RNG: rng,
        checkpoint.CONFIG: rc.model_dump(),
    }
    if device.type == "cuda":
        payload[checkpoint.CUDA_RNG] = torch.cuda.get_rng_state(device)
    return payload


def _restore(
    engine: Engine, p: dict[str, Any], path: Path, device: torch.device, total: int
) -> None:
    """Put a checkpoint back into a freshly built engine (the inverse of ``state_payload``)."""
    import torch

    try:
        engine.model.load_state_dict(p[checkpoint.MODEL])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ThetaError(f"{path}: weights do not fit the run's model ({first[:200]})") from None
    try:
        engine.optimizer.load_state_dict(p[checkpoint.OPTIMIZER])
    except (ValueError, KeyError, RuntimeError) as e:
        raise ThetaError(f"{path}: optimizer state does not fit the model ({e})") from None
    try:
        engine.scheduler.load_state_dict(p[checkpoint.SCHEDULER])
    except ThetaError as e:
        raise ThetaError(f"{path}: {e}") from None
    if engine.scheduler.total_steps != total:  # --epochs changed: the cosine ends at the new end
        engine.scheduler.set_total_steps(total)
    rng = p.get(checkpoint.RNG)
    if rng is not None:
        torch.set_rng_state(rng)
    cuda_rng = p.get(checkpoint.CUDA_RNG)
    if cuda_rng is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda_rng, device)
