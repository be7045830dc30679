"""`theta denoise`: clean real GPS tracks (GPX, FIT, CSV, parquet) with a trained model.

Thin: checks the options (``infer.request.DenoiseOptions``), refuses bad paths before loading
anything, calls ``theta_cli.infer.engine.denoise_with_model`` and prints its summary. torch,
pandas and the format libraries are imported inside the command, never at module import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from theta_cli import flow
from theta_cli.commands import base
from theta_cli.core import logs

#: Show a progress bar from this many chunks on (smaller inputs finish before it would draw).
PROGRESS_MIN_CHUNKS = 1024


def denoise(
    ctx: typer.Context,
    inputs: list[Path] = typer.Argument(
        ..., metavar="INPUT", help="Track files (.gpx, .fit, .csv, .parquet) or directories.",
        show_default=False,
    ),
    model: str | None = typer.Option(
        None, "--model", help="Run name or path (its best checkpoint), a checkpoint .pt, or an "
        "exported model directory [default: the built-in model, trained on synthetic motion].",
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output file (one input) or directory (several inputs); always needed: "
        "denoise never writes over its input.",
        show_default=False, metavar="PATH",
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="gpx, csv, parquet or geojson [default: the input's; FIT: csv].",
        show_default=False,
    ),
    force: bool = typer.Option(False, "--force", help="Replace existing output files."),
    steps: int | None = typer.Option(
        None, "--steps", help="Euler steps (>= 1) [default: the model's best_steps, from its "
        f"config (1 for the built-in model); {flow.DEFAULT_STEPS} for a model without one].",
        show_default=False,
    ),
    batch_size: int = typer.Option(256, "--batch-size", help="Chunks per forward pass."),
    device: str | None = typer.Option(
        None, "--device", help="auto, cpu or cuda [default: auto: cuda if available].",
        show_default=False,
    ),
    max_gap: float | None = typer.Option(
        None, "--max-gap", help="Split tracks at time gaps longer than this, seconds "
        "[default: max(10, 10 x the model's fix interval)].", show_default=False,
    ),
    q1: int | None = typer.Option(
        None, "--q1", help="Advanced: chunk-edge setting of the model (head); leave unset "
        "[default: the model's own].", show_default=False
    ),
    q2: int | None = typer.Option(
        None, "--q2", help="Advanced: chunk-edge setting of the model (tail); leave unset "
        "[default: the model's own].", show_default=False
    ),
    lat_col: str | None = base.LAT_COL,
    lon_col: str | None = base.LON_COL,
    time_col: str | None = base.TIME_COL,
    track_col: str | None = base.TRACK_COL,
    symmetries: int = typer.Option(
        1, "--symmetries", help="8: average the model over the 8 rotations/reflections of each "
        "chunk (8x the time); 1: off.",
    ),
    outlier_prepass: bool = base.OUTLIER_PREPASS,
    stitch: str = base.STITCH,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON only."),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse a damaged FIT file (truncated, bad CRC, garbage) "
        "[default: keep the records before the damage, with a warning].",
    ),
    stop_on_error: bool = typer.Option(
        False, "--stop-on-error", help="Several inputs: refuse the whole batch on the first bad "
        "file and write nothing [default: report each bad file, write the good ones, exit 1].",
        show_default=False,
    ),
) -> None:
    """Denoise GPS tracks with a trained model; only track-point coordinates change.

    Example: theta denoise rides/*.gpx --model hybrid_20261122_014458 --out cleaned/
    """
    from theta_cli.infer import engine, outputs
    from theta_cli.infer.request import DenoiseOptions, DenoiseRequest
    from theta_cli.tracks.table import ColumnNames

    # Checked before any path is looked at: a bad option is one line, and nothing is read.
    options = DenoiseOptions(steps=steps, batch_size=batch_size, device=device,
                             max_gap_s=max_gap, q1=q1, q2=q2, symmetries=symmetries,
                             stitch=stitch, prepass=outlier_prepass)  # fmt: skip
    columns = ColumnNames(lat_col, lon_col, time_col, track_col)
    with logs.stdout_to_stderr(as_json):
        jobs = outputs.plan_jobs(inputs, out, fmt, force)
        request = DenoiseRequest(tuple(jobs), model, columns, options, models_dir=ctx.obj,
                                 stop_on_error=stop_on_error)  # fmt: skip
        with base.progress_bar("denoising (chunks)", PROGRESS_MIN_CHUNKS) as progress:
            report = engine.denoise_with_model(request, progress, strict)
        # After the work: a refused run shows its one error line, not this notice first.
        base.warn_unused_columns(
            {"--lat-col": lat_col, "--lon-col": lon_col, "--time-col": time_col,
             "--track-col": track_col},
            [(job.input, job.in_format) for job in jobs],
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    if report.failed:
        raise typer.Exit(1)


def _metres(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print_report(report: Any) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("file", overflow="fold", min_width=12)
    for name in ("points", "moved", "passed", "p50 (m)", "p95 (m)", "seconds"):
        table.add_column(name, justify="right")
    table.add_column("status", no_wrap=True)
    for f in report.files:
        if f.error is not None:
            table.add_row(Path(f.input).name, *["-"] * 6, "FAILED")
            continue
        table.add_row(
            Path(f.input).name, str(f.points), str(f.moved), str(f.passed_through),
            _metres(f.moved_median_m), _metres(f.moved_p95_m), f"{f.seconds:.2f}",
            "unchanged" if f.note else "written",
        )
    logs.console.print(table, soft_wrap=False)
    logs.console.print(
        "moved: points denoised; passed: points passed through unchanged; p50, p95: metres "
        "the points moved (median, 95th percentile, over all points)"
    )
    for f in report.files:  # each file's own problem, in full, under the table
        if f.error is not None:
            logs.console.print(f"{Path(f.input).name}: FAILED: {f.error}")
        elif f.note:
            logs.console.print(f"{Path(f.input).name}: {f.note}")
    log = logs.get_logger()
    for f in report.files:
        if f.error is not None:
            continue
        reasons = ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in f.passed_by_reason.items() if v
        )
        if reasons:
            log.info(f"{Path(f.input).name}: passed through: {reasons}")
        log.info(
            f"wrote {f.output} ({f.points} points, {f.moved} moved, median move "
            f"{_metres(f.moved_median_m)} m)"
        )
    if report.failed:
        n, total = len(report.failed), len(report.files)
        log.error(f"{n} of {total} file(s) failed and were not written: "
                  + ", ".join(Path(f.input).name for f in report.failed))  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add ``theta denoise`` to the top-level app."""
    app.command("denoise")(denoise)
