"""The models ``theta bench`` scores: run names or paths (their best checkpoint), checkpoint
files or exported directories, and the built-in model; each loaded, labelled for the table and
tied to its run (for bench.csv) and its dataset (for the scored and tuning tracks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout, ckpt_label
from theta_cli.eval.bench_data import Dataset, find_dataset


@dataclass
class Model:
    """One model given to bench, loaded."""

    ref: str
    label: str  # the model in a few words: run name, run:epoch:step, checkpoint or export name
    description: str
    loaded: Any  # artifact.load.LoadedModel
    run: RunLayout | None  # the run it belongs to, when it is a run's checkpoint
    ckpt_name: str
    dataset: Dataset | None
    alias: str = ""  # "A", "B", ... when several models are benched (rows say "theta A")


def _run_of(path: Path) -> RunLayout | None:
    try:
        run, _, _ = RunLayout.from_ckpt(path)
    except (ThetaError, ValueError):
        return None
    return run if run.log_dir.is_dir() else None


def with_builtin(refs: Sequence[str], builtin: bool) -> list[str]:
    """The models to bench: those given, then the built-in default model (alone when none is
    given), so every bench shows how a user's model compares with the shipped one."""
    from theta_cli.artifact.resolve import BUILTIN, builtin_dir, is_export

    refs = list(refs)
    if builtin and BUILTIN not in refs and is_export(builtin_dir()):
        refs.append(BUILTIN)
    return refs


def load_models(refs: Sequence[str], models_dir: Path | None = None) -> list[Model]:
    """Resolve every reference first (an unknown one is refused before anything loads), then
    load each; two references to one file are refused."""
    from theta_cli.artifact.load import load_model
    from theta_cli.artifact.resolve import resolve_model_ref

    if not refs:
        raise ThetaError("bench: give at least one model (a run, a checkpoint or an export)")
    resolved = [resolve_model_ref(r, models_dir=models_dir) for r in refs]
    paths = [p.resolve() for _, p, _ in resolved]
    if len(set(paths)) != len(paths):
        raise ThetaError("bench: a model is named twice (two references to one checkpoint)")
    models = []
    for ref, (kind, path, _why) in zip(refs, resolved, strict=True):
        loaded = load_model(ref, models_dir)
        run = _run_of(path) if kind == "checkpoint" else None
        if run is not None:
            # A run named as such is labelled by its name; a checkpoint file by run:epoch:step.
            given_file = Path(ref).is_file()
            label = f"{run.name}:{ckpt_label(path.name)}" if given_file else run.name
            bases = [run.root.parent.parent]
        else:
            label = path.stem if kind == "checkpoint" else path.name
            bases = [path.parent]
        dataset = find_dataset(loaded.config.train_dir, bases)
        models.append(Model(str(ref), label, loaded.description, loaded, run,
                            path.name, dataset))  # fmt: skip
    if len({m.label for m in models}) != len(models):
        for i, m in enumerate(models):
            m.label = f"{i + 1}:{m.label}"
    if len(models) > 1:
        for i, m in enumerate(models):
            m.alias = _alias(i)
    return models


def _alias(i: int) -> str:
    """A, B, ..., Z, AA, AB, ...: a short name per model for the table's rows."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("A") + r) + out
    return out
