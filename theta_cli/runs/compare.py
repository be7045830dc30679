"""Several runs side by side (``theta compare``): one table, one chart of their curves.

Per run: model, parameters, optimizer steps trained, the best checkpoint (``artifact.best``) and
its acc_mean, and the newest ``bench.csv`` row (median, p95, GSDC of its theta row, and the gain
over the best baseline). In every numeric column the best run is marked (lower is better for
errors, higher for gains). Reads CSVs only, like ``theta info``.

The chart puts every run's loss and acc_mean on one axis of optimizer steps: a run's global
step at a checkpoint is the steps of its earlier epochs (each epoch's last checkpoint holds the
epoch's step count) plus the checkpoint's step.

The chart is written like every other output (``check_out``, before any run is read): an
existing file only with ``--force``, and one that appears while compare runs is kept unless
``--force``; never a device, FIFO or directory; never inside a run's log/ or ckpt/, whatever
the flags (those hold a run's records, which a chart must not replace).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from theta_cli.artifact.best import best_checkpoint, latest_rows
from theta_cli.core import atomic, csvlog, targets
from theta_cli.core.config import load_run_config
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout

#: column -> True when higher is better (gains); errors and losses are lower-is-better.
MARKED = {
    "best_acc_mean": False,
    "bench_median": False,
    "bench_p95": False,
    "bench_gsdc": False,
    "median_gain_pct": True,
    "p95_gain_pct": True,
}


def global_steps(rows: list[csvlog.TrainRow]) -> list[int]:
    """Optimizer steps from the start of the run at each row (rows in training order)."""
    per_epoch: dict[int, int] = {}
    for r in rows:
        per_epoch[r.epoch] = max(per_epoch.get(r.epoch, 0), r.step)
    before, total = {}, 0
    for e in sorted(per_epoch):
        before[e] = total
        total += per_epoch[e]
    return [before[r.epoch] + r.step for r in rows]


def describe(run: RunLayout) -> dict[str, Any]:
    from theta_cli.runs.info import param_count

    cfg = load_run_config(run.config_path)
    rows = csvlog.read_train_rows(run)
    best = best_checkpoint(run, rows)
    best_row = latest_rows(rows)[best.name] if best is not None else None
    found = run.checkpoints()
    bench = csvlog.read_bench_rows(run)
    newest = bench[-1] if bench else None
    return {
        "name": run.name,
        "path": str(run.root),
        "model_type": cfg.model_type,
        "num_params": param_count(cfg, found[-1][2] if found else None),
        "steps_trained": global_steps(rows)[-1] if rows else 0,
        "best_ckpt": best.name if best is not None else None,
        "best_acc_mean": best_row.acc_mean if best_row is not None else None,
        "bench_ckpt": newest.ckpt_name if newest else None,
        "bench_steps": newest.steps if newest else None,
        "bench_data": newest.data if newest else None,
        "bench_median": newest.median if newest else None,
        "bench_p95": newest.p95 if newest else None,
        "bench_gsdc": newest.gsdc if newest else None,
        "median_gain_pct": newest.median_gain_pct if newest else None,
        "p95_gain_pct": newest.p95_gain_pct if newest else None,
        "curve": {
            "step": global_steps(rows),
            "avg_loss": [r.avg_loss for r in rows],
            "acc_mean": [r.acc_mean for r in rows],
        },
    }


def _is_run(root: Path) -> bool:
    run = RunLayout(root)
    return run.config_path.is_file() or (run.log_dir.is_dir() and run.ckpt_dir.is_dir())


def check_out(out: Path, force: bool) -> None:
    """Refuse a chart path compare must not write, naming it; call before reading any run."""
    # resolve(): a link to a run directory leads into the run all the same.
    for d in out.resolve().parents:
        run = RunLayout(d.parent)
        if d in (run.log_dir, run.ckpt_dir) and _is_run(d.parent):
            raise ThetaError(
                f"--out {out}: is inside {d}/, where a run keeps its records; "
                "compare never writes there (--force or not)"
            )
    targets.check_target(out, force)


def compare(runs: list[RunLayout]) -> dict[str, Any]:
    """The comparison as JSON-ready data; ``best`` names the best run of each marked column."""
    if len({r.root.resolve() for r in runs}) != len(runs):
        raise ThetaError("compare: a run is named twice")
    described = [describe(r) for r in runs]
    best: dict[str, str | None] = {}
    for col, higher in MARKED.items():
        scored = [d for d in described if d[col] is not None]
        pick = (max if higher else min)(scored, key=lambda d: d[col]) if scored else None
        best[col] = pick["name"] if pick is not None else None
    return {"runs": described, "best": best}


def write_chart(data: dict[str, Any], path: Path, force: bool = False) -> Path:
    """Loss and acc_mean of every run against optimizer steps, one figure of two panels;
    without ``force`` a file already at ``path`` (even one that appeared meanwhile) is kept."""
    from theta_cli.core.figures import figure, save_figure

    fig = figure(width=11.0, height=4.5, fixed=False)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for d in data["runs"]:
        c = d["curve"]
        marker = "o" if len(c["step"]) <= 40 else None
        loss_ax.plot(c["step"], c["avg_loss"], marker=marker, markersize=3, label=d["name"])
        acc_ax.plot(c["step"], c["acc_mean"], marker=marker, markersize=3, label=d["name"])
    loss_ax.set_title("training loss")
    loss_ax.set_ylabel("avg loss: Huber of ‖v̂ − V‖ (m²)")
    acc_ax.set_title("quick-val error (lower is better)")
    acc_ax.set_ylabel("acc_mean ‖v̂ − V‖ (m)")
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("optimizer steps")
        ax.grid(True, alpha=0.3)
    acc_ax.legend(loc="best", fontsize=8)
    with atomic.no_replace(not force):
        return save_figure(fig, path)
