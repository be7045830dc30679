"""The training engine behind ``theta new`` and ``theta resume`` (spec section 2.2).

The spec's lifecycle, with typed inputs and outputs instead of a shared ``runtime`` dict:

    cleanup_memory()                          free CPU/GPU memory between heavy phases
    config_solver(request)      -> Plan       new vs resume: config, run, data, start point
    model_house_builder(plan)                 run directories, config.json, runtime.log
    training_initializer(plan)  -> Engine     model, AdamW, warm-up/cosine schedule, restore
    Trainer.training_manager()  -> Outcome    epochs -> steps -> checkpoints
    Trainer.save_checkpoint_and_log(...)      ckpt, quick_val acc, csv row, config.json, charts
    converge.converge_detector(run, patience) plateau test on train_data.csv

Supported: CPU and CUDA (fused AdamW, epoch tensors resident on the device), exact resume from
any checkpoint (same weights, optimizer state and CSV rows as an uninterrupted run, on CPU with
a fixed seed), ``--next-epoch``, Ctrl-C checkpoints, a non-finite-loss stop, early stopping.
Not supported: multiple GPUs, mixed precision, gradient accumulation.

Exactness rests on three things: the epoch's order is re-derived from (seed, epoch); the CPU
(and CUDA) RNG state is saved with every checkpoint and restored, so dropout draws the same
masks; and the loss statistics never depend on when the loop happened to read them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import shlex
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from theta_cli import atomic, checkpoint, logs, runlog
from theta_cli.config import (
    ARCH_FIELDS,
    RESUME_MUTABLE,
    RunConfig,
    TrainConfig,
    format_validation_error,
    load_run_config,
)
from theta_cli.converge import Verdict, converge_detector
from theta_cli.errors import ThetaError
from theta_cli.layout import RunLayout, ckpt_name, models_dir
from theta_cli.live import EpochLine
from theta_cli.loader import EpochLoader, peek
from theta_cli.metrics import RUN_QUICK_VAL, Acc, load_quick_val, per_point_error, quick_val_acc
from theta_cli.schedule import WarmupCosine, build_optimizer

if TYPE_CHECKING:
    import torch

log = logs.get_logger()

#: Exit code of a run stopped by non-finite loss: a training failure, not bad input.
EXIT_DIVERGED = 1

#: Why a resume may not change a field, by field.
_FROZEN_REASONS = {
    **{f: "the checkpoint's weights were trained with that architecture" for f in ARCH_FIELDS},
    **{
        f: "the restored optimizer and lr schedule were built from it"
        for f in ("lr", "min_lr", "warmup_steps", "weight_decay", "grad_clip")
    },
    **{
        f: "the epoch's data and shuffled order depend on it, so the resume would not be exact"
        for f in ("train_dir", "batch_size", "epoch_limit", "seed")
    },
    "cpu": "the RNG state and optimizer state belong to the device the run was started on",
}


# ------------------------------------------------------------------------------------------------
# requests and plans
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    config: TrainConfig
    source: str  # where the base config came from, for the log


@dataclass(frozen=True)
class ResumeRequest:
    ckpt: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    next_epoch: bool = False


@dataclass
class Plan:
    """Everything config_solver resolved; nothing on disk has been written yet."""

    mode: Literal["new", "resume"]
    config: RunConfig
    run: RunLayout | None  # None for a new run until model_house_builder claims a directory
    loader: EpochLoader
    device: torch.device
    huber_delta: float
    delta_source: str
    start_epoch: int
    start_step: int
    global_step: int
    resume_ckpt: Path | None = None
    resume_at: tuple[int, int] | None = None  # (epoch, step) of resume_ckpt
    payload: dict[str, Any] | None = None
    nothing_left: str | None = None  # set when a resume has no step left to train
    lock_info: dict[str, Any] | None = None


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


# ------------------------------------------------------------------------------------------------
# spec functions
# ------------------------------------------------------------------------------------------------


def cleanup_memory() -> None:
    """Free cached CPU/GPU memory; never touches training state."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()


