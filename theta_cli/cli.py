"""The ``theta`` command line. Thin: each command parses, validates and calls one engine function.

Nothing heavy is imported here: torch and matplotlib load inside the commands that need them,
so ``theta --help`` is instant.
"""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from theta_cli import __version__
from theta_cli.commands import bench as bench_commands
from theta_cli.commands import data as data_commands
from theta_cli.commands import demo as demo_commands
from theta_cli.commands import denoise as denoise_commands
from theta_cli.commands import runs as run_commands
from theta_cli.commands import tb as tb_commands
from theta_cli.commands import train as train_commands
from theta_cli.commands.base import ThetaTyper
from theta_cli.core import layout, logs

app = ThetaTyper(
    name="theta",
    add_completion=True,  # theta --install-completion (bash, zsh, fish, PowerShell)
    help="Train and evaluate rectified-flow models that denoise GPS trajectories.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"theta {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    ctx: typer.Context,
    models_dir: Path | None = typer.Option(
        None,
        "--models-dir",
        envvar=layout.MODELS_DIR_ENV,
        help="Root directory of runs [default: ./models].",
        show_envvar=True,
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print debug messages."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Train and evaluate rectified-flow models that denoise GPS trajectories."""
    # The run root, resolved once (--models-dir, else $THETA_MODELS_DIR, else ./models); the
    # commands read it from ctx.obj and pass it to the engine explicitly (no module global).
    ctx.obj = layout.models_dir(models_dir)
    logs.setup(verbose=verbose)


def main(args: list[str] | None = None, prog_name: str | None = None) -> None:
    """The console entry point: the app, then Ctrl-C is ignored while the interpreter exits.

    Once the command is done, torch's teardown can take a moment; a Ctrl-C then would print a
    traceback from inside torch or kill the process by the signal, after all the work is saved.
    A torchrun worker that trained ends by ``distributed.hard_exit`` (see ``HARD_EXIT`` there).
    """
    from theta_cli.engine import distributed  # no torch at import

    distributed.HARD_EXIT = True
    try:
        app(args=args, prog_name=prog_name)
    except SystemExit as done:
        if distributed.group_used():  # a torchrun worker: leave without gloo's teardown
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            distributed.hard_exit(done.code)
        raise
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


app.add_typer(data_commands.app, name="data")
train_commands.register(app)
run_commands.register(app)
denoise_commands.register(app)
bench_commands.register(app)
tb_commands.register(app)
demo_commands.register(app)
