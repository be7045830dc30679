"""The epoch loop, the spec's ``training_manager`` / ``train_loop`` / ``save_checkpoint_and_log``.

Epochs -> optimizer steps -> a checkpoint every ``save_interval`` steps and at each epoch's end
(checkpoint, quick_val acc, CSV row, config.json, charts, then the plateau test). The first
Ctrl-C stops at the next step boundary and saves that step; a non-finite loss stops the run
without saving the broken state.

Exactness: per-step losses stay on the device until a log/checkpoint boundary reads them all at
once, and their averages use ``math.fsum``, so no statistic depends on when it was read; the RNG
state saved with a checkpoint is the one from before the step it does not include.
"""

from __future__ import annotations

import contextlib
import gc
import math
import shlex
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from theta_cli.core import atomic, csvlog, logs
from theta_cli.core.config import RunConfig
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout, ckpt_name
from theta_cli.core.live import EpochLine
from theta_cli.engine import checkpoint
from theta_cli.engine.converge import Verdict, converge_detector
from theta_cli.engine.quickval import Acc, per_point_error, quick_val_acc
from theta_cli.engine.setup import Plan
from theta_cli.engine.state import Engine, state_payload

if TYPE_CHECKING:
    import torch

log = logs.get_logger()

#: Exit code of a run stopped by non-finite loss: a training failure, not bad input.
EXIT_DIVERGED = 1


@dataclass(frozen=True)
class Outcome:
    status: Literal["finished", "early_stopped", "nothing_left"]
    message: str
    run: RunLayout | None
    last_ckpt: Path | None


class Interrupted(Exception):
    """Ctrl-C: the run stopped cleanly; ``ckpt`` is the checkpoint to resume from (if any)."""

    def __init__(self, message: str, ckpt: Path | None) -> None:
        super().__init__(message)
        self.ckpt = ckpt


def cleanup_memory() -> None:
    """Free cached CPU/GPU memory; never touches training state."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()


# ------------------------------------------------------------------------------------------------
# Ctrl-C
# ------------------------------------------------------------------------------------------------


class _SigintDeferral:
    """The first Ctrl-C asks the loop to stop at the next step boundary (state is consistent
    there); a second one raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.requested = False
        self._installed = False
        self._previous: Any = signal.SIG_DFL

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True  # no logging here: a signal handler must not take locks

    def __enter__(self) -> _SigintDeferral:
        if threading.current_thread() is threading.main_thread():  # signals need the main thread
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            # None means the old handler was not set from Python; the default is the safe choice
            previous = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
            self._installed = False


# ------------------------------------------------------------------------------------------------
# the loop
# ------------------------------------------------------------------------------------------------

_IDLE, _COMPUTE, _UPDATE, _SAVE = range(4)


