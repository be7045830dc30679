"""`theta bench` and `theta compare`: is the model better than the classic smoothers, by how
much, and which run is best. Thin: parse, validate, call the engine, print.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from theta_cli.core import logs
from theta_cli.core.layout import resolve_run

_COMPARE_OUT = Path("theta-compare.png")


def compare(
    runs: list[str] = typer.Argument(
        ..., metavar="RUN...", help="Runs to compare (names or paths)."
    ),
    out: Path = typer.Option(_COMPARE_OUT, "--out", help="Where to write the chart (PNG)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only, for scripts."),
) -> None:
    """Several runs side by side: one table (best cell of each column marked) and one chart.

    Example: theta compare hybrid_20261122_014458 cnn1d_20261123_090000
    """
    from theta_cli.runs import compare as engine

    data = engine.compare([resolve_run(r) for r in runs])
    chart = engine.write_chart(data, out)
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
    ("best checkpoint", "best_ckpt", "s"),
    ("its acc_mean (m)", "best_acc_mean", ".3f"),
    ("bench checkpoint", "bench_ckpt", "s"),
    ("bench steps", "bench_steps", "d"),
    ("bench median (m)", "bench_median", ".2f"),
    ("bench p95 (m)", "bench_p95", ".2f"),
    ("bench GSDC (m)", "bench_gsdc", ".2f"),
    ("median vs best baseline", "median_gain_pct", "+.1f"),
    ("p95 vs best baseline", "p95_gain_pct", "+.1f"),
)


def _compare_table(data: dict) -> object:
    """One column per run (names are long; runs are few), the best of each marked row bold."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title="runs side by side (best in bold green; errors in m, lower is better; gains in %)",
        title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
    )
    table.add_column("")
    for d in data["runs"]:
        table.add_column(d["name"], justify="right", no_wrap=True)
    for label, key, fmt in _COMPARE_ROWS:
        cells = []
        for d in data["runs"]:
            v = d[key]
            shown = "-" if v is None else format(v, fmt)
            best = data["best"].get(key) == d["name"] and v is not None
            cells.append(Text(shown, style="bold green" if best else ""))
        table.add_row(label, *cells)
    return table


def register(app: typer.Typer) -> None:
    """Add this group's commands to the top-level app."""
    app.command("compare")(compare)
