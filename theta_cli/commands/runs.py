"""Run tools: `theta eval-bytes`, `theta plot`, `theta prune`, `theta info`, `theta export`.

Thin: each command parses its options, resolves the run or checkpoint, calls one engine module
and prints. torch and matplotlib are imported inside the engines, never here.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import typer

from theta_cli import flow
from theta_cli.artifact import resolve
from theta_cli.artifact.best import DEFAULT_METRIC, METRICS
from theta_cli.commands import base
from theta_cli.core import logs
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout, resolve_run
from theta_cli.eval.bytewise import DEFAULT_BATCH as EVAL_BATCH
from theta_cli.eval.bytewise import MODES as EVAL_MODES
from theta_cli.runs.prune import DEFAULT_KEEP_BEST as PRUNE_KEEP_BEST
from theta_cli.runs.prune import DEFAULT_KEEP_LAST as PRUNE_KEEP_LAST

_TARGET_HELP = "A checkpoint file, or a run (name under --models-dir, or path) with --ckpt."
_CKPT_HELP = ("Checkpoint file name inside the run, or 'best' (the lowest acc_mean, as `theta "
              "info` marks it) [default: the newest].")


def eval_bytes(
    ctx: typer.Context,
    target: str = typer.Argument(..., help=_TARGET_HELP, show_default=False),
    ckpt: str | None = typer.Option(None, "--ckpt", help=_CKPT_HELP),
    data: Path | None = typer.Option(
        None, "--data", help="Val directory or epoch file [default: the run's quick_val_path]."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate at most N samples."),
    q1: int | None = typer.Option(None, "--q1", help="Head buckle, bytes [default: run's Q1]."),
    q2: int | None = typer.Option(None, "--q2", help="Tail buckle, bytes [default: run's Q2]."),
    mode: str = typer.Option(
        EVAL_MODES[0], "--mode",
        help="velocity: ‖v̂ − V‖ at the sample's t; denoise: Euler from X1.",
    ),
    steps: int = typer.Option(flow.DEFAULT_STEPS, "--steps", help="Euler steps (denoise)."),
    batch_size: int = typer.Option(EVAL_BATCH, "--batch-size", help="Samples per forward pass."),
    cpu: bool = typer.Option(False, "--cpu", help="Stay on the CPU even if CUDA is available."),
) -> None:
    """Error per byte (8 points) of one checkpoint; appends a row to log/byte_wise_err.csv.

    Example: theta eval-bytes models/hybrid_20261122_101500/ckpt/ckpt_epoch1_step200.pt --q1 1
    """
    from theta_cli.eval import bytewise

    path = resolve.resolve_checkpoint(target, ckpt, ctx.obj)
    run, _, _ = RunLayout.from_ckpt(path)
    req = bytewise.EvalRequest(path, data, limit, q1, q2, mode, steps, batch_size, cpu)
    # Checked before runtime.log is attached: a refused evaluation leaves the run untouched.
    job = bytewise.prepare(req)
    logs.attach_run_log(run.runtime_log)
    res = bytewise.evaluate(job, progress_factory=lambda: base.progress_bar(f"{mode} error"))
    _print_eval(res)


def _print_eval(res: object) -> None:
    from rich.table import Table

    from theta_cli.eval.bytewise import EvalResult

    assert isinstance(res, EvalResult)
    row, s = res.row, res.summary
    nb = len(row.byte_means)
    # The heading goes on its own line: as a table title it would wrap at the narrow table's width.
    logs.console.print(
        f"{row.ckpt_name}: {row.mode} error per byte, Q1={row.q1} Q2={row.q2}, "
        f"{res.samples} samples of {res.data.name} ({res.device})",
        soft_wrap=True,
    )
    table = Table()
    table.add_column("region")
    table.add_column("bytes", justify="right")
    table.add_column("mean error (m)", justify="right")
    table.add_column("noisy (m)", justify="right")
    # Bytes are 1-based; (region, first byte, last byte, mean error).
    spans = [("overall", 1, nb, s.overall)]
    if s.head is not None:
        spans.append(("head buckle", 1, row.q1, s.head))
    spans.append(("payload", row.q1 + 1, nb - row.q2, s.payload))
    if s.tail is not None:
        spans.append(("tail buckle", nb - row.q2 + 1, nb, s.tail))
    for i, (byte, mean) in enumerate(s.worst, start=1):
        spans.append((f"worst #{i}", byte, byte, mean))
    lines = []
    for region, lo, hi, value in spans:
        noisy = math.fsum(res.noisy[lo - 1 : hi]) / (hi - lo + 1)
        span = str(lo) if lo == hi and region.startswith("worst") else f"{lo}-{hi}"
        lines.append((region, span, value, noisy))
        table.add_row(region, span, f"{value:.3f}", f"{noisy:.3f}")
    logs.console.print(table, soft_wrap=False)
    logs.console.print(
        "noisy = ‖X1 − X0‖, the raw noisy track's error (also the velocity error of a model "
        "that predicts zero)",
        soft_wrap=True,
    )
    log = logs.get_logger()
    # The table is for the screen; runtime.log gets the same numbers as plain lines.
    for region, span, value, noisy in lines:
        log.info(
            f"{row.ckpt_name} {row.mode}: {region} (bytes {span}) {value:.4f} m "
            f"(noisy {noisy:.4f} m)",
            extra={"console": False},
        )
    log.info(f"appended a row to {res.run.byte_csv}")
    if res.chart is not None:
        log.info(f"wrote {res.chart}")


def plot(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run name or path."),
) -> None:
    """Redraw a run's charts (loss, acc, byte-wise heatmap) from its CSV logs, headless.

    Example: theta plot hybrid_20261122_101500
    """
    from theta_cli.runs import plots

    run = resolve_run(run_ref, ctx.obj)
    written = plots.write_all(run)
    log = logs.get_logger()
    if not written:
        log.warning(f"{run.train_csv}: no rows to plot yet")
        return
    for path in written:
        log.info(f"wrote {path}")


def _interactive() -> bool:
    return sys.stdin.isatty()


def prune(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run name or path."),
    keep_best: int = typer.Option(
        PRUNE_KEEP_BEST, "--keep-best", help="Keep the K best by --metric."
    ),
    keep_last: int = typer.Option(PRUNE_KEEP_LAST, "--keep-last", help="Keep the N newest."),
    metric: str = typer.Option(
        DEFAULT_METRIC, "--metric",
        help=f"train_data.csv column, lower is better: {', '.join(METRICS)}.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; delete nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Delete without asking."),
) -> None:
    """Delete checkpoints you do not need; the best, the newest and unknown ones always stay.

    Example: theta prune hybrid_20261122_101500 --keep-best 3 --keep-last 2 --dry-run
    """
    from theta_cli.runs import prune as engine

    run = resolve_run(run_ref, ctx.obj)
    plan = engine.plan_prune(run, keep_best, keep_last, metric)
    _print_plan(plan)
    log = logs.get_logger()
    doomed = plan.to_delete
    if not doomed:
        log.info("nothing to delete")
        return
    summary = f"{len(doomed)} checkpoint(s), {engine.human_size(plan.bytes_freed)}"
    if dry_run:
        log.info(f"dry run: would delete {summary}; nothing deleted")
        return
    if not yes:
        if not _interactive():
            raise ThetaError(
                f"refusing to delete {summary} without confirmation in a non-interactive "
                "session; pass --yes (or --dry-run to preview)"
            )
        if not typer.confirm(f"Delete {summary}?", default=False):
            log.info("nothing deleted")
            raise typer.Exit(1)
    removed = engine.execute_confirmed(plan)
    for item in removed:
        log.info(f"deleted {item.path}", extra={"console": False})
    freed = sum(i.size for i in removed)
    log.info(f"deleted {len(removed)} checkpoint(s), freed {engine.human_size(freed)}")


def _print_plan(plan: object) -> None:
    from rich.table import Table
    from rich.text import Text

    from theta_cli.runs.prune import PrunePlan, human_size

    assert isinstance(plan, PrunePlan)
    table = Table(title=f"{plan.run.name}: checkpoints (keep-best {plan.keep_best} by "
                  f"{plan.metric}, keep-last {plan.keep_last})", title_justify="left")
    table.add_column("checkpoint")
    table.add_column(plan.metric, justify="right")
    table.add_column("size", justify="right")
    table.add_column("decision")
    for item in plan.items:
        metric = "-" if item.metric is None else f"{item.metric:.4f}"
        style = "green" if item.keep else "red"
        table.add_row(item.path.name, metric, human_size(item.size),
                      Text(item.decision, style=style))
    logs.console.print(table, soft_wrap=False)
    logs.console.print(
        f"to delete: {len(plan.to_delete)} of {len(plan.items)}, frees {plan.bytes_freed} bytes "
        f"({human_size(plan.bytes_freed)})"
    )


def info(
    ctx: typer.Context,
    target: str | None = typer.Argument(
        None, metavar="[RUN|CKPT]", help="A run (name or path) or a checkpoint file.",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only, for scripts."),
) -> None:
    """Summarise all runs, one run, or one checkpoint (fast: reads CSVs, not checkpoints).

    Example: theta info hybrid_20261122_101500 --json
    """
    from theta_cli.runs import info as engine

    renderables: list[object]
    if target is None:
        data = engine.list_summaries(ctx.obj)
        renderables = [engine.render_runs(data)]
    elif Path(target).is_file():
        data = engine.ckpt_details(Path(target))
        renderables = [engine.render_ckpt(data)]
    else:
        data = engine.run_details(resolve_run(target, ctx.obj))
        renderables = engine.render_run(data)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    hint = engine.empty_hint(data) if target is None else None
    if hint:  # no empty table: say where runs were looked for and how to point elsewhere
        logs.console.print(hint, soft_wrap=True)
        return
    for r in renderables:
        logs.console.print(r, soft_wrap=False)  # panels wrap, never crop


def export(
    ctx: typer.Context,
    target: str = typer.Argument(..., help=_TARGET_HELP, show_default=False),
    out: Path = typer.Option(..., "--out", help="Directory to write.", show_default=False),
    ckpt: str | None = typer.Option(None, "--ckpt", help=_CKPT_HELP),
    force: bool = typer.Option(False, "--force", help="Replace an existing export in --out."),
    best_steps: int | None = typer.Option(
        None, "--best-steps", help="Record the Euler steps `theta denoise` should run this model "
        "at (choose with `theta bench --steps 1,10`) [default: the checkpoint's own, if any].",
        show_default=False,
    ),
) -> None:
    """Write a checkpoint's config and safetensors weights as a model_const-ready directory.

    Example: theta export models/hybrid_20261122_101500/ckpt/ckpt_epoch1_step200.pt --out exported
    """
    from theta_cli.artifact import export as engine

    path = resolve.resolve_checkpoint(target, ckpt, ctx.obj)
    done = engine.export(path, out, overwrite=force, best_steps=best_steps)
    log = logs.get_logger()
    log.info(f"exported {path.name} ({done.num_params:,} parameters)")
    log.info(f"wrote {done.weights}")
    log.info(f"wrote {done.config}")
    log.info(f"load it with theta_cli.artifact.load.model_const({str(done.out)!r})")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the top-level app."""
    app.command("eval-bytes")(eval_bytes)
    app.command("plot")(plot)
    app.command("prune")(prune)
    app.command("info")(info)
    app.command("export")(export)
