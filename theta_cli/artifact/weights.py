"""A model's weights against its architecture: the checks every way of loading a model shares.

    build_model(arch)            a fresh model of an Architecture
    load_weights(model, state)   a state dict into it; a mismatch names the first bad tensor
    checked_architecture(...)    a config's Architecture once it is known to fit the weights
    read_header(path)            a safetensors file's tensor shapes, from its header alone
    save_weights(model, dir)     ``<dir>/model.safetensors``, atomically

Every way in (``load``: a checkpoint or an exported directory) validates the architecture with
``core.config.Architecture``, checks it against the weights' shapes and dtypes *before*
building anything (``checked_architecture``: a config that says hidden 1000000 over hidden-16
weights must not allocate a model first), and loads weights with ``load_weights``, so the ways
in cannot disagree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from theta_cli.core import atomic
from theta_cli.core.config import Architecture, format_validation_error
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import WEIGHTS_FILE
from theta_cli.model.zoo import build_theta, dims_from_shapes

Shapes = Mapping[str, tuple[int, ...]]
#: Weight dtypes a model may be loaded from: integer weights would be cast silently into the
#: float parameters and compute something finite but wrong.
FLOAT_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64"}
_TORCH_FLOATS = {torch.float16, torch.bfloat16, torch.float32, torch.float64}


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


def build_model(arch: Architecture, source: Path) -> nn.Module:
    """A freshly initialised model of ``arch``; a bad combination names ``source``."""
    try:
        return build_theta(**arch.model_dump())["model"]
    except (TypeError, ValueError) as e:
        raise ThetaError(f"{source}: {e}") from None


def _first_mismatch(expected: Shapes, got: Mapping[str, tuple[int, ...] | None]) -> str | None:
    """Describe the first tensor (in the model's order) that is missing, extra or misshapen.
    ``got`` maps each saved entry to its shape (None: not a tensor)."""
    for name, shape in expected.items():
        if name not in got:
            return f"tensor {name!r} is missing (expected shape {tuple(shape)})"
        have = got[name]
        if have is None:
            return f"entry {name!r} is not a tensor"
        if tuple(have) != tuple(shape):
            return (
                f"tensor {name!r} has shape {tuple(have)}, "
                f"the config's architecture needs {tuple(shape)}"
            )
    extra = [name for name in got if name not in expected]
    if extra:
        return f"tensor {extra[0]!r} is not part of the config's architecture"
    return None


def state_shapes(state: Any, source: Path) -> dict[str, tuple[int, ...] | None]:
    """Shapes of a loaded state dict's entries; non-float tensors are refused, naming one."""
    if not isinstance(state, dict):
        raise ThetaError(f"{source}: weights are not a state dict")
    shapes: dict[str, tuple[int, ...] | None] = {}
    dtypes = {}
    for name, value in state.items():
        is_tensor = isinstance(value, torch.Tensor)
        shapes[name] = tuple(value.shape) if is_tensor else None
        if is_tensor and value.dtype not in _TORCH_FLOATS:
            dtypes[name] = str(value.dtype).removeprefix("torch.")
    _refuse_dtypes(dtypes, source)
    return shapes


def _refuse_dtypes(bad: Mapping[str, str], source: Path) -> None:
    if bad:
        name = next(iter(bad))
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ThetaError(
            f"{source}: tensor {name!r} has dtype {bad[name]}{more}; a model's weights must be "
            f"floating point ({', '.join(FLOAT_DTYPES.values())})"
        )


def read_header(path: Path) -> Shapes:
    """Tensor shapes of a safetensors file, read from its header alone (no tensor data);
    non-float tensors are refused, naming the first."""
    try:
        with safe_open(str(path), framework="pt") as f:
            slices = {name: f.get_slice(name) for name in f.keys()}
            shapes = {name: tuple(s.get_shape()) for name, s in slices.items()}
            dtypes = {name: s.get_dtype() for name, s in slices.items()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ThetaError(f"{path}: not a readable safetensors file ({e})") from None
    _refuse_dtypes({k: d for k, d in sorted(dtypes.items()) if d not in FLOAT_DTYPES}, path)
    return shapes


def _meta_shapes(arch: Architecture, source: Path) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of ``arch``, from a model built on the meta device: no memory is
    allocated, whatever the sizes (bounded by the config, a meta build takes a second at most)."""
    with torch.device("meta"):
        model = build_model(arch, source)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def _disagreements(values: Mapping[str, Any], said: Mapping[str, tuple[int, str]]) -> list[str]:
    return [
        f"{field}={values[field]!r}, the weights say {n} ({why})"
        for field, (n, why) in said.items()
        if field in values and values[field] != n
    ]


def checked_architecture(
    config: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...] | None],
    config_src: Path,
    weights_src: Path,
    against: str | None = None,
) -> Architecture:
    """The Architecture of ``config`` once it is known to fit the weights' ``shapes``; nothing
    is built for real before this returns. A disagreement is one line naming the config's
    field, its value and what the weights say (then the first mismatching tensor)."""
    tensors = {name: shape for name, shape in shapes.items() if shape is not None}
    said = dims_from_shapes(config.get("model_type"), tensors)
    head = f"{weights_src}: weights do not match {against or config_src}: "
    try:
        arch = architecture_of(dict(config), config_src)
    except ThetaError:
        wrong = _disagreements(config, said)
        if not wrong:
            raise
        # An out-of-range value (K 2147483648): what the weights say is the more useful line.
        raise ThetaError(head + "; ".join(wrong)) from None
    problem = _first_mismatch(_meta_shapes(arch, config_src), shapes)
    problems = _disagreements(arch.model_dump(), said) + ([problem] if problem else [])
    if problems:
        raise ThetaError(head + "; ".join(problems))
    return arch


def load_weights(
    model: nn.Module, state: Any, source: Path, against: str = "the config's architecture"
) -> nn.Module:
    """Load ``state`` into ``model`` strictly; a mismatch is one line naming the first tensor
    (and ``against``, what the architecture came from)."""
    shapes = state_shapes(state, source)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    problem = _first_mismatch(expected, shapes)
    if problem:
        raise ThetaError(f"{source}: weights do not match {against}: {problem}")
    model.load_state_dict(state, strict=True)
    return model


def architecture_of(data: dict[str, Any], source: Path) -> Architecture:
    try:
        return Architecture.model_validate(data)
    except ValidationError as e:
        raise ThetaError(format_validation_error(e, str(source))) from None
