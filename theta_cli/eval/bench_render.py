"""The Rich tables of a ``theta bench`` result: every method's error, theta against the best
baseline (with its 90% interval; "level" where the interval includes 0), the same per class and
per situation, and where the time went."""

from __future__ import annotations

from typing import Any

from theta_cli.core.metrics import ERROR_METRICS
from theta_cli.eval.bench_types import (
    GAIN_METRICS,
    TUNING_TEXT,
    BenchResult,
    Gain,
    MethodRow,
    baseline_label,
)
from theta_cli.eval.bootstrap import LEVEL
from theta_cli.eval.situations import SITUATION_LABELS, SITUATIONS


def _num(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:.6g}"


def rate_text(rate: float | None) -> str:
    """Points per second, short: 89.9k, 2.03M; "-" for raw."""
    if rate is None:
        return "-"
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if rate >= scale:
            return f"{rate / scale:.3g}{unit}"
    return f"{rate:.3g}"


def params_text(row: MethodRow) -> str:
    if row.is_theta:
        p = row.params
        return f"K={p['K']} Q1={p['Q1']} Q2={p['Q2']}"
    return " ".join(f"{k}={_num(v)}" for k, v in row.params.items()) or "-"


def interval_text(g: Gain) -> str:
    """The interval in percent, "+1.2..+3.4", or "-" when there is none."""
    if g.low is None or g.high is None:
        return "-"
    return f"{g.low:+.1f}..{g.high:+.1f}"


def gain_cell(g: Gain | None) -> str:
    """A table cell: "+4.1%" for a win or a loss, "level (+0.3%)" when the interval holds 0."""
    if g is None:
        return "-"
    return f"level ({g.pct:+.1f}%)" if g.verdict == "level" else f"{g.pct:+.1f}%"


def _gain_text(g: Gain) -> str:
    word = {"better": "theta lower", "worse": "theta higher"}.get(g.verdict, "level")
    return (f"{g.metric} {g.pct:+.1f}% ({LEVEL:.0%} interval {interval_text(g)}%, {word}): "
            f"{g.theta} {g.theta_value:.2f} m vs {g.baseline} {g.baseline_value:.2f} m")


def main_table(result: BenchResult) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"trajectory error on {result.data}: {result.tracks} tracks, "
        f"{result.points:,} points (metres, lower is better; best in bold green)",
        title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
    )
    table.add_column("method", no_wrap=True)
    for _, name in ERROR_METRICS:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("pts/s", justify="right", no_wrap=True)
    best = {k: min(getattr(r, k) for r in result.rows) for k, _ in ERROR_METRICS}
    for r in result.rows:
        cells = []
        for k, _ in ERROR_METRICS:
            v = getattr(r, k)
            cells.append(Text(f"{v:.2f}", style="bold green" if v == best[k] else ""))
        name = Text(r.label, style="bold" if r.is_theta else "")
        table.add_row(name, *cells, rate_text(r.points_per_s))
    return table


def params_block(result: BenchResult) -> Any:
    """The tuned parameters of each baseline (with their score on the tuning tracks) and the
    models' chunking."""
    from rich.text import Text

    lines = [f"parameters ({TUNING_TEXT[result.tuning]}: {result.tune_data}, by "
             f"{result.criterion} there):"]  # fmt: skip
    seen = set()
    for r in result.rows:
        if r.is_theta:
            if r.model in seen:
                continue
            seen.add(r.model)
            model = next(m for m in result.models if m["label"] == r.model)
            name = f"theta {model['alias']}".rstrip()
            lines.append(f"  {name}: {model['description']}; {params_text(r)}")
        elif r.method != "raw" and "per_class" in result.tuned[r.method]:
            for c, t in result.tuned[r.method]["per_class"].items():
                shown = " ".join(f"{k}={_num(v)}" for k, v in t["params"].items())
                lines.append(f"  {r.label}, {c}: {shown} ({result.criterion} {t['score']:.2f} m)")
        elif r.method != "raw":
            score = result.tuned[r.method]["score"]
            lines.append(f"  {r.label}: {params_text(r)} ({result.criterion} {score:.2f} m)")
    return Text("\n".join(lines))


def gains_text(result: BenchResult) -> Any:
    from rich.text import Text

    names = ", ".join(r.label for r in result.rows if r.is_compared)
    lines = [f"theta's best against the best baseline (of {names}, per metric; "
             f"{TUNING_TEXT[result.tuning]}; {LEVEL:.0%} intervals from "
             f"{_resamples(result)} resamples of whole agents):"]  # fmt: skip
    if not result.gains:
        lines.append("  (no theta row)")
    for g in result.gains.values():
        lines.append("  " + _gain_text(g))
    return Text("\n".join(lines))


def _resamples(result: BenchResult) -> int:
    return next((g.resamples for g in result.gains.values()), 0)


