"""Checkpoint save and restore, side by side: the one place that knows a checkpoint's keys.
A checkpoint is a plain dict of tensors and Python scalars, so it loads with
``torch.load(weights_only=True)``: loading never runs code.

Keys (defined once here; the spec's names for the run state):
    model_state_dict, optimizer_state_dict, scheduler_state_dict,
    epoch_idx, step, global_step, huber_delta, lr, best_acc_mean,   <- RunState
    rng_state, cuda_rng_state, config,
    train_row                                                       <- its train_data.csv row
    world_size, rank_rng_states                                     <- torchrun
    ema_state_dict                                                  <- with ema_decay > 0
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from theta_cli.core import atomic, csvlog, safeload
from theta_cli.core.config import RunConfig, RunState, TrainConfig
from theta_cli.core.errors import ThetaError

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.optim.swa_utils import AveragedModel


class Schedule(Protocol):
    """The lr schedule a checkpoint saves and restores (training's ``engine.schedule``); its
    ``load_state_dict`` raises ThetaError on a state it cannot take."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

MODEL = "model_state_dict"
OPTIMIZER = "optimizer_state_dict"
SCHEDULER = "scheduler_state_dict"
EPOCH = "epoch_idx"
STEP = "step"
GLOBAL_STEP = "global_step"
DELTA = "huber_delta"
LR = "lr"
BEST = "best_acc_mean"
RNG = "rng_state"
CUDA_RNG = "cuda_rng_state"
CONFIG = "config"
ROW = "train_row"
WORLD = "world_size"
RANK_RNGS = "rank_rng_states"  # torchrun: every rank's (cpu, cuda) RNG state, in rank order
EMA = "ema_state_dict"

REQUIRED_KEYS = (MODEL, OPTIMIZER, SCHEDULER, EPOCH, STEP, GLOBAL_STEP, DELTA, LR, CONFIG)
#: RunState field -> checkpoint key.
_STATE_KEYS = {
    "epoch": EPOCH,
    "step": STEP,
    "global_step": GLOBAL_STEP,
    "lr": LR,
    "delta_curr": DELTA,
    "best_acc_mean": BEST,
}


def build_payload(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Schedule,
    cfg: TrainConfig,
    state: RunState,
    rng: torch.Tensor,
    cuda_rng: torch.Tensor | None = None,
    row: csvlog.TrainRow | None = None,
    ema: AveragedModel | None = None,
    rank_rngs: list[tuple[torch.Tensor, torch.Tensor | None]] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict of a run in ``state``; ``rng`` is the CPU RNG state to resume with;
    ``row`` its train_data.csv row, kept so a row lost to a crash can be restored; ``rank_rngs``
    every torchrun rank's (cpu, cuda) RNG state, so each rank resumes its own dropout stream."""
    payload: dict[str, Any] = {
        MODEL: model.state_dict(),
        OPTIMIZER: optimizer.state_dict(),
        SCHEDULER: scheduler.state_dict(),
        **{key: getattr(state, name) for name, key in _STATE_KEYS.items()},
        RNG: rng,
        CONFIG: RunConfig.compose(cfg, state).model_dump(),
    }
    if cuda_rng is not None:
        payload[CUDA_RNG] = cuda_rng
    if row is not None:
        payload[ROW] = dataclasses.asdict(row)
    payload[WORLD] = len(rank_rngs) if rank_rngs else 1
    if rank_rngs:
        payload[RANK_RNGS] = rank_rngs
    if ema is not None:
        payload[EMA] = ema.state_dict()
    return payload


def stored_world(payload: dict[str, Any]) -> int:
    """How many processes wrote the checkpoint (1 for checkpoints from before torchrun)."""
    return int(payload.get(WORLD, 1))


def stored_row(payload: dict[str, Any]) -> csvlog.TrainRow | None:
    """The train_data.csv row saved with a checkpoint (None in checkpoints from before rows were
    stored)."""
    raw = payload.get(ROW)
    if not isinstance(raw, dict):
        return None
    try:
        return csvlog.TrainRow(**raw)
    except TypeError:
        return None


def restore_payload(
    payload: dict[str, Any],
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Schedule,
    device: torch.device,
    ema: AveragedModel | None = None,
    rank: int | None = 0,
) -> RunState:
    """Put a checkpoint back into a freshly built model/optimizer/schedule (the inverse of
    ``build_payload``), restore the RNG (torchrun ``rank``'s own; None: rank 0's, when the
    world size changed), and return the run state it was taken in."""
    import torch

    from theta_cli.artifact.weights import load_weights

    load_weights(model, payload[MODEL], path)
    try:
        optimizer.load_state_dict(payload[OPTIMIZER])
    except (ValueError, KeyError, RuntimeError) as e:
        raise ThetaError(f"{path}: optimizer state does not fit the model ({e})") from None
    try:
        scheduler.load_state_dict(payload[SCHEDULER])
    except ThetaError as e:
        raise ThetaError(f"{path}: {e}") from None
    if ema is not None:
        saved = payload.get(EMA)
        if saved is None:  # ema_decay is frozen on resume, so only a foreign file lacks it
            raise ThetaError(f"{path}: the run averages its weights but the checkpoint has no EMA")
        ema.load_state_dict(saved)
    rng, cuda_rng = payload.get(RNG), payload.get(CUDA_RNG)
    per_rank = payload.get(RANK_RNGS)
    if per_rank and rank is not None and rank < len(per_rank):
        rng, cuda_rng = per_rank[rank]
    if rng is not None:
        torch.set_rng_state(rng)
    if cuda_rng is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda_rng, device)
    return stored_state(payload)


def stored_state(payload: dict[str, Any]) -> RunState:
    """The RunState a checkpoint was taken in (``best_acc_mean`` is absent from older ones)."""
    values = {name: payload.get(key) for name, key in _STATE_KEYS.items()}
    values["epoch"], values["step"] = int(values["epoch"]), int(values["step"])
    values["global_step"] = int(values["global_step"])
    values["lr"], values["delta_curr"] = float(values["lr"]), float(values["delta_curr"])
    return RunState(**values)


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temp file, fsync, rename).

    Serialised in memory first: torch.save writing straight to a full disk fails with an opaque
    "unexpected pos" error, while a plain write fails with ENOSPC, which ``atomic`` reports as
    ``DiskFull`` naming the file (and removes the temporary file).
    """
    import io

    import torch

    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic.write_bytes(path, buf.getbuffer())


def load_checkpoint(path: Path, map_location: str = "cpu", mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint safely; one that needs pickled code, or is not theta's, is refused."""
    path = Path(path)
    payload = safeload.torch_load(path, "checkpoint", map_location, mmap=mmap)
    if not isinstance(payload, dict):
        raise ThetaError(f"{path}: not a theta checkpoint (top level is not a dict)")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ThetaError(f"{path}: not a theta checkpoint (missing {', '.join(missing)})")
    return payload


def stored_elements(path: Path) -> int | None:
    """Elements of the model tensors stored in the checkpoint at ``path``, read memory-mapped
    (the pickle's names and shapes; the tensor data is mapped, not read). None when the file is
    unreadable or holds no model state dict."""
    try:
        state = safeload.torch_load(Path(path), "checkpoint", mmap=True)[MODEL]
        return int(sum(t.numel() for t in state.values()))
    except (ThetaError, KeyError, AttributeError, TypeError):
        return None


def stored_config(payload: dict[str, Any], source: Path) -> RunConfig:
    """The run config stored in a checkpoint: the architecture its weights were trained with."""
    from pydantic import ValidationError

    from theta_cli.core.config import format_validation_error

    raw = payload.get(CONFIG)
    if not isinstance(raw, dict):
        raise ThetaError(f"{source}: key 'config' is not a config dict")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        raise ThetaError(format_validation_error(e, f"{source} (config)")) from None
