"""theta's model zoo (spec section 2.1): build a model by name, count it, save and load weights.

Rectified-flow convention: ``X0`` clean, ``X1`` noisy, ``V = X1 - X0``, ``X_t = X0 + t * V``
with t = 0 clean and t = 1 noisy. Every model maps ``(X_t, t)`` -> ``v_hat ~= V``:
X_t (B, K, 2) in metres, t of shape (B,) or (B, 1) in [0, 1), v_hat (B, K, 2) in metres.

Architecture only: losses, optimisers and data live in the training modules. Weights are
stored as ``<model_dir>/model.safetensors`` (``layout.WEIGHTS_FILE``); the architecture comes
from ``<model_dir>/log/config.json``.
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

from theta_cli import atomic
from theta_cli.archs import (
    SinusoidalNoiseEmbedding,
    ThetaCNN1D,
    ThetaHybrid,
    ThetaMLP,
    ThetaTransformer,
    default_heads,
)
from theta_cli.errors import ThetaError
from theta_cli.layout import BYTE, WEIGHTS_FILE, RunLayout

__all__ = [
    "MODEL_TYPES",
    "SinusoidalNoiseEmbedding",
    "ThetaCNN1D",
    "ThetaHybrid",
    "ThetaMLP",
    "ThetaTransformer",
    "build_theta",
    "count_parameters",
    "default_heads",
    "model_const",
    "save_weights",
    "weights_path",
]

#: model_type -> class. "mlp" is an alias of "nn" (the spec's name).
MODEL_TYPES: dict[str, type[nn.Module]] = {
    "hybrid": ThetaHybrid,
    "transformer": ThetaTransformer,
    "cnn1d": ThetaCNN1D,
    "nn": ThetaMLP,
    "mlp": ThetaMLP,
}
_ATTENTION_TYPES = (ThetaTransformer, ThetaHybrid)


def _check_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def build_theta(
    model_type: str,
    coord_dim: int,
    hidden: int,
    layers: int,
    K: int,
    dropout: float,
    *,
    heads: int | None = None,
    attn_dropout: float = 0.0,
) -> dict[str, Any]:
    """Build a freshly initialised model: ``{"model": nn.Module, "num_params": int}``.

    Initialisation draws from torch's global RNG, so ``torch.manual_seed`` fixes it.
    ``heads`` (attention models only) defaults to ``default_heads(hidden)``; a run's config has
    no field for it, so runs always use the default. ``attn_dropout`` turns on dropout over the
    attention weights (off by default: it is slow on CPU; config field ``attn_dropout``).
    Bad arguments raise ValueError.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(
            f"unknown model_type {model_type!r}; valid choices: {', '.join(MODEL_TYPES)}"
        )
    _check_int("coord_dim", coord_dim)
    _check_int("hidden", hidden)
    _check_int("layers", layers)
    _check_int("K", K)
    if K % BYTE:
        lo = K - K % BYTE
        near = f"{lo} or {lo + BYTE}" if lo else str(BYTE)
        raise ValueError(f"K={K} must be a multiple of {BYTE} (points per byte); try {near}")
    for name, p in (("dropout", dropout), ("attn_dropout", attn_dropout)):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {p!r}")
    cls = MODEL_TYPES[model_type]
    if issubclass(cls, _ATTENTION_TYPES):
        if heads is not None:
            _check_int("heads", heads)
            if hidden % heads:
                valid = [h for h in range(1, hidden + 1) if hidden % h == 0 and hidden // h >= 8]
                raise ValueError(
                    f"hidden={hidden} is not divisible by heads={heads}; valid head counts for "
                    f"hidden={hidden}: {', '.join(map(str, valid or [1]))}"
                )
        model: nn.Module = cls(coord_dim, hidden, layers, K, dropout, heads, attn_dropout)
    else:
        model = cls(coord_dim, hidden, layers, K, dropout)
    return {"model": model, "num_params": count_parameters(model)}


def build_from_config(cfg: Any) -> dict[str, Any]:
    """``build_theta`` with the architecture fields of a TrainConfig / RunConfig."""
    return build_theta(
        cfg.model_type,
        2,
        cfg.hidden,
        cfg.layers,
        cfg.K,
        cfg.dropout,
        attn_dropout=getattr(cfg, "attn_dropout", 0.0),
    )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (``requires_grad``) in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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
