"""Resolving what a command names: a checkpoint of a run, or a model to denoise with (a run, a
run directory, a checkpoint file, an exported directory, or the built-in model)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from theta_cli.artifact.best import DEFAULT_METRIC, best_checkpoint
from theta_cli.core import csvlog
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import WEIGHTS_FILE, resolve_run

#: ``--ckpt best``: the run's best checkpoint (lowest acc_mean) instead of a file name.
BEST = "best"


def resolve_checkpoint(target: str, name: str | None, models_dir: Path | None = None) -> Path:
    """A checkpoint from a path, or from a run (a name under ``models_dir``, or a path) plus a
    file name (default: the newest; ``best``: the run's best by acc_mean, ``artifact.best``)."""
    as_path = Path(target)
    if as_path.is_file():
        if name is not None:
            raise ThetaError(f"--ckpt {name}: give either a checkpoint path or a run with --ckpt")
        return as_path
    if as_path.suffix == ".pt":
        raise ThetaError(f"{target}: checkpoint not found")
    run = resolve_run(target, models_dir)
    found = run.checkpoints()
    if name is None:
        if not found:
            raise ThetaError(f"{run.ckpt_dir}: the run has no checkpoints")
        return found[-1][2]
    if name == BEST:
        best = best_checkpoint(run)
        if best is None:
            raise ThetaError(f"--ckpt best: {run.root} has no checkpoint that train_data.csv "
                             "describes")  # fmt: skip
        return best
    path = run.ckpt_dir / Path(name).name
    if not path.is_file():
        names = ", ".join(p.name for _, _, p in found) or "none"
        raise ThetaError(f"{path}: no such checkpoint (checkpoints: {names})")
    return path


#: The name of the model shipped inside the package (``theta_cli/builtin/default``), used
#: when no model is given.
BUILTIN = "builtin"


def builtin_dir() -> Path:
    """The built-in default model: an exported directory inside the installed package."""
    from importlib import resources

    return Path(str(resources.files("theta_cli.builtin").joinpath("default")))


def is_export(path: Path) -> bool:
    """Whether ``path`` is an exported model directory (its weights file inside)."""
    return path.is_dir() and (path / WEIGHTS_FILE).is_file()


def resolve_model_ref(
    ref: str | os.PathLike[str] | None,
    models_dir: Path | None = None,
) -> tuple[Literal["export", "checkpoint"], Path, str]:
    """``ref`` as (kind, path, description): an exported directory (``model.safetensors``
    inside), a checkpoint file, or a run (a name under ``models_dir``, or a path), whose best
    checkpoint (``best``) is taken.
    None (or ``builtin``) is the built-in default model."""
    if ref is None or (str(ref) == BUILTIN and not Path(BUILTIN).exists()):
        d = builtin_dir()
        if not is_export(d):
            raise ThetaError(f"{d}: the built-in model is missing from this installation")
        return "export", d, "the built-in default model"
    p = Path(ref)
    if is_export(p):
        return "export", p, f"exported model {p}"
    if p.is_file():
        return "checkpoint", p, f"checkpoint {p}"
    if p.suffix == ".pt":
        raise ThetaError(f"{ref}: checkpoint not found")
    run = resolve_run(ref, models_dir)
    rows = csvlog.read_train_rows(run)
    best = best_checkpoint(run, rows)
    if best is not None:
        row = {r.ckpt_name: r for r in rows}[best.name]
        return "checkpoint", best, (
            f"run {run.name}, best checkpoint {best.name} "
            f"({DEFAULT_METRIC} {row.acc_mean:.3f} m)"
        )
    found = run.checkpoints()
    if not found:
        raise ThetaError(f"{run.ckpt_dir}: the run has no checkpoints")
    newest = found[-1][2]
    return "checkpoint", newest, (
        f"run {run.name}, newest checkpoint {newest.name} (train_data.csv describes none)"
    )