def resolve_device(cpu: bool) -> torch.device:
    import torch

    if cpu:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    log.warning("CUDA is not available; training on CPU (set cpu=true to silence this)")
    return torch.device("cpu")


def read_huber_delta(path: str | Path, fallback: float) -> tuple[float, str]:
    """The Huber delta from ``huber_delta_path``, or ``fallback`` with a warning when absent."""
    p = Path(path)
    if not p.is_file():
        log.warning(f"{p}: huber delta file not found; using delta_fallback={fallback}")
        return fallback, f"delta_fallback (no {p})"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ThetaError(f"{p}: not a readable huber delta file ({e})") from None
    delta = data.get("delta") if isinstance(data, dict) else None
    if isinstance(delta, bool) or not isinstance(delta, (int, float)):
        raise ThetaError(f"{p}: key 'delta' is missing or not a number")
    if not math.isfinite(delta) or delta <= 0:
        raise ThetaError(f"{p}: key 'delta'={delta!r} must be a finite number > 0")
    return float(delta), str(p)


def _check_quick_val_source(cfg: TrainConfig, run: RunLayout | None) -> None:
    """Fail before anything is written if no quick_val set can be had (see metrics)."""
    if run is not None and (run.log_dir / RUN_QUICK_VAL).is_file():
        return
    qv = Path(cfg.quick_val_path)
    if qv.is_file():
        peek(qv, cfg.K)
        return
    from theta_cli import epochfile

    for p in epochfile.list_files(cfg.val_dir):
        peek(p, cfg.K)


def config_solver(request: NewRequest | ResumeRequest) -> Plan:
    """Resolve new vs resume into a Plan. Validates every input; writes nothing."""
    if isinstance(request, NewRequest):
        return _solve_new(request)
    return _solve_resume(request)


def _solve_new(req: NewRequest) -> Plan:
    cfg = req.config
    device = resolve_device(cfg.cpu)
    loader = EpochLoader(
        cfg.train_dir, cfg.K, cfg.batch_size, cfg.epoch_limit, cfg.seed, device=device
    )
    _check_quick_val_source(cfg, None)
    delta, source = read_huber_delta(cfg.huber_delta_path, cfg.delta_fallback)
    rc = RunConfig.start(cfg, delta)
    return Plan("new", rc, None, loader, device, delta, source, 0, 0, 0)


def check_resume_overrides(overrides: dict[str, Any]) -> None:
    """Refuse any override that could break the run, saying why."""
    for key, value in overrides.items():
        if value is None or key in RESUME_MUTABLE:
            continue
        if key not in TrainConfig.model_fields:
            raise ThetaError(
                f"--set {key}: unknown field; on resume only "
                f"{', '.join(sorted(RESUME_MUTABLE))} can change"
            )
        why = _FROZEN_REASONS.get(key, "it is part of the run's recorded setup")
        raise ThetaError(
            f"{key}: cannot change on resume: {why} "
            f"(only {', '.join(sorted(RESUME_MUTABLE))} can change)"
        )


def _solve_resume(req: ResumeRequest) -> Plan:
    from pydantic import ValidationError

    run, epoch, step = RunLayout.from_ckpt(req.ckpt)
    rc = load_run_config(run.config_path)
    check_resume_overrides(req.overrides)
    changes = {k: v for k, v in req.overrides.items() if v is not None}
    if changes:
        try:
            rc = RunConfig.model_validate({**rc.model_dump(), **changes})
        except ValidationError as e:
            raise ThetaError(format_validation_error(e, "resume override")) from None
    payload = checkpoint.load_checkpoint(req.ckpt)
    _check_ckpt_matches(req.ckpt, payload, rc, epoch, step)
    device = resolve_device(rc.cpu)
    loader = EpochLoader(rc.train_dir, rc.K, rc.batch_size, rc.epoch_limit, rc.seed, device=device)
    delta = float(payload[checkpoint.DELTA])
    epoch_done = req.next_epoch or step >= loader.plan(epoch).steps
    start_epoch, start_step = (epoch + 1, 0) if epoch_done else (epoch, step)
    plan = Plan(
        "resume",
        rc,
        run,
        loader,
        device,
        delta,
        f"the checkpoint (delta_curr={delta})",
        start_epoch,
        start_step,
        int(payload[checkpoint.GLOBAL_STEP]),
        resume_ckpt=Path(req.ckpt),
        resume_at=(epoch, step),
        payload=payload,
    )
    if start_epoch >= rc.epochs:
        where = "the end of" if epoch_done else f"step {step} of"
        plan.nothing_left = (
            f"nothing left to train: {req.ckpt} is at {where} epoch {epoch} and the run has "
            f"epochs={rc.epochs} (resume with --epochs N to train further)"
        )
        return plan
    _check_quick_val_source(rc, run)
    return plan


