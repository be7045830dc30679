"""The training engine behind ``theta new`` and ``theta resume`` (spec section 2.2): its main().

The spec's lifecycle, with typed inputs and outputs instead of a shared ``runtime`` dict:

    cleanup_memory()                          free CPU/GPU memory between heavy phases  train_loop
    config_solver(request)      -> Plan       new vs resume: config, run, data, start   run_setup
    training_initializer(plan)  -> Engine     model, AdamW, warm-up/cosine, restore     train_state
    model_house_builder(plan)                 run directory, lock, config.json, log     run_setup
    Trainer.training_manager()  -> Outcome    epochs -> steps -> checkpoints            train_loop
    Trainer.save_checkpoint_and_log(...)      ckpt, quick_val acc, csv, config, charts  train_loop
    converge_detector(run, patience)          plateau test on train_data.csv            converge

Supported: CPU and CUDA (fused AdamW, epoch tensors resident on the device), exact resume from
any checkpoint (same weights, optimizer state and CSV rows as an uninterrupted run, on CPU with
a fixed seed and the same thread count), ``--next-epoch``, Ctrl-C checkpoints, a
non-finite-loss stop, early stopping.
Not supported: multiple GPUs, mixed precision, gradient accumulation.

Exactness rests on three things: the epoch's order is re-derived from (seed, epoch); the CPU
(and CUDA) RNG state is saved with every checkpoint and restored, so dropout draws the same
masks; and the loss statistics never depend on when the loop happened to read them.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

from theta_cli.core import logs
from theta_cli.core.layout import RunLayout
from theta_cli.engine.converge import converge_detector
from theta_cli.engine.loop import EXIT_DIVERGED, Interrupted, Outcome, Trainer, cleanup_memory
from theta_cli.engine.quickval import load_quick_val
from theta_cli.engine.setup import (
    NewRequest,
    Plan,
    ResumeRequest,
    config_solver,
    model_house_builder,
    set_aside_later_history,
)
from theta_cli.engine.state import Engine, training_initializer

if TYPE_CHECKING:
    import torch

__all__ = [
    "EXIT_DIVERGED",
    "Interrupted",
    "NewRequest",
    "Outcome",
    "ResumeRequest",
    "Trainer",
    "cleanup_memory",
    "config_solver",
    "converge_detector",
    "model_house_builder",
    "run_training",
    "torch_threads",
    "training_initializer",
]

log = logs.get_logger()


def run_training(request: NewRequest | ResumeRequest) -> Outcome:
    """The spec's main(): cleanup, solve, initialise, build the house, train."""
    cleanup_memory()
    if isinstance(request, NewRequest):
        log.info(f"config from {request.source}", extra={"console": False})
    plan = config_solver(request)
    if plan.nothing_left is not None:
        log.info(plan.nothing_left)
        return Outcome("nothing_left", plan.nothing_left, plan.run, plan.resume_ckpt)
    with torch_threads(plan.config.threads):
        return _train(plan)


def _train(plan: Plan) -> Outcome:
    from theta_cli.core import lock

    # Everything that can refuse the run, loading the checkpoint into the model included,
    # happens before the first write.
    engine = training_initializer(plan)
    run = model_house_builder(plan)
    try:
        cfg = plan.config
        try:
            quick_val, qv_source = load_quick_val(
                run, cfg.quick_val_path, cfg.val_dir, cfg.K, cfg.seed
            )
        except BaseException:
            if plan.mode == "new":  # nothing trained yet: leave no half-made run behind
                _abandon_new_run(run)
            raise
        if plan.resume_at is not None:
            set_aside_later_history(run, *plan.resume_at)
        _log_setup(plan, engine, qv_source, quick_val)
        return Trainer(plan, engine, quick_val).training_manager()
    finally:
        if plan.lock_info is not None and run.root.exists():
            lock.release(run.lock_path, plan.lock_info)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU thread count for the block; None keeps torch's default (one per core).

    On a small or shared machine, fewer threads than cores is often faster for small models:
    per-op threading overhead dominates and the threads compete with other jobs. The previous
    count is restored after, so a caller in the same process (a test, a notebook) is unaffected.
    """
    import torch

    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _abandon_new_run(run: RunLayout) -> None:
    logs.detach_run_log()
    if not run.checkpoints():
        shutil.rmtree(run.root, ignore_errors=True)


def _device_text(plan: Plan) -> str:
    import torch

    if plan.device.type != "cpu":
        return str(plan.device)
    n = torch.get_num_threads()
    return f"cpu ({n} thread{'s' if n != 1 else ''})"


def _log_setup(plan: Plan, engine: Engine, qv_source: str, qv: dict[str, torch.Tensor]) -> None:
    cfg, loader = plan.config, plan.loader
    ep = loader.plan(plan.start_epoch)
    log.info(
        f"model: {cfg.model_type} hidden={cfg.hidden} layers={cfg.layers} K={cfg.K} "
        f"({engine.num_params:,} parameters) on {_device_text(plan)}"
    )
    log.info(
        f"data: {len(loader.files)} train file(s) in {loader.train_dir}; "
        f"{ep.samples} samples, {ep.steps} steps per epoch; "
        f"{engine.scheduler.total_steps} steps over {cfg.epochs} epoch{'s' * (cfg.epochs != 1)}"
    )
    total = engine.scheduler.total_steps
    if plan.mode == "new" and cfg.warmup_steps >= total:
        log.warning(
            f"warmup_steps={cfg.warmup_steps} covers the whole run ({total} steps): the lr never "
            f"reaches lr={cfg.lr_init} and there is no cosine decay; lower warmup_steps"
        )
    log.info(f"huber delta {plan.huber_delta:.4g} from {plan.delta_source}")
    log.info(f"quick_val: {qv['X_t'].shape[0]} samples from {qv_source}")
