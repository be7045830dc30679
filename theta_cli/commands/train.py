"""`theta new` and `theta resume`: parse and validate options, then call the training engine.

torch is imported only inside the commands (through theta_cli.engine), so `theta --help`
stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from theta_cli.core.config import MODEL_TYPES, RESUME_MUTABLE
from theta_cli.core.errors import EXIT_INTERRUPTED

_CONFIG_HELP = "Base config JSON [default: ./src/config.json if present, else built-in defaults]."
_SET_HELP = "Override any config field, e.g. --set seed=1 (repeatable)."
_RESUME_SET_HELP = (
    f"Override a field that cannot break the run: {', '.join(sorted(RESUME_MUTABLE))} "
    "(repeatable)."
)
_THREADS_HELP = "torch CPU threads [default: torch's, one per core]; try 1 on a busy machine."


def _given(flags: dict[str, object]) -> dict[str, object]:
    """Options the user actually passed (an explicit flag beats the same key in --set)."""
    return {k: v for k, v in flags.items() if v is not None}


def _recover_dataset(train_dir: str) -> None:
    """Finish or roll back a `data prepare` that was killed half way through swapping in its
    files, before training reads a mix of the old and the new dataset (one file check when
    there is nothing to do)."""
    from theta_cli.core.layout import DatasetLayout
    from theta_cli.data import staging

    root = DatasetLayout.of_split_dir(train_dir).root
    if (root / staging.JOURNAL).is_file():
        staging.recover(root)


def new(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP),
    model_type: str | None = typer.Option(
        None, "--model-type", help=f"One of {', '.join(MODEL_TYPES)} (mlp = nn)."
    ),
    hidden: int | None = typer.Option(None, "--hidden", help="Hidden width."),
    layers: int | None = typer.Option(None, "--layers", help="Number of layers."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Samples per step."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate."),
    epochs: int | None = typer.Option(None, "--epochs", help="Number of epochs."),
    train_dir: str | None = typer.Option(None, "--train-dir", help="Directory of train *.pt."),
    cpu: bool | None = typer.Option(None, "--cpu/--no-cpu", help="Force CPU (or allow CUDA)."),
    threads: int | None = typer.Option(None, "--threads", help=_THREADS_HELP),
    set_: list[str] | None = typer.Option(None, "--set", metavar="KEY=VALUE", help=_SET_HELP),
) -> None:
    """Start a new training run in <models-dir>/<model_type>_<YYYYmmdd_HHMMSS>/.

    Example: theta new --config examples/cpu-small.json --epochs 4
    """
    from theta_cli.core import config as cfgmod
    from theta_cli.engine.recipe import Interrupted, NewRequest, run_training

    base, source = cfgmod.load_train_config(config)
    flags = {
        "model_type": model_type,
        "hidden": hidden,
        "layers": layers,
        "batch_size": batch_size,
        "lr": lr,
        "epochs": epochs,
        "train_dir": train_dir,
        "cpu": cpu,
        "threads": threads,
    }
    overrides = {**cfgmod.parse_set_options(set_), **_given(flags)}
    cfg = cfgmod.apply_overrides(base, overrides, "command-line override")
    _recover_dataset(cfg.train_dir)
    try:
        run_training(NewRequest(cfg, source, models_dir=ctx.obj))
    except Interrupted:
        raise typer.Exit(EXIT_INTERRUPTED) from None


def resume(
    ckpt: Path = typer.Argument(
        ..., help="Checkpoint: models/<run>/ckpt/ckpt_epoch<E>_step<S>.pt", show_default=False
    ),
    next_epoch: bool = typer.Option(
        False, "--next-epoch", help="Start at epoch E+1 instead of the step after the checkpoint."
    ),
    allow_world_size_change: bool = typer.Option(
        False, "--allow-world-size-change",
        help="torchrun: resume with another number of processes (no longer exact).",
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="New total number of epochs."),
    save_interval: int | None = typer.Option(None, "--save-interval", help="Steps per ckpt."),
    log_interval: int | None = typer.Option(None, "--log-interval", help="Steps per line update."),
    early_stop_patience: int | None = typer.Option(
        None, "--early-stop-patience", help="Checkpoints without improvement before stopping."
    ),
    threads: int | None = typer.Option(
        None, "--threads", help=_THREADS_HELP + " Another count than the run's may change rounding."
    ),
    set_: list[str] | None = typer.Option(
        None, "--set", metavar="KEY=VALUE", help=_RESUME_SET_HELP
    ),
) -> None:
    """Continue a run exactly where a checkpoint was taken (same shuffled order, RNG, schedule).

    Example: theta resume models/<run>/ckpt/ckpt_epoch1_step200.pt --epochs 6
    """
    from theta_cli.core import config as cfgmod
    from theta_cli.engine.recipe import Interrupted, ResumeRequest, run_training

    flags = {
        "epochs": epochs,
        "save_interval": save_interval,
        "log_interval": log_interval,
        "early_stop_patience": early_stop_patience,
        "threads": threads,
    }
    overrides = {**cfgmod.parse_set_options(set_), **_given(flags)}
    try:
        run_training(ResumeRequest(ckpt, overrides, next_epoch, allow_world_size_change))
    except Interrupted:
        raise typer.Exit(EXIT_INTERRUPTED) from None


def register(app: typer.Typer) -> None:
    """Add this group's commands to the top-level app."""
    app.command("new")(new)
    app.command("resume")(resume)