def _check_ckpt_matches(
    path: Path, payload: dict[str, Any], rc: RunConfig, epoch: int, step: int
) -> None:
    """The checkpoint must belong to this run: same name state, same architecture."""
    if (payload[checkpoint.EPOCH], payload[checkpoint.STEP]) != (epoch, step):
        raise ThetaError(
            f"{path}: file name says epoch {epoch} step {step} but the checkpoint holds "
            f"epoch {payload[checkpoint.EPOCH]} step {payload[checkpoint.STEP]} (renamed?)"
        )
    saved = payload[checkpoint.CONFIG]
    if not isinstance(saved, dict):
        raise ThetaError(f"{path}: checkpoint config is not a mapping")
    for key in ARCH_FIELDS:
        if saved.get(key) != getattr(rc, key):
            raise ThetaError(
                f"{path}: checkpoint is from another architecture: {key}={saved.get(key)!r} "
                f"but {rc.model_type} run config says {key}={getattr(rc, key)!r}"
            )


def _claim_run_dir(model_type: str) -> RunLayout:
    """Create ``<models>/<model_type>_<YYYYmmdd_HHMMSS>``; a suffix keeps same-second runs apart."""
    base = models_dir()
    base.mkdir(parents=True, exist_ok=True)
    stem = f"{model_type}_{time.strftime('%Y%m%d_%H%M%S')}"
    for i in range(1, 1000):
        root = base / (stem if i == 1 else f"{stem}_{i}")
        try:
            root.mkdir()  # exclusive: two processes can never claim the same directory
        except FileExistsError:
            continue
        return RunLayout(root.resolve())
    raise ThetaError(f"{base}: could not find a free run name for {stem}")


def model_house_builder(plan: Plan) -> RunLayout:
    """Directories, lock, runtime.log and (new runs) the first config.json."""
    from theta_cli import lock

    if plan.mode == "new":
        run = _claim_run_dir(plan.config.model_type)
        plan.run = run
        plan.lock_info = lock.acquire(run.lock_path, "theta new")
        run.make_dirs()
        atomic.write_json(run.config_path, plan.config.model_dump())
        logs.attach_run_log(run.runtime_log)
        log.info(f"== theta new: run {run.name} in {run.root.parent}", extra={"style": "bold"})
        log.info(f"config: {json.dumps(plan.config.model_dump())}", extra={"console": False})
        return run
    assert plan.run is not None and plan.resume_ckpt is not None
    run = plan.run
    plan.lock_info = lock.acquire(run.lock_path, f"theta resume {plan.resume_ckpt.name}")
    run.make_dirs()
    logs.attach_run_log(run.runtime_log)
    log.info(
        f"== theta resume: run {run.name} from {plan.resume_ckpt.name}, "
        f"starting at epoch {plan.start_epoch} step {plan.start_step}",
        extra={"style": "bold"},
    )
    log.info(f"resume config: {json.dumps(plan.config.model_dump())}", extra={"console": False})
    return run


