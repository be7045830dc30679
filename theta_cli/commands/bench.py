"""`theta bench` and `theta compare`: is the model better than the classic smoothers, by how
much, and which run is best. Thin: parse, validate, call the engine, print.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from theta_cli import flow
from theta_cli.commands import base
from theta_cli.core import logs
from theta_cli.core.layout import ckpt_label, resolve_run

_COMPARE_OUT = Path("theta-compare.png")


def bench(
    ctx: typer.Context,
    models: list[str] | None = typer.Argument(
        None, metavar="[MODEL]...", help="Runs (their best checkpoint), checkpoint .pt files or "
        "exported model directories; the built-in model is added unless --no-builtin.",
        show_default=False,
    ),
    steps: str = typer.Option(
        str(flow.DEFAULT_STEPS), "--steps", help="Euler steps, one count or a comma list "
        "(e.g. 1,2,4,10); each model is scored at each.",
    ),
    pairs: Path | None = typer.Option(
        None, "--pairs", help="Score on these raw pairs (file or directory) [default: the "
        "first model's dataset, test split].", show_default=False,
    ),
    tune_pairs: Path | None = typer.Option(
        None, "--tune-pairs", help="Tune the baselines on these raw pairs [default: the "
        "model's dataset, val split].", show_default=False,
    ),
    device: str | None = typer.Option(
        None, "--device", help="auto, cpu or cuda [default: auto: cuda if available].",
        show_default=False,
    ),
    batch_size: int = typer.Option(256, "--batch-size", help="Chunks per forward pass."),
    fig_dir: Path | None = typer.Option(
        None, "--fig-dir", help="Directory for the charts [default: the first run's fig/; "
        "required when no model is a run].", show_default=False,
    ),
    symmetries: int = typer.Option(
        1, "--symmetries", help="8: theta averages over the 8 rotations/reflections of each "
        "chunk (as `theta denoise --symmetries 8`); 1: off.",
    ),
    outlier_prepass: bool = base.OUTLIER_PREPASS,
    stitch: str = base.STITCH,
    builtin: bool = typer.Option(
        True, "--builtin/--no-builtin", help="Also bench the built-in default model.",
    ),
    tune_per_class: bool = typer.Option(
        False, "--tune-per-class", help="Tune every baseline per travel class (walk, cycle, "
        "drive: from synth agent names) on that class's tuning tracks, and apply it per class.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only, for scripts."),
) -> None:
    """Score models against tuned classic smoothers on whole tracks with a clean truth.

    Methods: raw, the classic smoothers (RTS, robust RTS, adaptive RTS, Savitzky-Golay: those of
    tuning.METHODS, tuned on the val split, pooled or --tune-per-class), and each model at each
    --steps, run exactly as `theta denoise` runs it. Prints one table (mean, median, p95, RMSE,
    max, GSDC, points/s), the gain over the best baseline with a 90% interval (resampling whole
    agents; "level" when it includes 0), a per-class and a per-situation table (near an
    outlier, stops, turns, cruise); appends to each run's log/bench.csv and writes four charts.

    Example: theta bench hybrid_20261122_014458 --steps 1,10
    """
    from theta_cli.core import targets
    from theta_cli.eval import bench as engine

    if fig_dir is not None:  # a user-chosen place: refuse a device or FIFO there before scoring
        for name in engine.CHART_NAMES:
            targets.check_target(fig_dir / name, force=True)  # the charts are theta's own
    request = engine.BenchRequest(
        models=models or [], steps=engine.parse_steps(steps), pairs=pairs, tune_pairs=tune_pairs,
        device=device, batch_size=batch_size, fig_dir=fig_dir, symmetries=symmetries,
        stitch=stitch, prepass=outlier_prepass, builtin=builtin, models_dir=ctx.obj,
        tune_per_class=tune_per_class,
    )
    with logs.stdout_to_stderr(as_json):
        result = engine.run(request)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    for part in engine.render(result):
        logs.console.print(part, soft_wrap=False)
    log = logs.get_logger()
    for path in result.bench_csv:
        log.info(f"appended to {path}")
    for path in result.charts:
        log.info(f"wrote {path}")


def compare(
    ctx: typer.Context,
    runs: list[str] = typer.Argument(
        ..., metavar="RUN...", help="Runs to compare (names or paths)."
    ),
    out: Path = typer.Option(_COMPARE_OUT, "--out", help="Where to write the chart (PNG)."),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing --out file (never one in a run's log/ or "
        "ckpt/).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only, for scripts."),
) -> None:
    """Several runs side by side: one table (best cell of each column marked) and one chart.

    Example: theta compare hybrid_20261122_014458 cnn1d_20261123_090000
    """
    from theta_cli.runs import compare as engine

    engine.check_out(out, force)
    data = engine.compare([resolve_run(r, ctx.obj) for r in runs])
    chart = engine.write_chart(data, out, force)
    data["chart"] = str(chart)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    logs.console.print(_compare_table(data), soft_wrap=False)
    logs.get_logger().info(f"wrote {chart}")


#: (label, key, format) of each row of the comparison table; runs are its columns.
_COMPARE_ROWS = (
    ("model", "model_type", "s"),
    ("parameters", "num_params", ","),
    ("steps trained", "steps_trained", ","),
    ("best ckpt", "best_ckpt", "ckpt"),
    ("its acc_mean (m)", "best_acc_mean", ".3f"),
    ("bench ckpt", "bench_ckpt", "ckpt"),
    ("bench steps", "bench_steps", "d"),
    ("bench median (m)", "bench_median", ".2f"),
    ("bench p95 (m)", "bench_p95", ".2f"),
    ("bench GSDC (m)", "bench_gsdc", ".2f"),
    ("median gain (%)", "median_gain_pct", "+.1f"),
    ("p95 gain (%)", "p95_gain_pct", "+.1f"),
)


def _cell(value: object, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt == "ckpt":  # ckpt_epoch3_step200.pt -> e3:s200: columns stay narrow
        return ckpt_label(str(value))
    return format(value, fmt)


def _compare_table(data: dict) -> object:
    """One column per run (names are long; runs are few), the best of each marked row bold."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title="runs side by side (best in bold green; errors in m, lower is better; gains over "
        "the best baseline in %, higher is better; ckpt e<epoch>:s<step>)",
        title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
    )
    table.add_column("", no_wrap=True)
    for d in data["runs"]:
        table.add_column(d["name"], justify="right", overflow="fold")
    for label, key, fmt in _COMPARE_ROWS:
        cells = []
        for d in data["runs"]:
            v = d[key]
            best = data["best"].get(key) == d["name"] and v is not None
            cells.append(Text(_cell(v, fmt), style="bold green" if best else ""))
        table.add_row(label, *cells)
    return table


def register(app: typer.Typer) -> None:
    """Add this group's commands to the top-level app."""
    app.command("bench")(bench)
    app.command("compare")(compare)
