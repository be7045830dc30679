"""Loading and saving trained models: the one loader for checkpoints and exported directories.

    build_model(arch)            a fresh model of an Architecture
    load_weights(model, state)   a state dict into it; a mismatch names the first bad tensor
    model_const(dir)             an exported directory: <dir>/log/config.json + model.safetensors
    model_from_checkpoint(path)  a training checkpoint (read with weights_only=True)
    load_model(ref)              what denoise and bench take: a run (its best checkpoint), a
                                 checkpoint file, or an exported directory

Every path validates the architecture with ``core.config.Architecture``, checks it against the
weights' shapes and dtypes *before* building anything (``checked_architecture``: a config that
says hidden 1000000 over hidden-16 weights must not allocate a model first), and loads weights
with ``load_weights``, so the three ways in cannot disagree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from theta_cli.core import atomic
from theta_cli.core.config import (
    Architecture,
    RunConfig,
    TrainConfig,
    format_validation_error,
    read_json_object,
)
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import WEIGHTS_FILE, RunLayout
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


def _state_shapes(state: Any, source: Path) -> dict[str, tuple[int, ...] | None]:
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
    shapes = _state_shapes(state, source)
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


def model_const(model_dir: str | os.PathLike[str]) -> nn.Module:
    """Rebuild a trained model from ``model_dir``: architecture from ``log/config.json``, weights
    from ``model.safetensors``. Returned on CPU in eval mode; moving it is the caller's job.

    Raises ThetaError naming the file when either is missing or unreadable, or when the weights
    do not fit the architecture (naming the first mismatching tensor).
    """
    root = Path(model_dir)
    config_path = RunLayout(root).config_path
    config = read_json_object(config_path, "model config")
    path = weights_path(root)
    if not path.is_file():
        architecture_of(config, config_path)  # a bad config is the first thing to say
        raise ThetaError(f"{path}: weights file not found (write it with save_weights / export)")
    arch = checked_architecture(config, read_header(path), config_path, path)
    model = build_model(arch, config_path)
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ThetaError(f"{path}: not a readable safetensors file ({e})") from None
    return load_weights(model, state, path, str(config_path)).eval()


def model_from_payload(payload: dict[str, Any], cfg: TrainConfig, source: Path) -> nn.Module:
    """The model of a loaded checkpoint dict (eval mode, CPU), built for ``cfg``'s architecture."""
    from theta_cli.engine import checkpoint, ema

    # A run that averages its weights (ema_decay > 0) is evaluated and used with the average.
    averaged = payload.get(checkpoint.EMA)
    state = ema.weights(averaged) if isinstance(averaged, dict) else payload[checkpoint.MODEL]
    arch = checked_architecture(cfg.architecture().model_dump(), _state_shapes(state, source),
                                source, source, "the config's architecture")  # fmt: skip
    model = build_model(arch, source)
    return load_weights(model, state, source).eval()


def model_from_checkpoint(path: Path) -> tuple[nn.Module, RunConfig]:
    """The model of a training checkpoint (eval mode, CPU) and the config it was trained with."""
    from theta_cli.engine import checkpoint

    payload = checkpoint.load_checkpoint(path)
    cfg = checkpoint.stored_config(payload, path)
    return model_from_payload(payload, cfg, path), cfg


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference, with the chunking it was trained for."""

    model: nn.Module  # eval mode, CPU
    config: TrainConfig  # K, Q1, Q2, fix_interval_s, ...
    source: Path  # the checkpoint file or the exported directory
    description: str  # for logs: "run X, best checkpoint Y (acc_mean ...)"

    @property
    def fix_interval_s(self) -> float:
        """Seconds between the fixes the model learned; 1 s (synth's rate) for older runs."""
        return self.config.fix_interval_s or 1.0


def _exported_config(model_dir: Path) -> TrainConfig:
    """An export's config.json as a TrainConfig (an export is a RunConfig dump; a hand-written
    architecture-only file gets the defaults for everything else)."""
    path = RunLayout(model_dir).config_path
    data = read_json_object(path, "model config")
    keep = {k: v for k, v in data.items() if k in TrainConfig.model_fields}
    try:
        return TrainConfig.model_validate(keep)
    except ValidationError as e:
        raise ThetaError(format_validation_error(e, str(path))) from None


def load_model(ref: str | os.PathLike[str] | None = None) -> LoadedModel:
    """Resolve ``ref`` (run name or path, checkpoint file, exported directory; None: the
    built-in default model) and load it."""
    from theta_cli.runs import find

    kind, path, why = find.resolve_model_ref(ref)
    if kind == "export":
        shown = why if ref is None or str(ref) == find.BUILTIN else f"export {path}"
        return LoadedModel(model_const(path), _exported_config(path), path, shown)
    model, cfg = model_from_checkpoint(path)
    return LoadedModel(model, cfg.train_config(), path, why)