def _set_aside_later_history(run: RunLayout, epoch: int, step: int) -> None:
    """Resuming from an older checkpoint: move later rows and checkpoints aside, never delete.

    Otherwise train_data.csv would hold two histories after this point, and later checkpoints
    would be silently overwritten by the new continuation.
    """
    import csv
    import io

    later = [p for e, s, p in run.checkpoints() if (e, s) > (epoch, step)]
    text = run.train_csv.read_text(encoding="utf-8") if run.train_csv.is_file() else ""
    lines = text.splitlines(keepends=True)
    keep, moved = lines[:1], []
    for line in lines[1:]:
        cells = next(csv.reader(io.StringIO(line)), [])
        try:
            later_row = (int(cells[1]), int(cells[2])) > (epoch, step)
        except (IndexError, ValueError):
            later_row = False
        (moved if later_row else keep).append(line)
    if not later and not moved:
        return
    stamp = time.strftime("%Y%m%d_%H%M%S")
    aside = run.ckpt_dir / f"superseded_{stamp}"
    if moved:
        atomic.write_text(run.log_dir / f"train_data.superseded_{stamp}.csv", text)
        atomic.write_text(run.train_csv, "".join(keep))
    if later:
        aside.mkdir(parents=True, exist_ok=True)
        for p in later:
            os.replace(p, aside / p.name)
    log.warning(
        f"resuming before the run's last checkpoint: {len(later)} later checkpoint(s) moved to "
        f"{aside} and {len(moved)} later row(s) of {run.train_csv.name} kept in "
        f"train_data.superseded_{stamp}.csv"
    )


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

    from theta_cli.model import build_theta

    cfg = plan.config
    torch.manual_seed(cfg.seed)  # fixes the initial weights of a new run
    built = build_theta(cfg.model_type, 2, cfg.hidden, cfg.layers, cfg.K, cfg.dropout)
    model: torch.nn.Module = built["model"].to(plan.device)
    model.train()
    optimizer = build_optimizer(model.parameters(), cfg.lr_init, cfg.weight_decay, plan.device.type)
    total = plan.loader.total_steps(cfg.epochs)
    scheduler = WarmupCosine(optimizer, cfg.lr_init, cfg.min_lr, cfg.warmup_steps, total)
    if plan.payload is not None:
        _restore(plan, model, optimizer, scheduler, total)
    return Engine(model, optimizer, scheduler, int(built["num_params"]))


def _restore(
    plan: Plan,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: WarmupCosine,
    total: int,
) -> None:
    import torch

    p, path = plan.payload, plan.resume_ckpt
    assert p is not None
    try:
        model.load_state_dict(p[checkpoint.MODEL])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ThetaError(f"{path}: weights do not fit the run's model ({first[:200]})") from None
    try:
        optimizer.load_state_dict(p[checkpoint.OPTIMIZER])
    except (ValueError, KeyError, RuntimeError) as e:
        raise ThetaError(f"{path}: optimizer state does not fit the model ({e})") from None
    scheduler.load_state_dict(p[checkpoint.SCHEDULER])
    if scheduler.total_steps != total:  # --epochs changed: the cosine now ends at the new end
        scheduler.set_total_steps(total)
    rng = p.get(checkpoint.RNG)
    if rng is not None:
        torch.set_rng_state(rng)
    cuda_rng = p.get(checkpoint.CUDA_RNG)
    if cuda_rng is not None and plan.device.type == "cuda":
        torch.cuda.set_rng_state(cuda_rng, plan.device)


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

    def save_checkpoint_and_log(self, epoch: int, step: int) -> runlog.TrainRow:
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
        payload: dict[str, Any] = {
            checkpoint.MODEL: self.model.state_dict(),
            checkpoint.OPTIMIZER: self.optimizer.state_dict(),
            checkpoint.SCHEDULER: self.scheduler.state_dict(),
            checkpoint.EPOCH: epoch,
            checkpoint.STEP: step,
            checkpoint.GLOBAL_STEP: self.global_step,
            checkpoint.DELTA: self.delta,
            checkpoint.LR: lr,
            checkpoint.RNG: rng,
            checkpoint.CONFIG: rc.model_dump(),
        }
        if self.device.type == "cuda":
            payload[checkpoint.CUDA_RNG] = torch.cuda.get_rng_state(self.device)
        path = self.run.ckpt_path(epoch, step)
        checkpoint.save_checkpoint(path, payload)
        acc: Acc = quick_val_acc(self.model, self.quick_val, self.cfg.batch_size, self.device)
        row = runlog.TrainRow(
            ckpt_name(epoch, step), epoch, step, avg, acc.mean, acc.median, acc.std, lr, self.delta
        )
        runlog.append_train_row(self.run, row)
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
            from theta_cli.plots import write_train_charts

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
        msg = f"finished: {self.cfg.epochs} epochs, {self.global_step} steps; last {self.last_ckpt}"
        log.info(msg)
        return Outcome("finished", msg, self.run, self.last_ckpt)

    def _epoch(self, epoch: int, start_step: int) -> Verdict | None:
        import torch

        ep = self.loader.set(epoch)
        log.debug(f"epoch {epoch}: {ep.info.path.name}, {ep.samples} samples, {ep.steps} steps")
        save_every, log_every = self.cfg.save_interval, self.cfg.log_interval
        verdict: Verdict | None = None
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
                self._on_interrupt(epoch, step)
        return verdict

    def _on_interrupt(self, epoch: int, step: int) -> None:
        """Save the current step (if its state is whole) and say how to resume."""
        why = "interrupted"
        if self._phase in (_UPDATE, _SAVE):
            why = "interrupted while updating or saving (that step's state is incomplete)"
        elif self.global_step != self._saved_global_step:  # steps not yet in any checkpoint
            if self._phase != _COMPUTE:  # between steps: the current RNG state is the right one
                self._rng_at_step = None
            self._phase = _IDLE
            self._flush(epoch, step)
            self.save_checkpoint_and_log(epoch, step)
        self._report_interrupt(f"{why} at epoch {epoch} step {step}")

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


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------