class Trainer:
    """Runs the epochs of a Plan with an Engine; ``training_manager`` is the entry point."""

    def __init__(self, plan: Plan, engine: Engine, quick_val: dict[str, torch.Tensor]) -> None:
        import torch

        assert plan.run is not None
        self.plan = plan
        self.run: RunLayout = plan.run
        self.cfg = plan.config
        self.engine = engine
        self.model = engine.model
        self.optimizer = engine.optimizer
        self.scheduler = engine.scheduler
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.loader = plan.loader
        self.device = plan.device
        self.quick_val = quick_val
        self.delta = plan.huber_delta
        self.global_step = plan.global_step
        # Per-step losses stay on the device until a log/checkpoint boundary reads them at once:
        # no per-step host sync, and the exact step of a non-finite loss is still known.
        self._losses = torch.empty(self.cfg.log_interval, device=self.device)
        self._pending = 0
        self._since_ckpt: list[float] = []
        self._phase = _IDLE
        self._rng_at_step: torch.Tensor | None = None
        self.last_ckpt: Path | None = plan.resume_ckpt
        self._saved_global_step = plan.global_step  # state already on disk (or fresh)
        self.ckpt_seconds = 0.0  # time spent in checkpoints (benchmarks exclude it)
        self.sigint = _SigintDeferral()

    # ---- one optimizer step -----------------------------------------------------------------

    def _loss(self, xb: torch.Tensor, vb: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
        """Huber(delta) on the per-point error ||v_hat - V||_2, averaged over batch and points."""
        import torch.nn.functional as F

        err = per_point_error(self.model(xb, tb).float(), vb)
        return F.huber_loss(err, err.new_zeros(()).expand_as(err), delta=self.delta)

    def _step(self, xb: torch.Tensor, vb: torch.Tensor, tb: torch.Tensor) -> None:
        import torch

        self._phase = _COMPUTE
        loss = self._loss(xb, vb, tb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip, foreach=True)
        self._phase = _UPDATE
        self.optimizer.step()
        self.scheduler.step()
        self._losses[self._pending] = loss.detach()
        self._pending += 1
        self._phase = _IDLE

    def _flush(self, epoch: int, step: int) -> float | None:
        """Read the pending losses (one sync); stop on a non-finite one. Returns their mean."""
        n = self._pending
        if n == 0:
            return None
        values = self._losses[:n].tolist()
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

    def save_checkpoint_and_log(self, epoch: int, step: int) -> csvlog.TrainRow:
        """Checkpoint, quick_val acc, CSV row, config.json, charts, summary line (spec order)."""
        import torch

        t0 = time.perf_counter()
        self._phase = _SAVE
        # fsum: the average never depends on how the steps were grouped into reads.
        avg = math.fsum(self._since_ckpt) / len(self._since_ckpt) if self._since_ckpt else math.nan
        lr = self.scheduler.last_lr
        rc = RunConfig.model_validate(
            {
                **self.cfg.model_dump(),
                "lr": lr,
                "delta_curr": self.delta,
                "epoch": epoch,
                "step": step,
                "global_step": self.global_step,
            }
        )
        rng = self._rng_at_step if self._rng_at_step is not None else torch.get_rng_state()
        path = self.run.ckpt_path(epoch, step)
        payload = state_payload(self.engine, rc, rng, self.device)
        checkpoint.save_checkpoint(path, payload)
        acc: Acc = quick_val_acc(self.model, self.quick_val, self.cfg.batch_size, self.device)
        row = csvlog.TrainRow(
            ckpt_name(epoch, step), epoch, step, avg, acc.mean, acc.median, acc.std, lr, self.delta
        )
        csvlog.append_train_row(self.run, row)
        atomic.write_json(self.run.config_path, rc.model_dump())
        self.cfg = rc
        self._draw_charts()
        self._since_ckpt = []
        self.last_ckpt = path
        self._saved_global_step = self.global_step
        self._phase = _IDLE
        self.ckpt_seconds += time.perf_counter() - t0
        log.info(
            f"checkpoint {row.ckpt_name}: loss {avg:.4f} | acc mean {acc.mean:.3f} m, "
            f"median {acc.median:.3f} m, std {acc.std:.3f} m | lr {lr:.3e}"
        )
        return row

    def _draw_charts(self) -> None:
        # A chart that fails to draw must not end a training run: warn and carry on.
        try:
            from theta_cli.runs.plots import write_train_charts

            write_train_charts(self.run)
        except Exception as e:  # noqa: BLE001
            log.warning(f"charts not updated: {type(e).__name__}: {e}")

    # ---- epochs -------------------------------------------------------------------------------

    def training_manager(self) -> Outcome:
        """Train from the plan's start point to the last epoch, an early stop, or Ctrl-C."""
        cfg = self.cfg
        with self.sigint:
            for epoch in range(self.plan.start_epoch, cfg.epochs):
                start = self.plan.start_step if epoch == self.plan.start_epoch else 0
                try:
                    verdict = self._epoch(epoch, start)
                except KeyboardInterrupt:  # outside the step loop (loading, drawing the line)
                    self._report_interrupt(f"interrupted in epoch {epoch}")
                cleanup_memory()
                if verdict is not None and verdict.stop:
                    msg = f"early stop after epoch {epoch}: {verdict.reason}"
                    log.info(msg)
                    return Outcome("early_stopped", msg, self.run, self.last_ckpt)
        n = self.cfg.epochs
        msg = (
            f"finished: {n} epoch{'s' * (n != 1)}, {self.global_step} steps; last {self.last_ckpt}"
        )
        log.info(msg)
        return Outcome("finished", msg, self.run, self.last_ckpt)

    def _epoch(self, epoch: int, start_step: int) -> Verdict | None:
        import torch

        ep = self.loader.set(epoch)
        log.debug(f"epoch {epoch}: {ep.info.path.name}, {ep.samples} samples, {ep.steps} steps")
        save_every, log_every = self.cfg.save_interval, self.cfg.log_interval
        verdict: Verdict | None = None
        interrupted: str | None = None
        step = start_step
        with EpochLine(epoch, self.cfg.epochs, ep.steps, self.cfg.batch_size, start_step) as line:
            try:
                for xb, vb, tb in self.loader.batches(start_step):
                    self._rng_at_step = torch.get_rng_state()
                    self._step(xb, vb, tb)
                    step += 1
                    self.global_step += 1
                    save = step % save_every == 0 or step == ep.steps
                    if save or self._pending == log_every:
                        running = self._flush(epoch, step)
                        line.update(step, running, self.scheduler.last_lr)
                    if save:
                        self._rng_at_step = None  # the step is whole: save the current RNG
                        self.save_checkpoint_and_log(epoch, step)
                        verdict = converge_detector(self.run, self.cfg.early_stop_patience)
                        if verdict.stop:
                            break
                    if self.sigint.requested:
                        raise KeyboardInterrupt
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
        elif self.global_step != self._saved_global_step:  # steps not yet in any checkpoint
            if self._phase != _COMPUTE:  # between steps: the current RNG state is the right one
                self._rng_at_step = None
            self._phase = _IDLE
            line.update(step, self._flush(epoch, step), self.scheduler.last_lr)
            self.save_checkpoint_and_log(epoch, step)
        return f"{why} at epoch {epoch} step {step}"

    def _report_interrupt(self, what: str) -> None:
        if self.last_ckpt is None:
            raise Interrupted(f"{what}; no checkpoint to resume from yet", None)
        log.warning(f"{what}; resume from {self.last_ckpt.name}")
        log.info(f"resume with: theta resume {shlex.quote(_display_path(self.last_ckpt))}")
        raise Interrupted(what, self.last_ckpt)


def _display_path(path: Path) -> str:
    """Relative to the working directory when inside it, else absolute."""
    p = Path(path).resolve()
    with contextlib.suppress(ValueError):
        return str(p.relative_to(Path.cwd().resolve()))
    return str(p)
