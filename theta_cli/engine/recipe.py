"""The training job behind ``theta new`` and ``theta resume``, as one recipe read top to bottom.

    plan = config_solver(request)        engine.plan: validate everything, decide, write nothing
    recipe = TrainingRecipe(plan)
    with recipe:                         setup: model, optimizer, schedule, resume state; then
                                           (rank 0) the run directory, lock, logs; cleanup on exit
        recipe.train()                   the epoch loop; save_checkpoint at every interval

The spec's names (section 2.2), and where each lives:

    cleanup_memory()              free CPU/GPU memory between heavy phases      engine.resources
    config_solver(request)        new vs resume -> Plan (frozen config, state)  engine.plan
    model_house_builder(plan)     directories, config.json, runtime.log         engine.rundir
    training_initializer(plan)    model, AdamW, warm-up/cosine, EMA, restore    engine.initializer
    training_manager()            epochs -> steps -> checkpoints                TrainingRecipe.train
    save_checkpoint_and_log()     ckpt, quick_val acc, csv, config, charts      .save_checkpoint
    converge_detector(run, p)     plateau test on train_data.csv                engine.converge

Exact resume rests on three things: the epoch's order is re-derived from (seed, epoch); the RNG
states are saved with every checkpoint and restored (dropout draws the same masks); and per-step
losses stay on the device until a log/checkpoint boundary reads them all (averaged with fsum).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn

from theta_cli.artifact import checkpoint
from theta_cli.artifact.best import metric_key
from theta_cli.core import csvlog, lock, logs
from theta_cli.core.config import RunState
from theta_cli.core.layout import RunLayout, ckpt_name
from theta_cli.core.live import EpochLine
from theta_cli.engine import distributed, rundir
from theta_cli.engine.converge import Verdict, converge_detector
from theta_cli.engine.diverged import EXIT_DIVERGED, check_losses, refuse_non_finite
from theta_cli.engine.initializer import Trainables, log_setup, training_initializer
from theta_cli.engine.interrupt import Interrupted, SigintDeferral, report_interrupt
from theta_cli.engine.objective import velocity_loss
from theta_cli.engine.plan import NewRequest, Plan, ResumeRequest, config_solver
from theta_cli.engine.quickval import Acc, load_quick_val, quick_val_acc
from theta_cli.engine.resources import cleanup_memory, torch_threads
from theta_cli.engine.tboard import LiveBoard

if TYPE_CHECKING:
    import torch

    Rngs = tuple[torch.Tensor, torch.Tensor | None]  # a rank's CPU and CUDA RNG states

__all__ = ["EXIT_DIVERGED", "Interrupted", "NewRequest", "Outcome", "ResumeRequest",
           "TrainingRecipe", "cleanup_memory", "run_training", "torch_threads"]  # fmt: skip

log = logs.get_logger()

# What the loop is doing, for Ctrl-C: a step interrupted while updating or saving is not whole.
_IDLE, _COMPUTE, _UPDATE, _SAVE = range(4)


@dataclass(frozen=True)
class Outcome:
    status: Literal["finished", "early_stopped", "nothing_left"]
    message: str
    run: RunLayout | None
    last_ckpt: Path | None


def run_training(request: NewRequest | ResumeRequest) -> Outcome:
    """The spec's main(): solve the request, then set up, train and clean up (under torchrun,
    inside the process group; see ``engine.distributed``)."""
    cleanup_memory()
    dist = distributed.detect()
    if not dist.is_main:
        logs.quiet()  # rank 0 speaks for the job
    if isinstance(request, NewRequest):
        log.info(f"config from {request.source}", extra={"console": False})
    recipe = TrainingRecipe(config_solver(request, dist))
    plan = recipe.plan
    if plan.nothing_left is not None:
        log.info(plan.nothing_left)
        return Outcome("nothing_left", plan.nothing_left, plan.run, plan.resume_ckpt)
    # One Ctrl-C handler from setup to the process's exit: during setup it raises at once
    # (nothing to save); train() arms it, and from then on a Ctrl-C is deferred to the next step
    # boundary, or, once the last checkpoint is written (final lines, releasing the lock), it is
    # reported after the exit as a complete run instead of surfacing as a KeyboardInterrupt.
    cfg = plan.config
    with recipe.sigint:
        with (
            distributed.process_group(dist, plan.device, cfg.dist_timeout_s),
            torch_threads(cfg.threads),
            recipe,
        ):
            outcome = recipe.train()
    if recipe.sigint.requested:
        last = outcome.last_ckpt
        log.warning(f"interrupted after training finished; the run is complete (last {last})")
        raise Interrupted("interrupted after training finished", last)
    return outcome


class TrainingRecipe:
    """One training run of a rectified-flow GPS denoiser: ``with recipe: recipe.train()``.

    Features:
        - Devices: CPU, or one CUDA device per process (fused AdamW; epoch tensors on device).
        - Distributed: data parallel (DDP) under torchrun, NCCL on CUDA or gloo on the CPU;
          rank 0 writes every file and makes every decision (``engine.distributed``).
        - Precision and speed: float32, or bf16 autocast of the forward pass on CUDA
          (``bf16``); ``torch.compile`` (``compile``); the CPU thread count (``threads``).
        - Optimisation: AdamW, linear warm-up then cosine decay, grad-norm clipping; Huber loss,
          optionally weighted by t (``t_weight``); an EMA of the weights (``ema_decay``) that
          quick_val, eval and export use.
        - Exact resume from any checkpoint (same weights, optimizer state and CSV rows as an
          uninterrupted run: on CPU, same seed, thread count and world size); ``--next-epoch``;
          ``--allow-world-size-change`` (the run goes on, no longer exactly).
        - Watching: TensorBoard event files under ``tb/`` (``tensorboard``; ``engine.tboard``).
        - Stopping: Ctrl-C checkpoints the last whole step; early stop on a plateau; a non-finite
          loss, weight or quick_val metric stops without a checkpoint (``EXIT_DIVERGED``).

    Not supported: gradient accumulation; fp16 (loss scaling); sharded models (FSDP, tensor or
    pipeline parallel: every rank holds the whole model); activation checkpointing; DataLoader
    workers (``num_workers`` is accepted and ignored).

    ``self.plan`` describes the run (frozen config, device, data, ranks, run directory once
    claimed); ``self.state`` (epoch, step, lr, delta, best acc_mean...) is what changes and saves.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.state: RunState = plan.state
        self._stack: contextlib.ExitStack | None = None
        self.sigint = SigintDeferral(armed=False)  # armed by train()
        self.board = LiveBoard.off()  # TensorBoard: opened by rank 0 when the config says so

    # ---- setup / cleanup ------------------------------------------------------------------

    def __enter__(self) -> TrainingRecipe:
        with contextlib.ExitStack() as stack:
            self.setup(stack)
            self._stack = stack.pop_all()  # setup succeeded: keep the lock until __exit__
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def setup(self, stack: contextlib.ExitStack) -> None:
        """Model first (anything that can refuse the run does so before the first write), then
        the run directory under its lock, logs, quick_val and the resume bookkeeping."""
        parts = training_initializer(self.plan)
        self.module, self.model = parts.module, parts.model
        self.optimizer, self.scheduler, self.ema = parts.optimizer, parts.scheduler, parts.ema
        self.state, self.num_params, self.autocast = parts.state, parts.num_params, parts.autocast
        distributed.on_main(self.plan.dist, lambda: self._setup_run(stack, parts))
        self._setup_loop_state()

    def _setup_run(self, stack: contextlib.ExitStack, parts: Trainables) -> None:
        """Rank 0: claim (new) or open (resume) the run directory, and hold its lock."""
        plan = self.plan
        if plan.run is None:
            assert plan.models_root is not None
            run = rundir.claim_run_dir(plan.config.model_type, plan.models_root)
            self.plan = plan = plan.with_run(run)
        run = plan.run
        command = "theta new" if plan.mode == "new" else f"theta resume {plan.resume_ckpt}"
        stack.enter_context(lock.hold_run(run, command))
        try:
            rundir.model_house_builder(plan, run)
            cfg = plan.config
            self.quick_val, qv_source = load_quick_val(
                run, cfg.quick_val_path, cfg.val_dir, cfg.K, cfg.seed
            )
        except BaseException:
            if plan.mode == "new":  # nothing trained yet: leave no half-made run behind
                rundir.abandon_if_empty(run)
            raise
        if plan.mode == "resume":
            rundir.restore_missing_rows(run)
            rundir.set_aside_later_history(run, self.state.epoch, self.state.step)
        log_setup(plan, parts, self.quick_val["X_t"].shape[0], qv_source)
        self.board = rundir.open_board(plan, run, self.state, stack)  # closed before the lock

    def _setup_loop_state(self) -> None:
        import torch

        self.params = [p for p in self.module.parameters() if p.requires_grad]
        # Per-step losses stay on the device until a log/checkpoint boundary reads them at once:
        # no per-step host sync, and the exact step of a non-finite loss is still known.
        self._losses = torch.empty(self.plan.config.log_interval, device=self.plan.device)
        self._pending = 0
        self._since_ckpt: list[float] = []
        self._phase = _IDLE
        self._rng_at_step: torch.Tensor | None = None
        self.last_ckpt: Path | None = self.plan.resume_ckpt
        self._saved_global_step = self.state.global_step  # state already on disk (or fresh)

    def cleanup(self) -> None:
        """Release the run's lock (taken in setup)."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    # ---- one optimizer step -----------------------------------------------------------------

    def loss(self, xb: torch.Tensor, vb: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
        """The batch's loss (``objective.velocity_loss``), the forward pass autocast as set."""
        import torch

        with torch.autocast(self.plan.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            v_hat = self.model(xb, tb)
        return velocity_loss(v_hat, vb, tb, self.state.delta_curr, self.plan.config.t_weight)

    def _step(self, xb: torch.Tensor, vb: torch.Tensor, tb: torch.Tensor) -> None:
        import torch

        self._phase = _COMPUTE
        loss = self.loss(xb, vb, tb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if (grad_clip := self.plan.config.grad_clip) > 0:
            torch.nn.utils.clip_grad_norm_(self.params, grad_clip, foreach=True)
        self._phase = _UPDATE
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.module)
        self._losses[self._pending] = loss.detach()
        self._pending += 1
        self._phase = _IDLE

    def _flush(self, epoch: int, step: int) -> float | None:
        """Read the pending losses (one sync); stop on a non-finite one. Returns their mean."""
        n = self._pending
        if n == 0:
            return None
        # the global mean over ranks: every rank logs and checks the same numbers
        values = distributed.mean_(self.plan.dist, self._losses[:n].clone()).tolist()
        self._pending = 0
        check_losses(values, epoch, step, self.last_ckpt)
        self._since_ckpt.extend(values)
        return math.fsum(values) / n

    # ---- checkpoints --------------------------------------------------------------------------

    def save_checkpoint(self, epoch: int, step: int) -> None:
        """The spec's save_checkpoint_and_log: quick_val acc, checkpoint, CSV row, config.json,
        charts, summary line (the files in the spec's order). Every rank calls it (their random
        states go into the checkpoint); rank 0 writes."""
        import torch

        self._phase = _SAVE
        dist, device = self.plan.dist, self.plan.device
        # fsum: the average never depends on how the steps were grouped into reads.
        avg = math.fsum(self._since_ckpt) / len(self._since_ckpt) if self._since_ckpt else math.nan
        lr = self.scheduler.last_lr
        state = self.state.model_copy(update={"epoch": epoch, "step": step, "lr": lr})
        rng = self._rng_at_step if self._rng_at_step is not None else torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        rank_rngs = distributed.gather(dist, (rng, cuda_rng)) if dist.enabled else None
        written = distributed.on_main(
            dist, lambda: self._write_checkpoint(state, avg, (rng, cuda_rng), rank_rngs)
        )
        self.state = written if written is not None else state
        self._since_ckpt = []
        self.last_ckpt = self.plan.run.ckpt_path(epoch, step) if self.plan.run is not None else None
        self._saved_global_step = state.global_step
        self._phase = _IDLE

    def _write_checkpoint(
        self, state: RunState, avg: float, rngs: Rngs, rank_rngs: list[Rngs] | None
    ) -> RunState:
        """Rank 0's part of a checkpoint at (epoch, step) of ``state``; returns what it saved."""
        run, cfg = self.plan.run, self.plan.config
        assert run is not None
        epoch, step, lr = state.epoch, state.step, state.lr
        # acc first (eval mode draws no random numbers), so the checkpoint's state holds it too.
        evaluated = self.ema.module if self.ema is not None else self.module
        acc: Acc = quick_val_acc(evaluated, self.quick_val, cfg.batch_size, self.plan.device)
        refuse_non_finite(self.module, acc, epoch, step, self.last_ckpt)
        if metric_key(acc.mean) < metric_key(state.best_acc_mean):
            state = state.model_copy(update={"best_acc_mean": acc.mean})
        row = csvlog.TrainRow(
            ckpt_name(epoch, step), epoch, step, avg, acc.mean, acc.median, acc.std, lr,
            state.delta_curr,
        )
        payload = checkpoint.build_payload(
            self.module, self.optimizer, self.scheduler, cfg, state, rngs[0], rngs[1],
            row, self.ema, rank_rngs,
        )
        rundir.write_checkpoint_files(run, payload, row, cfg, state)
        rundir.draw_charts(run)
        self.board.checkpoint(state.global_step, row)
        log.info(
            f"checkpoint {row.ckpt_name}: loss {avg:.4f} | acc mean {acc.mean:.3f} m, "
            f"median {acc.median:.3f} m, std {acc.std:.3f} m | lr {lr:.3e}"
        )
        return state

    # ---- epochs -------------------------------------------------------------------------------

    def train(self) -> Outcome:
        """The spec's training_manager: from the plan's start to the last epoch, an early stop,
        or Ctrl-C."""
        plan = self.plan
        self.sigint.armed = True
        with self.sigint if not self.sigint.installed else contextlib.nullcontext():
            for epoch in range(plan.start_epoch, plan.config.epochs):
                start = plan.start_step if epoch == plan.start_epoch else 0
                try:
                    verdict = self.train_epoch(epoch, start)
                except KeyboardInterrupt:  # outside the step loop (loading, drawing the line)
                    self._report_interrupt(f"interrupted in epoch {epoch}")
                cleanup_memory()
                if verdict is not None and verdict.stop:
                    msg = f"early stop after epoch {epoch}: {verdict.reason}"
                    log.info(msg)
                    return Outcome("early_stopped", msg, self.plan.run, self.last_ckpt)
        n = plan.config.epochs
        msg = (
            f"finished: {n} epoch{'s' * (n != 1)}, {self.state.global_step} steps; "
            f"last {self.last_ckpt}"
        )
        log.info(msg)
        return Outcome("finished", msg, self.plan.run, self.last_ckpt)

    def train_epoch(self, epoch: int, start_step: int = 0) -> Verdict | None:
        """One epoch from ``start_step``; checkpoints every save_interval and at its end."""
        import torch

        cfg, dist = self.plan.config, self.plan.dist
        ep = self.plan.loader.set(epoch)
        log.debug(f"epoch {epoch}: {ep.info.path.name}, {ep.samples} samples, {ep.steps} steps")
        verdict: Verdict | None = None
        interrupted: str | None = None
        step = start_step
        global_batch = cfg.batch_size * dist.world
        line = EpochLine(epoch, cfg.epochs, ep.steps, global_batch, start_step, dist.is_main)
        with line:
            try:
                for xb, vb, tb in self.plan.loader.batches(start_step):
                    self._rng_at_step = torch.get_rng_state()
                    with distributed.collective(dist, "averaging gradients"):
                        self._step(xb, vb, tb)  # DDP all-reduces inside backward
                    step += 1
                    self.state = self.state.model_copy(
                        update={"global_step": self.state.global_step + 1}
                    )
                    save = step % cfg.save_interval == 0 or step == ep.steps
                    if save or self._pending == cfg.log_interval:
                        self._log_running(line, step, self._flush(epoch, step))
                    if save:
                        self._rng_at_step = None  # the step is whole: save the current RNG
                        self.save_checkpoint(epoch, step)
                        verdict = distributed.broadcast(dist, self._converged())
                        if verdict.stop:
                            break
                    if distributed.any_rank(dist, self.sigint.requested, self.plan.device):
                        raise KeyboardInterrupt  # Ctrl-C on any rank stops every rank here
            except KeyboardInterrupt:
                interrupted = self._on_interrupt(epoch, step, line)
        # Reported once the live line is final, so the resume command is the last thing shown.
        if interrupted is not None:
            self._report_interrupt(interrupted)
        return verdict

    def _log_running(self, line: EpochLine, step: int, running: float | None) -> None:
        """The live line and (when on) TensorBoard: the same numbers at the same step."""
        line.update(step, running, lr := self.scheduler.last_lr)
        self.board.running(self.state.global_step, running, lr, line.samples_per_s())

    def _on_interrupt(self, epoch: int, step: int, line: EpochLine) -> str:
        """Save the current step if its state is whole; return what happened, for the report."""
        why = "interrupted"
        if self._phase in (_UPDATE, _SAVE):
            why = "interrupted while updating or saving (that step's state is incomplete)"
        elif self.state.global_step != self._saved_global_step:  # steps not in any checkpoint
            if self._phase != _COMPUTE:  # between steps: the current RNG state is the right one
                self._rng_at_step = None
            self._phase = _IDLE
            self._log_running(line, step, self._flush(epoch, step))
            self.save_checkpoint(epoch, step)
        return f"{why} at epoch {epoch} step {step}"

    def _converged(self) -> Verdict | None:
        """Rank 0 reads train_data.csv and decides; the others learn it by broadcast."""
        if not self.plan.dist.is_main:
            return None
        assert self.plan.run is not None
        return converge_detector(self.plan.run, self.plan.config.early_stop_patience)

    def _report_interrupt(self, what: str) -> NoReturn:
        """Name the checkpoint to resume from: the newest complete one on disk (a second Ctrl-C
        can land after a checkpoint was renamed into place but before the loop recorded it)."""
        if not self.plan.dist.is_main:
            raise Interrupted(what, None)  # rank 0 reports for the job
        report_interrupt(what, rundir.newest_checkpoint(self.plan.run))