def run_training(request: NewRequest | ResumeRequest) -> Outcome:
    """The spec's main(): cleanup, solve, initialise, build the house, train."""
    from theta_cli import lock

    cleanup_memory()
    if isinstance(request, NewRequest):
        log.info(f"config from {request.source}", extra={"console": False})
    plan = config_solver(request)
    if plan.nothing_left is not None:
        log.info(plan.nothing_left)
        return Outcome("nothing_left", plan.nothing_left, plan.run, plan.resume_ckpt)
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
            _set_aside_later_history(run, *plan.resume_at)
        _log_setup(plan, engine, qv_source, quick_val)
        return Trainer(plan, engine, quick_val).training_manager()
    finally:
        if plan.lock_info is not None and run.root.exists():
            lock.release(run.lock_path, plan.lock_info)


def _abandon_new_run(run: RunLayout) -> None:
    logs.detach_run_log()
    if not run.checkpoints():
        shutil.rmtree(run.root, ignore_errors=True)


def _log_setup(plan: Plan, engine: Engine, qv_source: str, qv: dict[str, torch.Tensor]) -> None:
    cfg, loader = plan.config, plan.loader
    ep = loader.plan(plan.start_epoch)
    log.info(
        f"model: {cfg.model_type} hidden={cfg.hidden} layers={cfg.layers} K={cfg.K} "
        f"({engine.num_params:,} parameters) on {plan.device}"
    )
    log.info(
        f"data: {len(loader.files)} train file(s) in {loader.train_dir}; "
        f"{ep.samples} samples, {ep.steps} steps per epoch; "
        f"{engine.scheduler.total_steps} steps over {cfg.epochs} epochs"
    )
    total = engine.scheduler.total_steps
    if plan.mode == "new" and cfg.warmup_steps >= total:
        log.warning(
            f"warmup_steps={cfg.warmup_steps} covers the whole run ({total} steps): the lr never "
            f"reaches lr={cfg.lr_init} and there is no cosine decay; lower warmup_steps"
        )
    log.info(f"huber delta {plan.huber_delta:.4g} from {plan.delta_source}")
    log.info(f"quick_val: {qv['X_t'].shape[0]} samples from {qv_source}")
