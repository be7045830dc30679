"""The spec's ``training_initializer``: what the recipe trains, built from the plan.

    model      built from the frozen config (seeded: a new run's initial weights are fixed)
    AdamW      fused on CUDA (``schedule.build_optimizer``)
    schedule   linear warm-up, then cosine to min_lr over the run's steps
    EMA        of the weights, when ema_decay > 0 (evaluated and exported instead)
    restore    a resume loads weights, optimizer, schedule, EMA and RNG state from its checkpoint
    wrapping   DistributedDataParallel under torchrun, then torch.compile when configured

Anything that can refuse the run does so here, before the run directory is touched.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from theta_cli.artifact import checkpoint, ema
from theta_cli.core import logs
from theta_cli.core.config import RunState
from theta_cli.engine import distributed
from theta_cli.engine.plan import Plan

if TYPE_CHECKING:
    import torch

    from theta_cli.engine.schedule import WarmupCosine

log = logs.get_logger()


@dataclass
class Trainables:
    """The model and what updates it; ``state`` is the run state training starts from."""

    module: torch.nn.Module  # the plain module: state dicts, evaluation, export
    model: torch.nn.Module  # what the training step calls: wrapped for DDP, compiled
    optimizer: torch.optim.AdamW
    scheduler: WarmupCosine
    ema: Any  # torch.optim.swa_utils.AveragedModel, or None when ema_decay is 0
    state: RunState
    num_params: int
    autocast: bool  # bf16 autocast of the forward pass (CUDA only)


def training_initializer(plan: Plan) -> Trainables:
    """Model, AdamW, warm-up/cosine and EMA; a resume's state restored; then wrapped."""
    import torch

    from theta_cli.engine.schedule import WarmupCosine, build_optimizer
    from theta_cli.model import build_from_config

    cfg, device = plan.config, plan.device
    torch.manual_seed(cfg.seed)  # fixes the initial weights of a new run
    built = build_from_config(cfg)
    module: torch.nn.Module = built["model"].to(device)
    module.train()
    optimizer = build_optimizer(module.parameters(), cfg.lr, cfg.weight_decay, device.type)
    total = plan.loader.total_steps(cfg.epochs)
    scheduler = WarmupCosine(optimizer, cfg.lr, cfg.min_lr, cfg.warmup_steps, total)
    averaged = ema.build(module, cfg.ema_decay)
    state = plan.state
    if plan.payload is not None:
        assert plan.resume_ckpt is not None
        state = checkpoint.restore_payload(
            plan.payload, plan.resume_ckpt, module, optimizer, scheduler, device, averaged,
            rank=None if plan.world_changed else plan.dist.rank,
        )
        if scheduler.total_steps != total:  # --epochs changed: cosine ends at the end
            scheduler.set_total_steps(total)
    model = _wrap(plan, module)
    autocast = cfg.bf16 and device.type == "cuda"
    if cfg.bf16 and not autocast:
        log.warning("bf16=true applies on CUDA only; training in float32 on the CPU")
    return Trainables(module, model, optimizer, scheduler, averaged, state,
                      int(built["num_params"]), autocast)  # fmt: skip


def _wrap(plan: Plan, module: torch.nn.Module) -> torch.nn.Module:
    """``module`` wrapped for DDP (under torchrun) and compiled, as configured."""
    import torch

    model = module
    if plan.dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        ids = [plan.device.index] if plan.device.type == "cuda" else None
        # The depthwise conv weights' gradients come back from oneDNN in another (equally
        # valid) stride order; DDP copies them into its buckets and says so on every step.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
        with distributed.collective(plan.dist, "wrapping the model (DDP)"):
            model = DistributedDataParallel(module, device_ids=ids)
    if plan.config.compile:
        model = torch.compile(model)  # type: ignore[assignment]
    return model


def log_setup(plan: Plan, parts: Trainables, quick_val_samples: int, qv_source: str) -> None:
    """The setup lines of runtime.log: model, data, schedule, delta, quick_val."""
    import torch

    cfg, device = plan.config, plan.device
    ep = plan.loader.plan(plan.start_epoch)
    n = torch.get_num_threads()
    threads = f"cpu ({n} thread{'s' * (n != 1)})"
    where = str(device) if device.type != "cpu" else threads
    log.info(
        f"model: {cfg.model_type} hidden={cfg.hidden} layers={cfg.layers} K={cfg.K} "
        f"({parts.num_params:,} parameters) on {where}"
    )
    total = parts.scheduler.total_steps
    log.info(
        f"data: {len(plan.loader.files)} train file(s) in {plan.loader.train_dir}; "
        f"{ep.samples} samples, {ep.steps} steps per epoch; "
        f"{total} steps over {cfg.epochs} epoch{'s' * (cfg.epochs != 1)}; "
        f"fixes every {cfg.fix_interval_s:g} s"
    )
    if plan.mode == "new" and cfg.warmup_steps >= total:
        log.warning(
            f"warmup_steps={cfg.warmup_steps} covers the whole run ({total} steps): the lr "
            f"never reaches lr={cfg.lr} and there is no cosine decay; lower warmup_steps"
        )
    log.info(f"huber delta {parts.state.delta_curr:.4g} from {plan.delta_source}")
    log.info(f"quick_val: {quick_val_samples} samples from {qv_source}")
