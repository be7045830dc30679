"""`theta tb export`: TensorBoard event files from runs' CSVs (``theta_cli.runs.tbexport``).

Thin: resolves the runs and calls the exporter; tensorboard and torch load inside it, so
`theta --help` stays fast and works without the ``tb`` extra.
"""

from __future__ import annotations

from pathlib import Path

import typer

from theta_cli.commands.base import ThetaTyper
from theta_cli.core import logs
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import list_runs, resolve_run

app = ThetaTyper(help="Export runs as TensorBoard event files.")


@app.command("export")
def export(
    ctx: typer.Context,
    runs: list[str] | None = typer.Argument(
        None, metavar="RUN", help="Runs (names under --models-dir, or paths) [default: "
        "every run there].", show_default=False,
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write to OUT/<run>/ instead of <run>/tb/export/: nothing is "
        "written in the run, so no run lock is needed (safe while it trains).",
        show_default=False,
    ),
) -> None:
    """Write TensorBoard event files from runs' train_data.csv, byte_wise_err.csv and bench.csv.

    By default into <run>/tb/export/, holding the run's lock: refused while another process
    trains the run (use --out then). Any run works, also one trained before TensorBoard
    logging existed; a new export replaces the previous one. Needs pip install 'theta-cli[tb]'.

    Example: theta tb export hybrid_20261122_101500 && tensorboard --logdir models
    """
    from theta_cli.runs import tbexport

    targets = [resolve_run(r, ctx.obj) for r in runs] if runs else list_runs(ctx.obj)
    if not targets:
        raise ThetaError(f"{ctx.obj}: no runs to export (train one with theta new)")
    log = logs.get_logger()
    for run in targets:
        done = tbexport.export_run(run, out)
        skipped = f"; {done.skipped} row(s) of set-aside checkpoints skipped" * bool(done.skipped)
        log.info(f"{run.name}: {done.scalars} values -> {done.out}{skipped}")
    where = out if out is not None else ctx.obj
    log.info(f"view them with: tensorboard --logdir {where}")


def register(app_: typer.Typer) -> None:
    """Add the `tb` group to the top-level app."""
    app_.add_typer(app, name="tb")
