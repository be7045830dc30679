"""Checkpoint save and load, side by side. A checkpoint is a plain dict of tensors and Python
scalars, so it loads with ``torch.load(weights_only=True)``: loading never runs code.

Keys (defined once here):
    model_state_dict, optimizer_state_dict, scheduler_state_dict,
    epoch_idx, step, global_step, huber_delta, lr, rng_state, cuda_rng_state, config
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from theta_cli.core import atomic, safeload
from theta_cli.core.errors import ThetaError

if TYPE_CHECKING:
    from torch import nn

    from theta_cli.core.config import RunConfig

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


def stored_config(payload: dict[str, Any], source: Path) -> RunConfig:
    """The run config stored in a checkpoint: the architecture its weights were trained with."""
    from pydantic import ValidationError

    from theta_cli.core.config import RunConfig, format_validation_error

    raw = payload.get(CONFIG)
    if not isinstance(raw, dict):
        raise ThetaError(f"{source}: key 'config' is not a config dict")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        raise ThetaError(format_validation_error(e, f"{source} (config)")) from None


def build_model(payload: dict[str, Any], cfg: RunConfig, source: Path) -> nn.Module:
    """Rebuild the checkpoint's model (eval mode, CPU)."""
    from theta_cli.model import build_from_config

    model = build_from_config(cfg)["model"]
    try:
        model.load_state_dict(payload[MODEL])
    except (RuntimeError, TypeError, AttributeError) as e:
        # torch's message: a header line, then one line per kind of mismatch; keep the first.
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise ThetaError(
            f"{source}: weights do not match the config's architecture ({detail[:200]})"
        ) from None
    return model.eval()
