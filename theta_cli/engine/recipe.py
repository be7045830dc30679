"""The training job behind ``theta new`` and ``theta resume``, as one recipe read top to bottom.

    recipe = TrainingRecipe(request)     config_solver: validate everything, write nothing
    with recipe:                         setup: run directory, lock, logs, model, optimizer,
                                           schedule, data, resume state; cleanup on exit
        recipe.train()                   the epoch loop; save_checkpoint at every interval

The spec's names (section 2.2), and where each lives:

    cleanup_memory()              free CPU/GPU memory between heavy phases      this module
    config_solver(request)        new vs resume -> Plan (frozen config, state)  engine.plan
    model_house_builder(plan)     directories, config.json, runtime.log         engine.plan
    training_initializer()        model, AdamW, warm-up/cosine, restore         TrainingRecipe
    training_manager()            epochs -> steps -> checkpoints                TrainingRecipe.train
    save_checkpoint_and_log()     ckpt, quick_val acc, csv, config, charts      .save_checkpoint
    converge_detector(run, p)     plateau test on train_data.csv                engine.converge

Supported: CPU and CUDA (fused AdamW, epoch tensors resident on the device), exact resume from
any checkpoint (same weights, optimizer state and CSV rows as an uninterrupted run, on CPU with a
fixed seed and the same thread count), ``--next-epoch``, Ctrl-C checkpoints, a non-finite-loss
stop, early stopping.
Not supported: multiple GPUs, mixed precision, gradient accumulation.

Exactness rests on three things: the epoch's order is re-derived from (seed, epoch); the CPU (and
CUDA) RNG state is saved with every checkpoint and restored, so dropout draws the same masks; and
the loss statistics never depend on when the loop happened to read them (per-step losses stay on
the device until a log/checkpoint boundary reads them all at once; averages use ``math.fsum``).
"""

from __future__ import annotations

import contextlib
import gc
import math
import shlex
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from theta_cli.core import atomic, csvlog, lock, logs
from theta_cli.core.config import RunConfig, RunState
from theta_cli.core.errors import DiskFull, ThetaError
from theta_cli.core.layout import RunLayout, ckpt_name
from theta_cli.core.live import EpochLine
from theta_cli.engine import checkpoint, distributed, ema
from theta_cli.engine.converge import Verdict, converge_detector
from theta_cli.engine.interrupt import Interrupted, SigintDeferral
from theta_cli.engine.plan import (
    NewRequest,
    Plan,
    ResumeRequest,
    claim_run_dir,
    config_solver,
    model_house_builder,
    restore_missing_rows,
    set_aside_later_history,
)
from theta_cli.engine.quickval import Acc, load_quick_val, quick_val_acc
from theta_cli.runs.best import metric_key

if TYPE_CHECKING:
    import torch

__all__ = [
    "EXIT_DIVERGED",
    "Interrupted",
    "NewRequest",
    "Outcome",
    "ResumeRequest",
    "TrainingRecipe",
    "cleanup_memory",
    "run_training",
    "torch_threads",
]

log = logs.get_logger()
T = TypeVar("T")

#: Exit code of a run stopped by non-finite loss: a training failure, not bad input.
EXIT_DIVERGED = 1

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


