"""A run's charts, drawn headless and written atomically (``theta plot``).

    fig/loss-ckpt.png              avg_loss vs checkpoint            (engine.charts)
    fig/acc-ckpt.png               acc_mean/median/std vs checkpoint (engine.charts)
    fig/byte-err_<ckpt_stem>.png   error per byte, buckles shaded    (eval.byte_chart)
    fig/byte-err-heatmap.png       checkpoint x byte                 (byte_wise_err.csv)
    fig/<stem>.png                 numeric columns vs row            (any other log/*.csv; a
                                   train_data.superseded_*.csv set aside by a resume gets
                                   the acc chart)

The training loop redraws the first two at every checkpoint and eval-bytes draws the third, so
those live with them, a layer down; this module draws the rest and re-exports those. Every chart
is a bare ``Figure`` + Agg canvas (``core.figures``); matplotlib is imported inside the
functions, so importing this module (or the CLI) stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from theta_cli.core import csvlog
from theta_cli.core.figures import figure, save_figure
from theta_cli.core.layout import (
    BYTE,
    BYTE_CSV,
    BYTE_HEATMAP_PNG,
    CKPT_RE,
    TRAIN_CSV,
    TRAIN_CSV_HEADER,
    RunLayout,
    ckpt_label,
)
from theta_cli.engine.charts import (
    MAX_NAMED_TICKS,
    acc_figure,
    loss_figure,
    set_title,
    write_train_charts,
)
from theta_cli.eval.byte_chart import (
    HEAD_COLOR,
    PAYLOAD_COLOR,
    TAIL_COLOR,
    byte_chart_path,
    byte_figure,
    write_byte_chart,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "HEAD_COLOR",
    "PAYLOAD_COLOR",
    "TAIL_COLOR",
    "acc_figure",
    "byte_chart_path",
    "byte_figure",
    "ckpt_label",
    "heatmap_figure",
    "heatmap_rows",
    "loss_figure",
    "write_all",
    "write_byte_chart",
    "write_byte_heatmap",
    "write_other_csv_charts",
    "write_train_charts",
]


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
        set_title(ax, f"{run.name}: {path.name}")
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
