"""Checkpoint save and load, side by side. A checkpoint is a plain dict of tensors and Python
scalars, so it loads with ``torch.load(weights_only=True)``: loading never runs code.

Keys (defined once here):
    model_state_dict, optimizer_state_dict, scheduler_state_dict,
    epoch_idx, step, global_step, huber_delta, lr, rng_state, cuda_rng_state, config
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from theta_cli import atomic, safeload
from theta_cli.errors import ThetaError

MODEL = "model_state_dict"
OPTIMIZER = "optimizer_state_dict"
SCHEDULER = "scheduler_state_dict"
EPOCH = "epoch_idx"
STEP = "step"
GLOBAL_STEP = "global_step"
DELTA = "huber_delta"
LR = "lr"
RNG = "rng_state"
CUDA_RNG = "cuda_rng_state"
CONFIG = "config"

REQUIRED_KEYS = (MODEL, OPTIMIZER, SCHEDULER, EPOCH, STEP, GLOBAL_STEP, DELTA, LR, CONFIG)


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temp file, fsync, rename)."""
    import torch

    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    atomic.write_with(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely; one that needs pickled code, or is not theta's, is refused."""
    path = Path(path)
    payload = safeload.torch_load(path, "checkpoint", map_location)
    if not isinstance(payload, dict):
        raise ThetaError(f"{path}: not a theta checkpoint (top level is not a dict)")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ThetaError(f"{path}: not a theta checkpoint (missing {', '.join(missing)})")
    return payload