def cleanup_memory() -> None:
    """Free cached CPU/GPU memory; never touches training state."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()


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


class TrainingRecipe:
    """One training run: ``with recipe: recipe.train()``.

    ``plan.config`` is frozen; ``self.state`` (epoch, step, global step, lr, delta, best
    acc_mean) is the only thing that changes, and it is what a checkpoint saves and restores.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.config = plan.config
        self.state: RunState = plan.state
        self.device = plan.device
        self.loader = plan.loader
        self.dist = plan.dist
        self.run: RunLayout | None = plan.run
        self._stack: contextlib.ExitStack | None = None
        self.sigint = SigintDeferral(armed=False)  # armed by train()

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
        self._setup_model()  # the spec's training_initializer
        self._on_main(lambda: self._setup_run(stack))  # rank 0 owns every file
        self._setup_loop_state()

    def _setup_run(self, stack: contextlib.ExitStack) -> None:
        plan = self.plan
        self.run = plan.run if plan.run is not None else claim_run_dir(self.config.model_type)
        command = "theta new" if plan.mode == "new" else f"theta resume {plan.resume_ckpt}"
        stack.enter_context(lock.hold_run(self.run, command))
        try:
            model_house_builder(plan, self.run)
            cfg = self.config
            self.quick_val, qv_source = load_quick_val(
                self.run, cfg.quick_val_path, cfg.val_dir, cfg.K, cfg.seed
            )
        except BaseException:
            if plan.mode == "new":  # nothing trained yet: leave no half-made run behind
                self._abandon_if_empty()
            raise
        if plan.mode == "resume":
            restore_missing_rows(self.run)
            set_aside_later_history(self.run, self.state.epoch, self.state.step)
        self._log_setup(qv_source)

    def _on_main(self, fn: Callable[[], T]) -> T | None:
        """Run ``fn`` on rank 0 only (everything when single); every rank learns whether it
        failed, and stops with it instead of waiting at the next collective."""
        if not self.dist.enabled:
            return fn()
        if self.dist.is_main:
            try:
                result = fn()
            except ThetaError as e:
                distributed.broadcast(self.dist, (str(e), e.code))
                raise
            distributed.broadcast(self.dist, None)
            return result
        failure = distributed.broadcast(self.dist, None)
        if failure is not None:
            raise ThetaError(f"rank 0: {failure[0]}", failure[1], quiet=True)
        return None

    def _setup_model(self) -> None:
        import torch

        from theta_cli.engine.schedule import WarmupCosine, build_optimizer
        from theta_cli.model import build_from_config

        cfg, plan = self.config, self.plan
        torch.manual_seed(cfg.seed)  # fixes the initial weights of a new run
        built = build_from_config(cfg)
        #: the plain module: state dicts, evaluation, export
        self.module: torch.nn.Module = built["model"].to(self.device)
        self.module.train()
        self.num_params = int(built["num_params"])
        self.optimizer = build_optimizer(
            self.module.parameters(), cfg.lr, cfg.weight_decay, self.device.type
        )
        total = self.loader.total_steps(cfg.epochs)
        self.scheduler = WarmupCosine(self.optimizer, cfg.lr, cfg.min_lr, cfg.warmup_steps, total)
        self.ema = ema.build(self.module, cfg.ema_decay)
        if plan.payload is not None:
            assert plan.resume_ckpt is not None
            self.state = checkpoint.restore_payload(
                plan.payload, plan.resume_ckpt, self.module, self.optimizer, self.scheduler,
                self.device, self.ema,
                rank=None if plan.world_changed else self.dist.rank,
            )
            if self.scheduler.total_steps != total:  # --epochs changed: cosine ends at the end
                self.scheduler.set_total_steps(total)
        #: what the training step calls: the module, wrapped for DDP and compiled as configured
        self.model: torch.nn.Module = self.module
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            # The depthwise conv weights' gradients come back from oneDNN in another (equally
            # valid) stride order; DDP copies them into its buckets and says so on every step.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
            with distributed.collective(self.dist, "wrapping the model (DDP)"):
                self.model = DistributedDataParallel(self.module, device_ids=ids)
        if cfg.compile:
            self.model = torch.compile(self.model)  # type: ignore[assignment]
        self.autocast = cfg.bf16 and self.device.type == "cuda"
        if cfg.bf16 and not self.autocast:
            log.warning("bf16=true applies on CUDA only; training in float32 on the CPU")

    def _setup_loop_state(self) -> None:
        import torch

        self.params = [p for p in self.module.parameters() if p.requires_grad]
        # Per-step losses stay on the device until a log/checkpoint boundary reads them at once:
        # no per-step host sync, and the exact step of a non-finite loss is still known.
        self._losses = torch.empty(self.config.log_interval, device=self.device)
        self._pending = 0
        self._since_ckpt: list[float] = []
        self._phase = _IDLE
        self._rng_at_step: torch.Tensor | None = None
        self.last_ckpt: Path | None = self.plan.resume_ckpt
        self._saved_global_step = self.state.global_step  # state already on disk (or fresh)

    def _abandon_if_empty(self) -> None:
        """A new run that failed before its first checkpoint leaves no half-made directory."""
        if not self.run.checkpoints():
            logs.detach_run_log()
            shutil.rmtree(self.run.root, ignore_errors=True)

    def cleanup(self) -> None:
        """Release the run's lock (taken in setup)."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def _log_setup(self, qv_source: str) -> None:
        import torch

        cfg, plan = self.config, self.plan
        ep = self.loader.plan(plan.start_epoch)
        n = torch.get_num_threads()
        threads = f"cpu ({n} thread{'s' * (n != 1)})"
        where = str(self.device) if self.device.type != "cpu" else threads
        log.info(
            f"model: {cfg.model_type} hidden={cfg.hidden} layers={cfg.layers} K={cfg.K} "
            f"({self.num_params:,} parameters) on {where}"
        )
        total = self.scheduler.total_steps
        log.info(
            f"data: {len(self.loader.files)} train file(s) in {self.loader.train_dir}; "
            f"{ep.samples} samples, {ep.steps} steps per epoch; "
            f"{total} steps over {cfg.epochs} epoch{'s' * (cfg.epochs != 1)}; "
            f"fixes every {cfg.fix_interval_s:g} s"
        )
        if plan.mode == "new" and cfg.warmup_steps >= total:
            log.warning(
                f"warmup_steps={cfg.warmup_steps} covers the whole run ({total} steps): the lr "
                f"never reaches lr={cfg.lr} and there is no cosine decay; lower warmup_steps"
            )
        log.info(f"huber delta {self.state.delta_curr:.4g} from {plan.delta_source}")
        log.info(f"quick_val: {self.quick_val['X_t'].shape[0]} samples from {qv_source}")

    # ---- one optimizer step -----------------------------------------------------------------

    def loss(self, xb: torch.Tensor, vb: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
        """Huber(delta) on the per-point error ||v_hat - V||_2, averaged over batch and points;
        with ``t_weight`` p > 0 each sample counts (p+1)·t^p times (mean 1 over t ~ U[0, 1))."""
        import torch
        import torch.nn.functional as F

        from theta_cli.flow import per_point_error

        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            v_hat = self.model(xb, tb)
        err = per_point_error(v_hat.float(), vb)
        delta = self.state.delta_curr
        p = self.config.t_weight
        if p == 0.0:  # the spec's loss, bit for bit
            return F.huber_loss(err, err.new_zeros(()).expand_as(err), delta=delta)
        per_point = F.huber_loss(err, err.new_zeros(()).expand_as(err), delta=delta,
                                 reduction="none")  # fmt: skip
        weight = (p + 1.0) * tb.float().reshape(-1, 1).pow(p)
        return (per_point * weight).mean()

    def _step(self, xb: torch.Tensor, vb: torch.Tensor, tb: torch.Tensor) -> None:
        import torch

        self._phase = _COMPUTE
        loss = self.loss(xb, vb, tb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip, foreach=True)
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
        values = distributed.mean_(self.dist, self._losses[:n].clone()).tolist()
        self._pending = 0
        for j, v in enumerate(values):
            if not math.isfinite(v):
                bad = step - n + 1 + j
                last = f"last checkpoint: {self.last_ckpt}" if self.last_ckpt else "no checkpoint"
                raise ThetaError(
                    f"non-finite loss ({v}) at epoch {epoch} step {bad}: training stopped, "
                    f"no checkpoint written from this state ({last}); lower lr or check the data",
                    code=EXIT_DIVERGED,
                )
        self._since_ckpt.extend(values)
        return math.fsum(values) / n

    # ---- checkpoints --------------------------------------------------------------------------

    def save_checkpoint(self, epoch: int, step: int) -> None:
        """The spec's save_checkpoint_and_log: quick_val acc, checkpoint, CSV row, config.json,
        charts, summary line (the files in the spec's order). Every rank calls it (their random
        states go into the checkpoint); rank 0 writes."""
        import torch

        self._phase = _SAVE
        # fsum: the average never depends on how the steps were grouped into reads.
        avg = math.fsum(self._since_ckpt) / len(self._since_ckpt) if self._since_ckpt else math.nan
        lr = self.scheduler.last_lr
        state = self.state.model_copy(update={"epoch": epoch, "step": step, "lr": lr})
        rng = self._rng_at_step if self._rng_at_step is not None else torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        rank_rngs = distributed.gather(self.dist, (rng, cuda_rng)) if self.dist.enabled else None
        written = self._on_main(
            lambda: self._write_checkpoint(epoch, step, state, avg, (rng, cuda_rng), rank_rngs)
        )
        self.state = written if written is not None else state
        self._since_ckpt = []
        self.last_ckpt = self.run.ckpt_path(epoch, step) if self.run is not None else None
        self._saved_global_step = state.global_step
        self._phase = _IDLE

    def _write_checkpoint(
        self,
        epoch: int,
        step: int,
        state: RunState,
        avg: float,
        rngs: tuple[torch.Tensor, torch.Tensor | None],
        rank_rngs: list[tuple[torch.Tensor, torch.Tensor | None]] | None,
    ) -> RunState:
        """Rank 0's part of a checkpoint; returns the state it recorded."""
        assert self.run is not None
        lr = state.lr
        # acc first (eval mode draws no random numbers), so the checkpoint's state holds it too.
        evaluated = self.ema.module if self.ema is not None else self.module
        acc: Acc = quick_val_acc(evaluated, self.quick_val, self.config.batch_size, self.device)
        self._refuse_non_finite(epoch, step, acc)
        if metric_key(acc.mean) < metric_key(state.best_acc_mean):
            state = state.model_copy(update={"best_acc_mean": acc.mean})
        path = self.run.ckpt_path(epoch, step)
        row = csvlog.TrainRow(
            ckpt_name(epoch, step), epoch, step, avg, acc.mean, acc.median, acc.std, lr,
            state.delta_curr,
        )
        payload = checkpoint.build_payload(
            self.module, self.optimizer, self.scheduler, self.config, state, rngs[0], rngs[1],
            row, self.ema, rank_rngs,
        )
        try:
            checkpoint.save_checkpoint(path, payload)
            csvlog.append_train_row(self.run, row)
            atomic.write_json(
                self.run.config_path, RunConfig.compose(self.config, state).model_dump()
            )
        except DiskFull as e:
            newest = self.newest_checkpoint()
            raise DiskFull(
                e.path, f"; the last complete checkpoint is {newest or 'none (no checkpoint yet)'}"
            ) from None
        self._draw_charts()
        log.info(
            f"checkpoint {row.ckpt_name}: loss {avg:.4f} | acc mean {acc.mean:.3f} m, "
            f"median {acc.median:.3f} m, std {acc.std:.3f} m | lr {lr:.3e}"
        )
        return state

    def _refuse_non_finite(self, epoch: int, step: int, acc: Acc) -> None:
        """Never checkpoint a broken state: non-finite weights or quick_val metrics stop the run
        like a non-finite loss (an absurd lr can blow up the weights while the loss, clipped by
        Huber, still reads finite)."""
        import torch

        bad = next(
            (n for n, p in self.module.named_parameters() if not bool(torch.isfinite(p).all())),
            None,
        )
        what = f"weight {bad!r} is non-finite" if bad else None
        if what is None and not all(math.isfinite(v) for v in (acc.mean, acc.median, acc.std)):
            what = f"quick_val acc is non-finite (mean {acc.mean}, median {acc.median})"
        if what is None:
            return
        last = f"last checkpoint: {self.last_ckpt}" if self.last_ckpt else "no checkpoint"
        raise ThetaError(
            f"{what} at epoch {epoch} step {step}: training stopped, no checkpoint written from "
            f"this state ({last}); lower lr or check the data",
            code=EXIT_DIVERGED,
        )

    def _draw_charts(self) -> None:
        # A chart that fails to draw must not end a training run: warn and carry on.
        try:
            from theta_cli.runs.plots import write_train_charts

            assert self.run is not None
            write_train_charts(self.run)
        except Exception as e:  # noqa: BLE001
            log.warning(f"charts not updated: {type(e).__name__}: {e}")

    # ---- epochs -------------------------------------------------------------------------------

    def train(self) -> Outcome:
        """The spec's training_manager: from the plan's start to the last epoch, an early stop,
        or Ctrl-C."""
        cfg, plan = self.config, self.plan
        self.sigint.armed = True
        with self.sigint if not self.sigint.installed else contextlib.nullcontext():
            for epoch in range(plan.start_epoch, cfg.epochs):
                start = plan.start_step if epoch == plan.start_epoch else 0
                try:
                    verdict = self.train_epoch(epoch, start)
                except KeyboardInterrupt:  # outside the step loop (loading, drawing the line)
                    self._report_interrupt(f"interrupted in epoch {epoch}")
                cleanup_memory()
                if verdict is not None and verdict.stop:
                    msg = f"early stop after epoch {epoch}: {verdict.reason}"
                    log.info(msg)
                    return Outcome("early_stopped", msg, self.run, self.last_ckpt)
        n = cfg.epochs
        msg = (
            f"finished: {n} epoch{'s' * (n != 1)}, {self.state.global_step} steps; "
            f"last {self.last_ckpt}"
        )
        log.info(msg)
        return Outcome("finished", msg, self.run, self.last_ckpt)

    def train_epoch(self, epoch: int, start_step: int = 0) -> Verdict | None:
        """One epoch from ``start_step``; checkpoints every save_interval and at its end."""
        import torch

        ep = self.loader.set(epoch)
        log.debug(f"epoch {epoch}: {ep.info.path.name}, {ep.samples} samples, {ep.steps} steps")
        cfg = self.config
        verdict: Verdict | None = None
        interrupted: str | None = None
        step = start_step
        global_batch = cfg.batch_size * self.dist.world
        line = EpochLine(epoch, cfg.epochs, ep.steps, global_batch, start_step, self.dist.is_main)
        with line:
            try:
                for xb, vb, tb in self.loader.batches(start_step):
                    self._rng_at_step = torch.get_rng_state()
                    with distributed.collective(self.dist, "averaging gradients"):
                        self._step(xb, vb, tb)  # DDP all-reduces inside backward
                    step += 1
                    self.state = self.state.model_copy(
                        update={"global_step": self.state.global_step + 1}
                    )
                    save = step % cfg.save_interval == 0 or step == ep.steps
                    if save or self._pending == cfg.log_interval:
                        running = self._flush(epoch, step)
                        line.update(step, running, self.scheduler.last_lr)
                    if save:
                        self._rng_at_step = None  # the step is whole: save the current RNG
                        self.save_checkpoint(epoch, step)
                        verdict = distributed.broadcast(self.dist, self._converged())
                        if verdict.stop:
                            break
                    if distributed.any_rank(self.dist, self.sigint.requested, self.device):
                        raise KeyboardInterrupt  # Ctrl-C on any rank stops every rank here
            except KeyboardInterrupt:
                interrupted = self._on_interrupt(epoch, step, line)
        # Reported once the live line is final, so the resume command is the last thing shown.
        if interrupted is not None:
            self._report_interrupt(interrupted)
        return verdict

    def _on_interrupt(self, epoch: int, step: int, line: EpochLine) -> str:
        """Save the current step if its state is whole; return what happened, for the report."""
        why = "interrupted"
        if self._phase in (_UPDATE, _SAVE):
            why = "interrupted while updating or saving (that step's state is incomplete)"
        elif self.state.global_step != self._saved_global_step:  # steps not in any checkpoint
            if self._phase != _COMPUTE:  # between steps: the current RNG state is the right one
                self._rng_at_step = None
            self._phase = _IDLE
            line.update(step, self._flush(epoch, step), self.scheduler.last_lr)
            self.save_checkpoint(epoch, step)
        return f"{why} at epoch {epoch} step {step}"

    def _converged(self) -> Verdict | None:
        """Rank 0 reads train_data.csv and decides; the others learn it by broadcast."""
        if not self.dist.is_main:
            return None
        assert self.run is not None
        return converge_detector(self.run, self.config.early_stop_patience)

    def newest_checkpoint(self) -> Path | None:
        """The newest checkpoint on disk: complete, since checkpoints are renamed into place."""
        found = self.run.checkpoints() if self.run is not None else []
        return found[-1][2] if found else None

    def _report_interrupt(self, what: str) -> None:
        """Name the checkpoint to resume from: the newest complete one on disk (a second Ctrl-C
        can land after a checkpoint was renamed into place but before the loop recorded it)."""
        if not self.dist.is_main:
            raise Interrupted(what, None)  # rank 0 reports for the job
        ckpt = self.newest_checkpoint()
        if ckpt is None:
            log.warning(f"{what}; no checkpoint to resume from yet")
            raise Interrupted(what, None)
        log.warning(f"{what}; resume from {ckpt.name}")
        log.info(f"resume with: theta resume {shlex.quote(_display_path(ckpt))}")
        raise Interrupted(what, ckpt)


def _display_path(path: Path) -> str:
    """Relative to the working directory when inside it, else absolute."""
    p = Path(path).resolve()
    with contextlib.suppress(ValueError):
        return str(p.relative_to(Path.cwd().resolve()))
    return str(p)
