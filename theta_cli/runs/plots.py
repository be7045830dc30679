"""A run's charts, drawn headless and written atomically.

    fig/loss-ckpt.png              avg_loss vs checkpoint            (train_data.csv)
    fig/acc-ckpt.png               acc_mean/median/std vs checkpoint (train_data.csv)
    fig/byte-err_<ckpt_stem>.png   error per byte, buckles shaded    (one eval-bytes result)
    fig/byte-err-heatmap.png       checkpoint x byte                 (byte_wise_err.csv)
    fig/<stem>.png                 numeric columns vs row            (any other log/*.csv; a
                                   train_data.superseded_*.csv set aside by a resume gets
                                   the acc chart)

The training loop redraws the first two at every checkpoint, so they use a bare
``Figure`` + Agg canvas (no pyplot state machine: nothing to leak, no GUI backend, no global
lock) and are closed by going out of scope. matplotlib is imported inside the functions, so
importing this module (or the CLI) stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from theta_cli.core import atomic, csvlog
from theta_cli.core.layout import (
    BYTE,
    BYTE_CSV,
    BYTE_HEATMAP_PNG,
    CKPT_RE,
    TRAIN_CSV,
    TRAIN_CSV_HEADER,
    RunLayout,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
#: zlib level of the PNGs. Level 1 instead of Pillow's 6: files ~10% larger, encoding ~1/3
#: faster (a few ms of each chart that training redraws at every checkpoint).
PNG_COMPRESS_LEVEL = 1
#: The loss chart switches to a log y axis when the largest loss is this many times the smallest.
LOG_SCALE_RATIO = 20.0
#: Checkpoint tick labels are written out when there are at most this many.
MAX_NAMED_TICKS = 12


def figure(width: float = 8.0, height: float = 4.5, fixed: bool = True) -> Figure:
    """A figure on its own Agg canvas.

    ``fixed`` margins suit our line and bar charts (labels of known size) and skip the
    constrained-layout pass, which costs an extra draw of every text: about a third of the time
    of a chart redrawn at each checkpoint. The heatmap (colorbars) uses constrained layout.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if fixed:
        # Left margin: a y label plus tick labels up to about six characters wide.
        fig = Figure(figsize=(width, height), dpi=DPI)
        fig.subplots_adjust(left=0.85 / width, right=1 - 0.25 / width,
                            bottom=0.85 / height, top=1 - 0.45 / height)
    else:
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    # The canvas is ours (not pyplot's): dropping the reference frees the figure, so there is
    # nothing to clear or close afterwards.
    atomic.write_with(path, lambda tmp: fig.savefig(
        tmp, format="png", dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL}))
    return path


def _title(ax: Any, text: str, **kw: Any) -> None:
    """An axes title at a fixed height.

    Our axes have no ticks on top, so matplotlib's automatic title placement (which measures
    every tick label at draw time to dodge them) cannot move the title; skipping it saves a
    tenth of a chart's draw time.
    """
    ax.set_title(text, y=1.0, **kw)


def ckpt_label(name: str) -> str:
    """``ckpt_epoch3_step200.pt`` -> ``e3:s200`` (short tick label); other names unchanged."""
    m = CKPT_RE.match(name)
    return f"e{m['epoch']}:s{m['step']}" if m else name


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
    _title(ax, f"{title}: training loss")
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
    _title(ax, f"{title}: quick-val error (lower is better)")
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


def byte_chart_path(run: RunLayout, ckpt_name: str) -> Path:
    return run.fig_dir / f"byte-err_{Path(ckpt_name).stem}.png"


HEAD_COLOR, PAYLOAD_COLOR, TAIL_COLOR = "tab:red", "tab:blue", "tab:purple"


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
    _title(ax, f"{title}\n{row.ckpt_name}: error per byte ({row.mode})", fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, ncols=3, framealpha=0.9)
    return fig


def write_byte_chart(run: RunLayout, row: csvlog.ByteRow) -> Path:
    """Write fig/byte-err_<ckpt_stem>.png for one eval-bytes result."""
    return save_figure(byte_figure(run.name, row), byte_chart_path(run, row.ckpt_name))


def _ckpt_order(name: str) -> tuple[int, int, str]:
    m = CKPT_RE.match(name)
    return (int(m["epoch"]), int(m["step"]), name) if m else (math.inf, math.inf, name)  # type: ignore[return-value]


def heatmap_rows(rows: Sequence[csvlog.ByteRow]) -> dict[str, list[csvlog.ByteRow]]:
    """Per mode, the latest row of each checkpoint, ordered by checkpoint.

    Byte means do not depend on Q1/Q2 (those only group bytes), so a later evaluation of the
    same checkpoint and mode supersedes an earlier one.
    """
    latest: dict[tuple[str, str], csvlog.ByteRow] = {}
    for r in rows:
        latest[(r.mode, r.ckpt_name)] = r
    out: dict[str, list[csvlog.ByteRow]] = {}
    for (mode, _), r in latest.items():
        out.setdefault(mode, []).append(r)
    for mode in out:
        out[mode].sort(key=lambda r: _ckpt_order(r.ckpt_name))
    return dict(sorted(out.items()))


