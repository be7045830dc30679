"""Planning a run, the spec's ``config_solver``: new vs resume, decided without writing.

``config_solver`` turns a request into a ``Plan`` (frozen config, run state, where the run lives,
data, device, the loaded checkpoint). It reads what it needs (the config, the checkpoint, the
dataset's prepare.json, the Huber delta file) and validates every input, but writes nothing, so
bad input never leaves a half-made run; ``engine.rundir`` carries the plan out on disk.

A resume trains with the checkpoint's own config (``resumed_config``): config.json may change
only the resume-mutable fields (``core.config.RESUME_MUTABLE``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from theta_cli.artifact import checkpoint
from theta_cli.core import jsonfile, logs
from theta_cli.core.config import (
    ARCH_FIELDS,
    RESUME_MUTABLE,
    RunConfig,
    RunState,
    TrainConfig,
    format_validation_error,
    load_run_config,
    validate_train,
)
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import DatasetLayout, RunLayout, models_dir
from theta_cli.core.textfile import read_text
from theta_cli.engine.distributed import Dist, device_for
from theta_cli.engine.loader import EpochLoader, peek

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
    "ema_decay": "the checkpoint's weight average was built with it",
    "t_weight": "the loss so far was weighted with it; another weighting is another objective",
}


# ------------------------------------------------------------------------------------------------
# requests and plans
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    config: TrainConfig
    source: str  # where the base config came from, for the log
    models_dir: Path | None = None  # the run root (None: layout.models_dir()'s default)


@dataclass(frozen=True)
class ResumeRequest:
    ckpt: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    next_epoch: bool = False
    allow_world_size_change: bool = False


@dataclass(frozen=True)
class Plan:
    """Everything config_solver resolved; nothing on disk has been written yet."""

    mode: Literal["new", "resume"]
    config: TrainConfig  # frozen for the whole run
    state: RunState  # where training starts from (a new run's, or the checkpoint's)
    run: RunLayout | None  # None for a new run until rundir.claim_run_dir (then ``with_run``)
    loader: EpochLoader
    device: torch.device
    delta_source: str
    start_epoch: int
    start_step: int
    resume_ckpt: Path | None = None
    payload: dict[str, Any] | None = None
    nothing_left: str | None = None  # set when a resume has no step left to train
    dist: Dist = field(default_factory=Dist)  # this process's rank under torchrun
    world_changed: bool = False  # resuming with another world size (exactness is lost)
    models_root: Path | None = None  # where a new run's directory is to be claimed

    def with_run(self, run: RunLayout) -> Plan:
        """This plan, its run directory claimed."""
        return replace(self, run=run)


def resolve_device(cpu: bool, dist: Dist) -> torch.device:
    device = device_for(dist, cpu)
    if device.type == "cpu" and not cpu:
        log.warning("CUDA is not available; training on CPU (set cpu=true to silence this)")
    return device


def read_huber_delta(path: str | Path, fallback: float) -> tuple[float, str]:
    """The Huber delta from ``huber_delta_path``, or ``fallback`` with a warning when absent."""
    p = Path(path)
    if not p.is_file():
        log.warning(f"{p}: huber delta file not found; using delta_fallback={fallback}")
        return fallback, f"delta_fallback (no {p})"
    try:
        data = jsonfile.loads(read_text(p), p)
    except OSError as e:
        raise ThetaError(f"{p}: not a readable huber delta file ({e})") from None
    delta = data.get("delta") if isinstance(data, dict) else None
    if isinstance(delta, bool) or not isinstance(delta, (int, float)):
        raise ThetaError(f"{p}: key 'delta' is missing or not a number")
    if not math.isfinite(delta) or delta <= 0:
        raise ThetaError(f"{p}: key 'delta'={delta!r} must be a finite number > 0")
    return float(delta), str(p)


def resolve_fix_interval(cfg: TrainConfig) -> TrainConfig:
    """A new run learns at its dataset's fix interval (prepare.json) unless the config sets one."""
    if cfg.fix_interval_s is not None:
        return cfg
    manifest = DatasetLayout.of_split_dir(cfg.train_dir).manifest_path
    interval = None
    try:
        interval = jsonfile.loads(read_text(manifest), manifest).get("fix_interval_s")
    except (OSError, ValueError, AttributeError, ThetaError):
        pass
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        log.warning(
            f"{manifest}: no fix interval recorded (dataset prepared by an older theta?); "
            "assuming 1 s between fixes (set fix_interval_s to override)"
        )
        interval = 1.0
    # Validated like a configured one: the manifest's value sizes every denoising grid.
    return validate_train({**cfg.model_dump(), "fix_interval_s": float(interval)}, str(manifest))


def _check_quick_val_source(cfg: TrainConfig, run: RunLayout | None) -> None:
    """Fail before anything is written if no quick_val set can be had (see metrics)."""
    if run is not None and (run.quick_val_path).is_file():
        return
    qv = Path(cfg.quick_val_path)
    if qv.is_file():
        peek(qv, cfg.K)
        return
    from theta_cli.data import epochfile

    for p in epochfile.list_files(cfg.val_dir):
        peek(p, cfg.K)


def _check_extras(cfg: TrainConfig) -> None:
    """Optional packages the config needs, refused now rather than after a run is claimed."""
    if cfg.tensorboard:
        from theta_cli.engine import tboard

        tboard.require()


