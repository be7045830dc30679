"""The training curves the recipe redraws at every checkpoint (``theta plot`` draws them too).

    fig/loss-ckpt.png    avg_loss vs checkpoint              (train_data.csv)
    fig/acc-ckpt.png     acc_mean/median/std vs checkpoint   (train_data.csv)

Each is a bare ``Figure`` on its own Agg canvas (``core.figures``: no pyplot state machine,
nothing to leak, no GUI backend, no global lock), closed by going out of scope. matplotlib is
imported inside the functions, so importing this module (or the CLI) stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from theta_cli.core import csvlog
from theta_cli.core.figures import figure, save_figure
from theta_cli.core.layout import RunLayout, ckpt_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The loss chart switches to a log y axis when the largest loss is this many times the smallest.
LOG_SCALE_RATIO = 20.0
#: Checkpoint tick labels are written out when there are at most this many.
MAX_NAMED_TICKS = 12


def set_title(ax: Any, text: str, **kw: Any) -> None:
    """An axes title at a fixed height.

    Our axes have no ticks on top, so matplotlib's automatic title placement (which measures
    every tick label at draw time to dodge them) cannot move the title; skipping it saves a
    tenth of a chart's draw time.
    """
    ax.set_title(text, y=1.0, **kw)


def _checkpoint_axis(ax: Any, names: Sequence[str]) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    labels = [ckpt_label(n) for n in names]

    def fmt(x: float, _pos: int) -> str:
        i = int(round(x))
        return labels[i] if 0 <= i < len(labels) and abs(x - i) < 1e-6 else ""

    if len(labels) <= MAX_NAMED_TICKS:
        ax.set_xticks(range(len(labels)))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=MAX_NAMED_TICKS, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(fmt))
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.set_xlabel("checkpoint (epoch:step within epoch, oldest first)")
    ax.grid(True, alpha=0.3)


def loss_figure(title: str, rows: Sequence[csvlog.TrainRow]) -> Figure:
    """avg_loss per checkpoint."""
    fig = figure()
    ax = fig.add_subplot()
    marker = "o" if len(rows) <= 50 else None
    losses = [r.avg_loss for r in rows]
    ax.plot(range(len(rows)), losses, marker=marker, markersize=3, color="tab:blue")
    finite = [v for v in losses if math.isfinite(v)]
    # Early losses are often 10-100x the later ones: a linear axis flattens the tail to a line.
    if finite and min(finite) > 0 and max(finite) / min(finite) >= LOG_SCALE_RATIO:
        from matplotlib.ticker import FuncFormatter, LogLocator

        ax.set_yscale("log")
        # Plain labels at 1, 2, 5 per decade: readable over one or two decades, and far fewer
        # tick objects to draw than matplotlib's default eight minor ticks per decade.
        plain = FuncFormatter(lambda v, _pos: f"{v:g}")
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.grid(True, which="minor", axis="y", alpha=0.15)
    # Huber of an error in metres: ½e² below delta, delta·(e − delta/2) above; both in m².
    ax.set_ylabel("avg loss: Huber of ‖v̂ − V‖ (m²)")
    set_title(ax, f"{title}: training loss")
    _checkpoint_axis(ax, [r.ckpt_name for r in rows])
    return fig


def acc_figure(title: str, rows: Sequence[csvlog.TrainRow]) -> Figure:
    """acc_mean, acc_median and acc_std per checkpoint (errors in metres: lower is better)."""
    fig = figure()
    ax = fig.add_subplot()
    marker = "o" if len(rows) <= 50 else None
    x = range(len(rows))
    for attr, color in (("acc_mean", "tab:blue"), ("acc_median", "tab:green"),
                        ("acc_std", "tab:orange")):
        ax.plot(x, [getattr(r, attr) for r in rows], marker=marker, markersize=3,
                color=color, label=attr)
    ax.set_ylabel("velocity error ‖v̂ − V‖ on quick_val (m)")
    set_title(ax, f"{title}: quick-val error (lower is better)")
    # mean and median run close together near the top: a fixed corner would cover them.
    ax.legend(loc="best", fontsize=9)
    _checkpoint_axis(ax, [r.ckpt_name for r in rows])
    return fig


def write_train_charts(run: RunLayout) -> list[Path]:
    """Redraw loss-ckpt.png and acc-ckpt.png from train_data.csv; [] when it has no rows."""
    rows = csvlog.read_train_rows(run)
    if not rows:
        return []
    return [
        save_figure(loss_figure(run.name, rows), run.loss_png),
        save_figure(acc_figure(run.name, rows), run.acc_png),
    ]
