"""Run setup, the spec's ``config_solver`` and ``model_house_builder``: new vs resume.

``config_solver`` turns a request into a ``Plan`` (config, run, data, device, Huber delta, start
point, the loaded checkpoint) and validates every input while writing nothing, so bad input
never leaves a half-made run. ``model_house_builder`` then claims the run directory, takes the
lock, writes the first config.json (new runs) and attaches runtime.log.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from theta_cli.core import atomic, logs
from theta_cli.core.config import (
    ARCH_FIELDS,
    RESUME_MUTABLE,
    RunConfig,
    TrainConfig,
    format_validation_error,
    load_run_config,
)
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout, models_dir
from theta_cli.engine import checkpoint
from theta_cli.engine.loader import EpochLoader, peek
from theta_cli.engine.quickval import RUN_QUICK_VAL

if TYPE_CHECKING:
    import torch

log = logs.get_logger()

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
    from theta_cli.data import epochfile

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
    saved = checkpoint.stored_config(payload, path)
    for key in ARCH_FIELDS:
        if getattr(saved, key) != getattr(rc, key):
            raise ThetaError(
                f"{path}: checkpoint is from another architecture: {key}={getattr(saved, key)!r} "
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
    from theta_cli.core import lock

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


def set_aside_later_history(run: RunLayout, epoch: int, step: int) -> None:
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
