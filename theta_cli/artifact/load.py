"""Loading trained models: the one loader for checkpoints and exported directories.

    model_const(dir)             an exported directory: <dir>/log/config.json + model.safetensors
    model_from_checkpoint(path)  a training checkpoint (read with weights_only=True)
    load_model(ref)              what denoise and bench take: a run (its best checkpoint), a
                                 checkpoint file, or an exported directory (``resolve``)

Every way in checks the architecture against the weights before building anything and loads
them with ``weights.load_weights`` (see ``weights``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from theta_cli.artifact import checkpoint, ema, resolve
from theta_cli.artifact.weights import (
    architecture_of,
    build_model,
    checked_architecture,
    load_weights,
    read_header,
    state_shapes,
    weights_path,
)
from theta_cli.core.config import RunConfig, TrainConfig, format_validation_error, read_json_object
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout


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
    # A run that averages its weights (ema_decay > 0) is evaluated and used with the average.
    averaged = payload.get(checkpoint.EMA)
    state = ema.weights(averaged) if isinstance(averaged, dict) else payload[checkpoint.MODEL]
    arch = checked_architecture(cfg.architecture().model_dump(), state_shapes(state, source),
                                source, source, "the config's architecture")  # fmt: skip
    model = build_model(arch, source)
    return load_weights(model, state, source).eval()


def model_from_checkpoint(path: Path) -> tuple[nn.Module, RunConfig]:
    """The model of a training checkpoint (eval mode, CPU) and the config it was trained with."""
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


def load_model(
    ref: str | os.PathLike[str] | None = None, models_dir: Path | None = None
) -> LoadedModel:
    """Resolve ``ref`` (run name under ``models_dir`` or a path, checkpoint file, exported
    directory; None: the built-in default model) and load it."""
    kind, path, why = resolve.resolve_model_ref(ref, models_dir=models_dir)
    if kind == "export":
        shown = why if ref is None or str(ref) == resolve.BUILTIN else f"export {path}"
        return LoadedModel(model_const(path), _exported_config(path), path, shown)
    model, cfg = model_from_checkpoint(path)
    return LoadedModel(model, cfg.train_config(), path, why)
