"""theta's model zoo (spec section 2.1): build a model by name, count it (``theta_cli.artifact``
saves and loads its weights).

Rectified-flow convention: ``X0`` clean, ``X1`` noisy, ``V = X1 - X0``, ``X_t = X0 + t * V``
with t = 0 clean and t = 1 noisy. Every model maps ``(X_t, t)`` -> ``v_hat ~= V``:
X_t (B, K, 2) in metres, t of shape (B,) or (B, 1) in [0, 1), v_hat (B, K, 2) in metres.

Architecture only: losses, optimisers and data live in the training modules. Weights are
stored as ``<model_dir>/model.safetensors`` (``layout.WEIGHTS_FILE``); the architecture comes
from ``<model_dir>/log/config.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from theta_cli.core.config import MODEL_TYPES as _NAMES
from theta_cli.core.config import Architecture, TrainConfig
from theta_cli.core.layout import BYTE
from theta_cli.model.archs import (
    ThetaCNN1D,
    ThetaHybrid,
    ThetaMLP,
    ThetaTransformer,
)
from theta_cli.model.archs.layers import FEATURES_PER_COORD
from theta_cli.model.archs.transformer import HYBRID_PATCH

#: model_type -> class, keyed by ``core.config.MODEL_TYPES`` (the one list of names, which the
#: config validates without importing torch). "mlp" is an alias of "nn" (the spec's name).
MODEL_TYPES: dict[str, type[nn.Module]] = {
    "hybrid": ThetaHybrid,
    "transformer": ThetaTransformer,
    "cnn1d": ThetaCNN1D,
    "nn": ThetaMLP,
    "mlp": ThetaMLP,
}
if tuple(MODEL_TYPES) != _NAMES:  # a name added on one side only would fail far from here
    raise ImportError(f"model zoo {tuple(MODEL_TYPES)} differs from config.MODEL_TYPES {_NAMES}")
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


def build_from_config(cfg: Architecture | TrainConfig) -> dict[str, Any]:
    """``build_theta`` for an Architecture (or a config's: ``TrainConfig.architecture()``)."""
    arch = cfg if isinstance(cfg, Architecture) else cfg.architecture()
    return build_theta(**arch.model_dump())


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (``requires_grad``) in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


#: Per model type, the tensor whose shape gives K: (name, axis, points per row along it).
#: A CNN's weights do not depend on K at all.
_K_TENSOR: dict[str, tuple[str, int, int]] = {
    "transformer": ("pos", 1, 1),
    "hybrid": ("pos", 1, HYBRID_PATCH),
    "nn": ("blocks.0.tokens.0.weight", 0, 1),
    "mlp": ("blocks.0.tokens.0.weight", 0, 1),
}


def dims_from_shapes(
    model_type: object, shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, tuple[int, str]]:
    """What a state dict's tensor shapes say about the architecture, without building a model:
    ``{field: (value, evidence)}`` for hidden, coord_dim, layers and (where the weights depend
    on it) K. Fields the shapes cannot tell are left out; the strict load checks every tensor.
    Every architecture shares the stem (hidden x features) and a ``blocks`` list of ``layers``.
    """
    said: dict[str, tuple[int, str]] = {}
    stem = shapes.get("stem.weight")
    if stem is not None and len(stem) == 2:
        why = f"tensor 'stem.weight' has shape {tuple(stem)}"
        said["hidden"] = (stem[0], why)
        if stem[1] % FEATURES_PER_COORD == 0:
            said["coord_dim"] = (stem[1] // FEATURES_PER_COORD, why)
    parts = (name.split(".") for name in shapes)
    blocks = {int(p[1]) for p in parts if len(p) > 2 and p[0] == "blocks" and p[1].isdigit()}
    if blocks:
        last = max(blocks)
        said["layers"] = (last + 1, f"tensors 'blocks.0' to 'blocks.{last}'")
    k_from = _K_TENSOR.get(model_type) if isinstance(model_type, str) else None
    if k_from is not None:
        name, axis, per_row = k_from
        shape = shapes.get(name)
        if shape is not None and len(shape) > axis:
            said["K"] = (shape[axis] * per_row, f"tensor {name!r} has shape {tuple(shape)}")
    return said