def _gain_rows(table: Any, gains: list[Gain | None]) -> None:
    """The last two rows of a per-class or per-situation table: the gain and its interval."""
    table.add_section()
    table.add_row("theta vs best", *[gain_cell(g) for g in gains])
    table.add_row(f"  {LEVEL:.0%} interval", *["-" if g is None else interval_text(g)
                                               for g in gains])  # fmt: skip


def class_table(result: BenchResult) -> Any | None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    if not result.classes:
        return None
    counts = {c: next((r.per_class[c]["points"] for r in result.rows if c in r.per_class), 0)
              for c in result.classes}  # fmt: skip
    shown = ", ".join(f"{c} {n:,}" for c, n in counts.items())
    table = Table(
        title=f"per class: median and p95 (m); points: {shown}; {TUNING_TEXT[result.tuning]}; "
        "last rows: the best theta against the best baseline, % lower, and its interval",
        title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
    )
    table.add_column("method", no_wrap=True)
    keys = [(c, k) for c in result.classes for k in GAIN_METRICS]
    for c, k in keys:
        table.add_column(f"{c}\n{'p50' if k == 'median' else k}", justify="right", no_wrap=True)
    best = {(c, k): min(r.per_class[c][k] for r in result.rows if c in r.per_class)
            for c, k in keys}  # fmt: skip
    for r in result.rows:
        cells = []
        for c, k in keys:
            got = r.per_class.get(c)
            if got is None:
                cells.append(Text("-"))
            else:
                v = got[k]
                cells.append(Text(f"{v:.2f}", style="bold green" if v == best[(c, k)] else ""))
        table.add_row(Text(r.label, style="bold" if r.is_theta else ""), *cells)
    _gain_rows(table, [result.class_gains.get(c, {}).get(k) for c, k in keys])
    return table


def situation_table(result: BenchResult) -> Any | None:
    """Median and p95 of every method per situation (``situations``), with the gains."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    names = [s for s in SITUATIONS if result.situations.get(s)]
    if not names:
        return None
    shown = ", ".join(f"{SITUATION_LABELS[s]} {result.situations[s]:,}" for s in names)
    table = Table(
        title=f"per situation: median and p95 (m); points: {shown}; "
        f"{TUNING_TEXT[result.tuning]}; last rows: the best theta against the best baseline, "
        "% lower, and its interval",
        title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
    )  # fmt: skip
    table.add_column("method", no_wrap=True)
    keys = [(s, k) for s in names for k in GAIN_METRICS]
    for s, k in keys:
        table.add_column(f"{SITUATION_LABELS[s]}\n{'p50' if k == 'median' else k}",
                         justify="right", no_wrap=True)  # fmt: skip
    best = {(s, k): min(r.per_situation[s][k] for r in result.rows if s in r.per_situation)
            for s, k in keys}  # fmt: skip
    for r in result.rows:
        cells = []
        for s, k in keys:
            v = r.per_situation.get(s, {}).get(k)
            style = "bold green" if v is not None and v == best[(s, k)] else ""
            cells.append(Text("-" if v is None else f"{v:.2f}", style=style))
        table.add_row(Text(r.label, style="bold" if r.is_theta else ""), *cells)
    _gain_rows(table, [result.situation_gains.get(s, {}).get(k) for s, k in keys])
    return table


def timing_text(result: BenchResult) -> Any:
    """Where the wall time went: tuning, baselines and theta in detail."""
    from rich.text import Text

    t = result.timings
    tuning = ", ".join(f"{baseline_label(k)} {v['seconds']:.1f}"
                       for k, v in result.tuned.items() if k != "raw")  # fmt: skip
    base = ", ".join(f"{r.label} {r.seconds:.2f}" for r in result.rows
                     if not r.is_theta and r.method != "raw")  # fmt: skip
    theta = ", ".join(f"{r.label} {r.seconds:.1f}" for r in result.rows if r.is_theta)
    lines = [
        f"time (s), {t.get('total', 0.0):.1f} in all on {result.device}: tuning "
        f"{t.get('tuning', 0.0):.1f}, baselines {t.get('baselines', 0.0):.1f}, theta "
        f"{t.get('theta', 0.0):.1f}; reading models {t.get('load_models', 0.0):.1f}, data "
        f"{t.get('load_data', 0.0):.1f}, intervals {t.get('intervals', 0.0):.1f}, charts "
        f"{t.get('charts', 0.0):.1f}",
        f"  tuning: {tuning}",
        f"  baselines: {base}",
    ]
    if theta:
        lines.append(f"  theta: {theta}")
    return Text("\n".join(lines))


def render(result: BenchResult) -> list[Any]:
    out: list[Any] = [main_table(result), params_block(result), gains_text(result)]
    for table in (class_table(result), situation_table(result)):
        if table is not None:
            out.append(table)
    out.append(timing_text(result))
    return out
