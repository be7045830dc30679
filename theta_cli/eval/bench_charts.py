"""The three charts of ``theta bench`` (PNG, headless, written atomically by ``core.figures``):

    bench-cdf.png      the error CDF of every method: fraction of points within x metres, x on a
                       log scale (errors span centimetres to tens of metres)
    bench-bars.png     median and p95 per method, grouped bars with their values
    bench-example.png  one scored track: clean, noisy, RTS and theta (the best theta row by
                       GSDC), the whole track and a zoom on the stretch where theta and RTS
                       disagree most
    bench-situations.png  median (top) and p95 (bottom) of every method but raw in each
                       situation (``situations``), one group of bars per situation
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from theta_cli.eval.bench_data import BenchTracks
from theta_cli.eval.trajectory import latlon_error

if TYPE_CHECKING:
    from theta_cli.eval.bench_types import BenchResult, MethodRow

#: Points of one CDF curve (quantiles): smooth at this size, cheap for millions of points.
CDF_POINTS = 1000
#: Consecutive fixes over which theta and RTS are compared to pick the example's place.
PICK_WINDOW = 9
#: Smallest half-width of the example's zoom, metres.
MIN_ZOOM_M = 15.0

_BASE_STYLE = {
    "raw": ("0.55", ":"),
    "rts": ("tab:blue", "--"),
    "robust_rts": ("tab:cyan", "--"),
    "adaptive_rts": ("navy", "--"),
    "savgol": ("tab:green", "-."),
}
_THETA_COLORS = ("tab:red", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive",
                 "darkred", "indigo")  # fmt: skip


def _styles(rows: Sequence[MethodRow]) -> list[tuple[str, str, float]]:
    """(colour, line style, width) per row: baselines fixed, theta rows one colour each."""
    out = []
    k = 0
    for r in rows:
        if r.is_theta:
            out.append((_THETA_COLORS[k % len(_THETA_COLORS)], "-", 2.0))
            k += 1
        else:
            color, ls = _BASE_STYLE.get(r.method, ("0.3", "--"))
            out.append((color, ls, 1.4))
    return out


def write_all(result: BenchResult, scored: BenchTracks, fig_dir: Path) -> list[Path]:
    from theta_cli.core.figures import save_figure

    fig_dir.mkdir(parents=True, exist_ok=True)
    title = f"{result.data}: {result.tracks} tracks, {result.points:,} points"
    aliases = "; ".join(f"theta {m['alias']} = {m['label']}" for m in result.models
                        if m["alias"])  # fmt: skip
    if aliases:
        title += f"\n{aliases}"
    paths = [
        save_figure(cdf_figure(result.rows, title), fig_dir / "bench-cdf.png"),
        save_figure(bars_figure(result.rows, title), fig_dir / "bench-bars.png"),
    ]
    example = example_figure(result.rows, scored, aliases)
    if example is not None:
        paths.append(save_figure(example, fig_dir / "bench-example.png"))
    situations = situations_figure(result, title)
    if situations is not None:
        paths.append(save_figure(situations, fig_dir / "bench-situations.png"))
    return paths


def situations_figure(result: BenchResult, title: str) -> Any | None:
    """Grouped bars: one group per situation, one bar per method, median above and p95 below.
    Raw is left out: next to an outlier its error is many times the others' and would squash
    the bars that are compared."""
    from theta_cli.core.figures import figure
    from theta_cli.eval.bench_types import TUNING_TEXT
    from theta_cli.eval.situations import SITUATION_LABELS, SITUATIONS

    rows = [r for r in result.rows if r.method != "raw"]
    names = [s for s in SITUATIONS if result.situations.get(s)]
    if not rows or not names:
        return None
    fig = figure(width=max(9.0, 1.6 + 0.45 * len(rows) * len(names)), height=8.0, fixed=False)
    axes = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(names))
    w = 0.8 / len(rows)
    for ax, metric in zip(axes, ("median", "p95"), strict=True):
        top = 0.0
        for j, (r, (color, ls, _)) in enumerate(zip(rows, _styles(rows), strict=True)):
            v = [r.per_situation.get(s, {}).get(metric, np.nan) for s in names]
            top = max(top, float(np.nanmax(v)))
            bars = ax.bar(x - 0.4 + (j + 0.5) * w, v, width=w, color=color, label=r.label,
                          hatch="//" if ls != "-" else None, edgecolor="white", linewidth=0.5)
            ax.bar_label(bars, labels=[f"{a:.2f}" for a in v], padding=1, fontsize=6)
        ax.set_ylim(0, top * 1.3)  # room for the value labels and the legend
        ax.set_ylabel(f"{metric} error (m)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(loc="upper center", fontsize=7, ncol=min(6, len(rows)))
    axes[1].set_xticks(x, [f"{SITUATION_LABELS[s]}\n{result.situations[s]:,} points"
                           for s in names])  # fmt: skip
    lines = "\n".join(_short(t, 120) for t in title.splitlines())
    fig.suptitle(f"median (top) and p95 (bottom) per situation, lower is better; "
                 f"{TUNING_TEXT[result.tuning]}\n{lines}", fontsize=10)  # fmt: skip
    return fig


def _short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def cdf_figure(rows: Sequence[MethodRow], title: str) -> Any:
    """Left: the CDF, x log. Right: its tail (fraction of points above x, y log), where the
    p95 and the outliers are decided."""
    from theta_cli.core.figures import figure

    fig = figure(width=12.0, height=5.5, fixed=False)
    ax, tail = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    q = np.linspace(0.0, 1.0, CDF_POINTS + 1)
    n = max(len(r.errors) for r in rows)
    # Tail levels down to about 3 points of the largest row, evenly spaced on the log axis.
    above = np.logspace(np.log10(0.5), np.log10(max(3.0 / n, 1e-6)), CDF_POINTS)
    lows, highs = [], []
    for r, (color, ls, lw) in zip(rows, _styles(rows), strict=True):
        x = np.quantile(r.errors, q)
        lows.append(np.quantile(r.errors, 0.002))
        highs.append(x[-1])
        ax.plot(x, q, color=color, linestyle=ls, linewidth=lw,
                label=f"{r.label}: p50 {r.median:.2f} m, p95 {r.p95:.2f} m")  # fmt: skip
        tail.plot(np.quantile(r.errors, 1.0 - above), above, color=color, linestyle=ls,
                  linewidth=lw)  # fmt: skip
    lo = max(min(lows), 1e-3)
    hi = max(highs)
    log_x = hi / lo > 20
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(lo, hi * 1.1)
    else:
        ax.set_xlim(0, hi * 1.05)
    for level, name in ((0.5, "median"), (0.95, "p95")):
        ax.axhline(level, color="0.6", linewidth=0.8, linestyle=":")
        ax.text(ax.get_xlim()[0], level, f" {name}", va="bottom", fontsize=8, color="0.4")
    ax.set_ylim(0, 1.0)
    ax.set_xlabel(f"horizontal error to the clean track (m{', log scale' if log_x else ''})")
    ax.set_ylabel("fraction of points with error ≤ x")
    ax.set_title("error CDF (further left is better)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    tail.set_yscale("log")
    tail.axhline(0.05, color="0.6", linewidth=0.8, linestyle=":")
    tail.text(tail.get_xlim()[1], 0.05, "p95 ", va="bottom", ha="right", fontsize=8,
              color="0.4")  # fmt: skip
    tail.set_xlabel("horizontal error to the clean track (m)")
    tail.set_ylabel("fraction of points with error > x (log)")
    tail.set_title("the tail (further left/lower is better)", fontsize=10)
    for a in (ax, tail):
        a.grid(True, which="both", alpha=0.3)
    fig.suptitle("\n".join(_short(t, 150) for t in title.splitlines()), fontsize=10)
    return fig


def bars_figure(rows: Sequence[MethodRow], title: str) -> Any:
    from theta_cli.core.figures import figure

    height = max(3.5, 1.2 + 0.55 * len(rows))
    fig = figure(width=9.5, height=height, fixed=False)
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    h = 0.38
    med = [r.median for r in rows]
    p95 = [r.p95 for r in rows]
    b1 = ax.barh(y + h / 2, med, height=h, color="tab:blue", label="median")
    b2 = ax.barh(y - h / 2, p95, height=h, color="tab:orange", label="p95")
    for bars, values in ((b1, med), (b2, p95)):
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=3, fontsize=8)
    ax.set_yticks(y, [r.label for r in rows], fontsize=8)
    for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
        if r.is_theta:
            tick.set_fontweight("bold")
    ax.set_xlim(0, max(p95 + med) * 1.18)
    ax.set_xlabel("horizontal error to the clean track (m, lower is better)")
    lines = "\n".join(_short(t, 110) for t in title.splitlines())
    ax.set_title(f"median and p95 per method\n{lines}", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def _pick_point(diff: np.ndarray, bounds: np.ndarray, window: int) -> tuple[int, int]:
    """(track, point) at the centre of the ``window`` consecutive points of one track with the
    largest summed ``diff`` (flat, all tracks end to end)."""
    best = (-1.0, 0, 0)
    for i in range(len(bounds) - 1):
        a, b = int(bounds[i]), int(bounds[i + 1])
        n = b - a
        if n == 0:
            continue
        w = min(window, n)
        c = np.concatenate([[0.0], np.cumsum(diff[a:b])])
        sums = c[w:] - c[:-w]
        j = int(np.argmax(sums))
        if sums[j] > best[0]:
            best = (float(sums[j]), i, j + w // 2)
    return best[1], best[2]


def example_figure(rows: Sequence[MethodRow], scored: BenchTracks, note: str = "") -> Any | None:
    """Clean, noisy, RTS and the best theta row (by GSDC) around the place where the two
    disagree most; None when there is no theta or RTS row with estimates."""
    from matplotlib.patches import Rectangle

    from theta_cli.core.figures import figure

    thetas = [r for r in rows if r.is_theta and r.est is not None]
    rts = next((r for r in rows if r.method == "rts" and r.est is not None), None)
    if not thetas or rts is None or not scored.tracks:
        return None
    theta = min(thetas, key=lambda r: r.gsdc)
    diff = latlon_error(theta.est[0], theta.est[1], rts.est[0], rts.est[1])
    i, c = _pick_point(diff, scored.bounds, PICK_WINDOW)
    tr = scored.tracks[i]
    est_theta = scored.to_enu(*theta.est, i)
    est_rts = scored.to_enu(*rts.est, i)
    # The zoom: a square around the clean point there, wide enough for the noise around it.
    near = slice(max(0, c - PICK_WINDOW), c + PICK_WINDOW + 1)
    reach = max(float(np.abs(arr[near] - tr.clean[c]).max()) for arr in (est_theta, est_rts))
    noise = float(np.percentile(np.hypot(*(tr.xy[near] - tr.clean[near]).T), 90))
    half = max(MIN_ZOOM_M, 1.2 * reach, 3.0 * noise)
    x0, y0 = tr.clean[c] - half
    inside = (np.abs(tr.clean - tr.clean[c]) <= half).all(axis=1)
    shown = np.flatnonzero(inside)
    # Only the stretch through the zoom's centre (a track may come back through the box).
    runs = np.split(shown, np.flatnonzero(np.diff(shown) > 1) + 1)
    seg = next(r for r in runs if r[0] <= c <= r[-1])
    a, b = int(seg[0]), int(seg[-1]) + 1

    def mean_err(est: np.ndarray) -> float:
        return float(np.hypot(*(est[a:b] - tr.clean[a:b]).T).mean())

    fig = figure(width=12.0, height=6.2, fixed=False)
    whole, zoom = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    cls = f" ({tr.cls})" if tr.cls else ""
    head = (f"example: track {tr.id}{cls}, fixes {a + 1}-{b} of {len(tr)}: where theta and RTS "
            "differ most")
    fig.suptitle(head + (f"\n{_short(note, 150)}" if note else ""), fontsize=11)
    whole.plot(*tr.clean.T, color="black", linewidth=0.8)
    whole.add_patch(Rectangle((x0, y0), 2 * half, 2 * half, fill=False, edgecolor="tab:red",
                              linewidth=1.5))  # fmt: skip
    whole.set_aspect("equal", adjustable="datalim")
    whole.set_title("whole track (clean); red square: the zoom", fontsize=9)
    zoom.plot(*tr.xy[a:b].T, linestyle="none", marker="o", markersize=5, color="0.6",
              label=f"noisy (mean error {mean_err(tr.xy):.2f} m)")  # fmt: skip
    zoom.plot(*tr.clean[a:b].T, color="black", linewidth=2.0, marker=".", label="clean")
    zoom.plot(*est_rts[a:b].T, color="tab:blue", linewidth=1.5, linestyle="--", marker=".",
              label=f"RTS (mean error {mean_err(est_rts):.2f} m)")  # fmt: skip
    zoom.plot(*est_theta[a:b].T, color="tab:red", linewidth=1.5, marker=".",
              label=f"{theta.label} (mean error {mean_err(est_theta):.2f} m)")  # fmt: skip
    zoom.set_xlim(x0, x0 + 2 * half)
    zoom.set_ylim(y0, y0 + 2 * half)
    zoom.set_aspect("equal", adjustable="box")
    zoom.set_title(f"zoom: {2 * half:.0f} m x {2 * half:.0f} m; mean errors over the "
                   f"{b - a} fixes shown", fontsize=9)  # fmt: skip
    zoom.legend(loc="best", fontsize=8, framealpha=0.9)
    for ax in (whole, zoom):
        ax.set_xlabel("east (m)")
        ax.set_ylabel("north (m)")
        ax.grid(True, alpha=0.3)
    return fig
