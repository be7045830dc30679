"""Export a checkpoint as a standalone model directory (``theta export``).

    DIR/log/config.json     the checkpoint's own run config (the architecture its weights fit)
    DIR/model.safetensors   the weights only (no optimizer, no pickled code)

This is exactly the layout ``load.model_const(DIR)`` loads. The config comes from the
checkpoint, not from the run's current config.json, so an export is self-consistent even if the
run's config was later rewritten by a resume. Both files are written atomically; an existing
export is only replaced with ``overwrite``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from theta_cli.core import atomic, targets
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import WEIGHTS_FILE, RunLayout


@dataclass(frozen=True)
class Exported:
    out: Path
    config: Path
    weights: Path
    num_params: int


def export(
    ckpt: Path, out: Path, overwrite: bool = False, best_steps: int | None = None
) -> Exported:
    """``best_steps``: recorded in the exported config, the Euler steps ``theta denoise`` runs
    the model at unless told otherwise (None: the checkpoint's own, if it has one)."""
    if best_steps is not None and not 1 <= best_steps <= 1000:
        raise ThetaError(f"--best-steps {best_steps}: must be between 1 and 1000")
    ckpt = Path(ckpt)
    out = Path(out)
    target = RunLayout(out)
    existing = [p for p in (target.config_path, out / WEIGHTS_FILE) if p.exists()]
    if existing and not overwrite:
        raise ThetaError(f"{existing[0]}: already exists; pass --force to replace the export")
    if out.exists() and not out.is_dir():
        raise ThetaError(f"{out}: exists and is not a directory")
    for path in (out / WEIGHTS_FILE, target.config_path):
        targets.check_target(path, force=True)  # no device or FIFO there; the dir is writable
    from theta_cli.artifact.load import model_from_checkpoint
    from theta_cli.artifact.weights import save_weights
    from theta_cli.model.zoo import count_parameters

    # Loading into the real architecture first proves the weights fit before anything is written.
    model, cfg = model_from_checkpoint(ckpt)

    # Weights first, config last: a config.json beside missing weights would look like a
    # finished export; the reverse fails loudly in model_const.
    weights = save_weights(model, out)
    config = cfg.model_dump()
    if best_steps is not None:
        config["best_steps"] = best_steps
    atomic.write_json(target.config_path, config)
    return Exported(out, target.config_path, weights, count_parameters(model))
