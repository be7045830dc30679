"""Loading and saving trained models: the one loader for checkpoints and exported directories.

An exported model directory (``theta export``) is ``<dir>/log/config.json`` (the architecture)
plus ``<dir>/model.safetensors`` (the weights). ``model_const`` rebuilds it; the spec names it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from theta_cli.core import atomic
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import WEIGHTS_FILE, RunLayout
from theta_cli.model.zoo import build_theta


def weights_path(model_dir: str | os.PathLike[str]) -> Path:
    return Path(model_dir) / WEIGHTS_FILE


def _unwrap(model: nn.Module) -> nn.Module:
    # torch.compile wraps the module; its state-dict keys gain an "_orig_mod." prefix.
    inner = getattr(model, "_orig_mod", model)
    return inner if isinstance(inner, nn.Module) else model


def save_weights(model: nn.Module, model_dir: str | os.PathLike[str]) -> Path:
    """Write the weights to ``<model_dir>/model.safetensors`` atomically; return that path."""
    state = {k: v.detach().cpu().contiguous() for k, v in _unwrap(model).state_dict().items()}
    path = weights_path(model_dir)
    atomic.write_with(path, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))
    return path


def _arch_from_config(path: Path) -> dict[str, Any]:
    """The build_theta arguments from a run's config.json (full RunConfig or arch fields only)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThetaError(f"{path}: model config not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ThetaError(f"{path}: not a readable JSON config ({e})") from None
    if not isinstance(data, dict):
        raise ThetaError(f"{path}: expected a JSON object of config fields")
    missing = [k for k in ("model_type", "hidden", "layers", "K") if k not in data]
    if missing:
        raise ThetaError(f"{path}: missing architecture field(s) {', '.join(missing)}")
    # dropout and coord_dim do not change any tensor shape; default them like the spec does.
    arch = {
        "model_type": data["model_type"],
        "coord_dim": data.get("coord_dim", 2),
        "hidden": data["hidden"],
        "layers": data["layers"],
        "K": data["K"],
        "dropout": data.get("dropout", 0.1),
    }
    if "attn_dropout" in data:
        arch["attn_dropout"] = data["attn_dropout"]
    if "heads" in data:  # only a hand-written architecture file can carry it (see build_theta)
        arch["heads"] = data["heads"]
    return arch


def _first_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """Describe the first tensor (in the model's order) that is missing, extra or misshapen."""
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            return f"tensor {name!r} is missing (expected shape {tuple(tensor.shape)})"
        if state[name].shape != tensor.shape:
            return (
                f"tensor {name!r} has shape {tuple(state[name].shape)}, "
                f"the config's architecture needs {tuple(tensor.shape)}"
            )
    extra = [name for name in state if name not in expected]
    if extra:
        return f"tensor {extra[0]!r} is not part of the config's architecture"
    return None


def model_const(model_dir: str | os.PathLike[str]) -> nn.Module:
    """Rebuild a trained model from ``model_dir``: architecture from ``log/config.json``, weights
    from ``model.safetensors``. Returned on CPU in eval mode; moving it is the caller's job.

    Raises ThetaError naming the file when either is missing or unreadable, or when the weights
    do not fit the architecture (naming the first mismatching tensor).
    """
    root = Path(model_dir)
    config_path = RunLayout(root).config_path
    arch = _arch_from_config(config_path)
    try:
        model = build_theta(**arch)["model"]
    except (TypeError, ValueError) as e:
        raise ThetaError(f"{config_path}: {e}") from None
    path = weights_path(root)
    if not path.is_file():
        raise ThetaError(f"{path}: weights file not found (write it with save_weights / export)")
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ThetaError(f"{path}: not a readable safetensors file ({e})") from None
    problem = _first_mismatch(model, state)
    if problem:
        raise ThetaError(f"{path}: weights do not match {config_path}: {problem}")
    model.load_state_dict(state, strict=True)
    return model.eval()