def heatmap_figure(title: str, groups: dict[str, list[csvlog.ByteRow]]) -> Figure:
    """Checkpoint x byte heatmap, one panel per mode (``groups`` from :func:`heatmap_rows`)."""
    n_bytes = len(next(iter(groups.values()))[0].byte_means)
    tallest = max(len(g) for g in groups.values())
    fig = figure(width=max(6.0, min(18.0, 0.15 * n_bytes + 5)) * len(groups) ** 0.5,
                  height=max(3.0, min(14.0, 0.3 * tallest + 2)), fixed=False)
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for i, (ax, (mode, grp)) in enumerate(zip(axes, groups.items(), strict=True)):
        grid = [list(r.byte_means) for r in grp]
        im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis",
                       extent=(0.5, n_bytes + 0.5, len(grp) - 0.5, -0.5))
        ax.set_yticks(range(len(grp)))
        ax.set_yticklabels([ckpt_label(r.ckpt_name) for r in grp], fontsize=8)
        if i == 0:  # a second panel's label would crowd the first panel's colorbar
            ax.set_ylabel("checkpoint (epoch:step)")
        ax.set_xlabel(f"byte (group of {BYTE} points)")
        ax.set_title(f"mode: {mode}", fontsize=10)
        fig.colorbar(im, ax=ax, label="mean error (m)")
    fig.suptitle(f"{title}: byte-wise error")
    return fig


def write_byte_heatmap(run: RunLayout) -> Path | None:
    """fig/byte-err-heatmap.png from byte_wise_err.csv; None when it has no rows."""
    groups = heatmap_rows(csvlog.read_byte_rows(run))
    if not groups:
        return None
    return save_figure(heatmap_figure(run.name, groups), run.fig_dir / BYTE_HEATMAP_PNG)


def _header(path: Path) -> list[str]:
    table = csvlog.read_table(path)
    return [h.strip() for h in table[0][1]] if table else []


def _numeric_columns(path: Path) -> tuple[list[str], dict[str, list[float]]]:
    """Columns of a CSV whose every cell parses as a number (first column = row label)."""
    table = [row for _, row in csvlog.read_table(path)]
    if len(table) < 2:
        return [], {}
    header, body = table[0], table[1:]
    labels = [r[0] if r else "" for r in body]
    cols: dict[str, list[float]] = {}
    for j, name in enumerate(header[1:], start=1):
        try:
            vals = [float(r[j]) for r in body]
        except (ValueError, IndexError):
            continue
        cols[name.strip()] = vals
    return labels, cols


def write_other_csv_charts(run: RunLayout) -> list[Path]:
    """One line chart per extra ``log/*.csv`` (not the two known logs): numeric columns vs row.

    Columns are unknown here, so the y label only says what the values are; a file with no
    numeric column is skipped.
    """
    written: list[Path] = []
    if not run.log_dir.is_dir():
        return written
    for path in sorted(run.log_dir.glob("*.csv")):
        if path.name in (TRAIN_CSV, BYTE_CSV):
            continue
        if _header(path) == list(TRAIN_CSV_HEADER):
            # A train_data.csv history set aside by a resume: the acc chart, with its units.
            rows = csvlog.read_train_rows(run, path)
            if rows:
                fig = acc_figure(path.name, rows)  # the run is in the path; keep it short
                written.append(save_figure(fig, run.fig_dir / f"{path.stem}.png"))
            continue
        labels, cols = _numeric_columns(path)
        if not cols:
            continue
        fig = figure()
        ax = fig.add_subplot()
        x = list(range(len(labels)))
        for name, vals in cols.items():
            ax.plot(x, vals, marker="o" if len(x) <= 50 else None, markersize=3, label=name)
        ax.set_xlabel("row (oldest first)")
        ax.set_ylabel("value (units as logged)")
        _title(ax, f"{run.name}: {path.name}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        if len(labels) <= MAX_NAMED_TICKS:
            ax.set_xticks(x)
            ax.set_xticklabels([ckpt_label(s) for s in labels], rotation=30, fontsize=8)
        written.append(save_figure(fig, run.fig_dir / f"{path.stem}.png"))
    return written


def write_all(run: RunLayout) -> list[Path]:
    """Every chart a run's logs support (what ``theta plot`` draws)."""
    written = write_train_charts(run)
    heat = write_byte_heatmap(run)
    if heat is not None:
        written.append(heat)
    written.extend(write_other_csv_charts(run))
    return written