def config_solver(request: NewRequest | ResumeRequest, dist: Dist | None = None) -> Plan:
    """Resolve new vs resume into a Plan. Validates every input; writes nothing."""
    dist = dist or Dist()
    if isinstance(request, NewRequest):
        return _solve_new(request, dist)
    return _solve_resume(request, dist)


def _loader(cfg: TrainConfig, device: torch.device, dist: Dist) -> EpochLoader:
    return EpochLoader(
        cfg.train_dir, cfg.K, cfg.batch_size, cfg.epoch_limit, cfg.seed, device=device,
        rank=dist.rank, world=dist.world, pin=cfg.pin_memory,
    )


def _solve_new(req: NewRequest, dist: Dist) -> Plan:
    from theta_cli.data import epochfile

    # The train directory first: when it is wrong that is the whole story, and the lookups
    # below would warn first about files beside it (its dataset's prepare.json, CUDA).
    epochfile.list_files(req.config.train_dir)
    cfg = resolve_fix_interval(req.config)
    device = resolve_device(cfg.cpu, dist)
    loader = _loader(cfg, device, dist)
    _check_quick_val_source(cfg, None)
    _check_extras(cfg)
    delta, source = read_huber_delta(cfg.huber_delta_path, cfg.delta_fallback)
    base = models_dir(req.models_dir)
    return Plan("new", cfg, RunState(lr=cfg.lr, delta_curr=delta), None, loader, device, source,
                0, 0, dist=dist, models_root=base)


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


def _check_world_size(path: Path, saved: int, dist: Dist, allowed: bool) -> bool:
    """The checkpoint's world size must match, unless the user accepts losing exactness."""
    if saved == dist.world:
        return False
    if not allowed:
        raise ThetaError(
            f"{path}: checkpoint was written by {saved} process(es), this run has "
            f"{dist.world}: the batch order and the per-rank random state would differ, so the "
            "resume would not be exact (pass --allow-world-size-change to resume anyway)"
        )
    log.warning(
        f"resuming a {saved}-process checkpoint with {dist.world} process(es): the run goes on, "
        "but no longer matches an uninterrupted run exactly"
    )
    return True


def _with_changes(rc: RunConfig, changes: dict[str, Any]) -> RunConfig:
    """``rc`` with resume-mutable ``changes`` made (validated: a bad value is refused)."""
    from pydantic import ValidationError

    if not changes:
        return rc
    try:
        return RunConfig.model_validate({**rc.model_dump(), **changes})
    except ValidationError as e:
        raise ThetaError(format_validation_error(e, "resume override")) from None


def _shown(value: Any) -> str:
    """A config value as config.json spells it."""
    return json.dumps(value)


def resumed_config(path: Path, edited: RunConfig, saved: RunConfig) -> RunConfig:
    """The config a resume trains with: the checkpoint's own (``saved``), with the resume-mutable
    fields as the run's config.json (``edited``, overrides made) has them.

    config.json is the user's to read and edit; any other field it changes (the run state
    aside: it is rewritten at every checkpoint and restored from the checkpoint's own) would
    make the "exact" resume silently not so, and is refused, naming the field and both values.
    """
    for key in RunConfig.model_fields:
        if key in RESUME_MUTABLE or key in RunState.model_fields:
            continue
        ours, theirs = getattr(edited, key), getattr(saved, key)
        if ours != theirs:
            raise ThetaError(
                f"{path}: {key} is {_shown(ours)} but the checkpoint was trained with {key} "
                f"{_shown(theirs)}; resume keeps the checkpoint's config (edit it back, or start "
                "a new run)"
            )
    return _with_changes(saved, {key: getattr(edited, key) for key in RESUME_MUTABLE})


def _solve_resume(req: ResumeRequest, dist: Dist) -> Plan:
    run, epoch, step = RunLayout.from_ckpt(req.ckpt)
    edited = load_run_config(run.config_path)
    check_resume_overrides(req.overrides)
    changes = {k: v for k, v in req.overrides.items() if v is not None}
    edited_rc = _with_changes(edited, changes)
    payload = checkpoint.load_checkpoint(req.ckpt)
    _check_ckpt_matches(req.ckpt, payload, edited_rc, epoch, step)
    saved = checkpoint.stored_config(payload, req.ckpt)
    rc = resumed_config(run.config_path, edited_rc, saved)
    world_changed = _check_world_size(
        req.ckpt, checkpoint.stored_world(payload), dist, req.allow_world_size_change
    )
    cfg, state = rc.train_config(), checkpoint.stored_state(payload)
    _check_extras(cfg)
    device = resolve_device(cfg.cpu, dist)
    loader = _loader(cfg, device, dist)
    epoch_done = req.next_epoch or step >= loader.plan(epoch).steps
    start_epoch, start_step = (epoch + 1, 0) if epoch_done else (epoch, step)
    nothing_left = None
    if start_epoch >= cfg.epochs:
        where = "the end of" if epoch_done else f"step {step} of"
        nothing_left = (
            f"nothing left to train: {req.ckpt} is at {where} epoch {epoch} and the run has "
            f"epochs={cfg.epochs} (resume with --epochs N to train further)"
        )
    else:
        _check_quick_val_source(cfg, run)
    return Plan(
        "resume",
        cfg,
        state,
        run,
        loader,
        device,
        f"the checkpoint (delta_curr={state.delta_curr})",
        start_epoch,
        start_step,
        resume_ckpt=Path(req.ckpt),
        payload=payload,
        nothing_left=nothing_left,
        dist=dist,
        world_changed=world_changed,
    )


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
