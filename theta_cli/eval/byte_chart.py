"""The chart of one ``theta eval-bytes`` result: fig/byte-err_<ckpt_stem>.png, the mean error
per byte with the buckle regions shaded (``theta plot`` redraws the heatmap over all of them).

Drawn headless like every chart (``core.figures``); matplotlib is imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from theta_cli.core import csvlog
from theta_cli.core.figures import figure, save_figure
from theta_cli.core.layout import BYTE, RunLayout
from theta_cli.engine.charts import set_title

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HEAD_COLOR, PAYLOAD_COLOR, TAIL_COLOR = "tab:red", "tab:blue", "tab:purple"


def byte_chart_path(run: RunLayout, ckpt_name: str) -> Path:
    return run.fig_dir / f"byte-err_{Path(ckpt_name).stem}.png"


def _shade_buckles(ax: Any, n_bytes: int, q1: int, q2: int) -> None:
    # Bars sit at 1..n_bytes, each one unit wide: a buckle of q bytes spans q units.
    if q1:
        ax.axvspan(0.5, q1 + 0.5, color=HEAD_COLOR, alpha=0.15, lw=0,
                   label=f"head buckle (Q1={q1})")
    if q2:
        ax.axvspan(n_bytes - q2 + 0.5, n_bytes + 0.5, color=TAIL_COLOR, alpha=0.15, lw=0,
                   label=f"tail buckle (Q2={q2})")


def byte_figure(title: str, row: csvlog.ByteRow) -> Figure:
    """Bar chart of one eval-bytes result: mean error per byte, buckle regions shaded.

    Buckle bars also take their region's colour: a bar fills most of its shaded span, so the
    shading alone shows only as a thin strip above short bars.
    """
    from matplotlib.ticker import MaxNLocator

    n = len(row.byte_means)
    fig = figure(width=max(6.0, min(16.0, 0.12 * n + 4)))
    ax = fig.add_subplot()
    _shade_buckles(ax, n, row.q1, row.q2)
    colors = [HEAD_COLOR if i < row.q1 else TAIL_COLOR if i >= n - row.q2 else PAYLOAD_COLOR
              for i in range(n)]
    ax.bar(range(1, n + 1), row.byte_means, width=0.85, color=colors)
    payload = row.byte_means[row.q1 : n - row.q2]
    if payload:  # eval-bytes guarantees one; a hand-edited CSV row might not
        ax.axhline(sum(payload) / len(payload), color="black", lw=1, ls="--",
                   label="payload mean")
    ax.set_xlim(0.5, n + 0.5)
    # Headroom above the tallest bar for the legend.
    ax.set_ylim(0, max(max(row.byte_means), 1e-12) * 1.25)
    ax.set_xlabel(f"byte (group of {BYTE} points, 1 = chunk start)")
    what = "velocity error ‖v̂ − V‖" if row.mode == "velocity" else "denoised position error"
    ax.set_ylabel(f"mean {what} (m)")
    set_title(ax, f"{title}\n{row.ckpt_name}: error per byte ({row.mode})", fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, ncols=3, framealpha=0.9)
    return fig


def write_byte_chart(run: RunLayout, row: csvlog.ByteRow) -> Path:
    """Write fig/byte-err_<ckpt_stem>.png for one eval-bytes result."""
    return save_figure(byte_figure(run.name, row), byte_chart_path(run, row.ckpt_name))
