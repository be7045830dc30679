"""A run's learning curve on unseen agents: median and p95 error of its epoch checkpoints
against the CPU-minutes of training that produced them.

    python benchmarks/learning_curve.py models/<run> --epochs 0,2,5,10,15,19

Minutes come from the run's runtime.log ("epoch N/M ... took H:MM:SS", summed up to and
including that epoch). The score and tune sets are those of benchmarks/quality.py's default
setting (synth seeds 99 and 98); all checkpoints are benched in one `bench.run`, so the
baselines are tuned once and every row is measured on the same points. The baselines are tuned
per travel class (``--pooled``: once on all classes, as before issue 21) and the checkpoints run
at ``--steps`` Euler steps (default 1, the built-in model's best_steps).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from quality import SCORE_SEED, TUNE_SEED, drift_reference, make_pairs  # noqa: E402

_TOOK = re.compile(r"epoch (\d+)/\d+ .* took (\d+):(\d\d):(\d\d)")


def epoch_minutes(runtime_log: Path) -> dict[int, float]:
    """Cumulative training minutes at the end of each epoch (0-based, as checkpoint names)."""
    total, out = 0.0, {}
    for line in runtime_log.read_text().splitlines():
        m = _TOOK.search(line)
        if m:
            h, mi, s = (int(g) for g in m.groups()[1:])
            total += (3600 * h + 60 * mi + s) / 60.0
            out[int(m.group(1)) - 1] = total
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--epochs", default="0,2,5,10,15,19")
    ap.add_argument("--agents", type=int, default=60)
    ap.add_argument("--motion", default="curvy")
    ap.add_argument("--png", type=Path, help="also draw median and p95 against CPU-minutes")
    ap.add_argument("--steps", type=int, default=1, help="Euler steps per checkpoint [1]")
    ap.add_argument("--pooled", action="store_true",
                    help="tune the baselines once on all classes instead of per class")
    args = ap.parse_args()

    from theta_cli.core import logs
    from theta_cli.eval import bench

    logs.setup()
    minutes = epoch_minutes(args.run / "log" / "runtime.log")
    ckpts = {}
    for e in (int(x) for x in args.epochs.split(",")):
        found = sorted((args.run / "ckpt").glob(f"ckpt_epoch{e}_step*.pt"))
        if not found:
            sys.exit(f"{args.run}: no checkpoint of epoch {e}")
        ckpts[e] = found[-1]
    with tempfile.TemporaryDirectory() as tmp:
        tune = make_pairs(Path(tmp) / "tune", TUNE_SEED, args.agents, {}, args.motion)
        score = make_pairs(Path(tmp) / "score", SCORE_SEED, args.agents, {}, args.motion)
        req = bench.BenchRequest(
            models=[str(p) for p in ckpts.values()], steps=[args.steps], pairs=score,
            tune_pairs=tune, fig_dir=Path(tmp) / "fig", record=False, builtin=False,
            charts=False, tune_per_class=not args.pooled,
        )
        result = bench.run(req, log=lambda _msg: None)
    best = bench.best_baselines(result.rows)
    thetas = [r for r in result.rows if r.is_theta]
    how = "pooled" if args.pooled else "per class"
    print(f"best baseline (tuned {how}): median {best['median']:.2f} m, p95 {best['p95']:.2f} m")
    print("| epoch | CPU-minutes | median (m) | p95 (m) | median gain | p95 gain |")
    print("|---|---|---|---|---|---|")
    xs = [minutes.get(e, float("nan")) for e in ckpts]
    for (e, _), x, row in zip(ckpts.items(), xs, thetas, strict=True):
        print(f"| {e} | {x:.1f} | {row.median:.2f} | {row.p95:.2f} "
              f"| {100 * (1 - row.median / best['median']):+.1f}% "
              f"| {100 * (1 - row.p95 / best['p95']):+.1f}% |")
    ref = dict(zip(("median", "p95"), drift_reference(SCORE_SEED, args.agents, {}, args.motion),
                     strict=True))
    print(f"drift reference: median {ref['median']:.2f} m, p95 {ref['p95']:.2f} m")
    if args.png:
        draw(args.png, xs, thetas, best, ref, args.run.name, args.steps, how)


def draw(path: Path, xs: list[float], rows: list, best: dict[str, float],
         ref: dict[str, float], name: str, steps: int, how: str) -> None:
    """Median and p95 of each checkpoint against training minutes, the best baseline dashed and
    the drift reference dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("median", "p95"), strict=True):
        ax.plot(xs, [getattr(r, metric) for r in rows], "o-",
                label=f"theta, {steps} step{'s' * (steps != 1)}")
        ax.axhline(best[metric], ls="--", color="tab:red", label=f"best baseline (tuned {how})")
        ax.axhline(ref[metric], ls=":", color="tab:gray", label="drift reference")
        # Issue 21's target: 5% below the best baseline on both metrics.
        ax.axhline(0.95 * best[metric], ls="-.", color="tab:green",
                   label="target (5% below the baseline)")
        ax.set_xlabel("training CPU-minutes (2 cores)")
        ax.set_ylabel(f"{metric} error (m)")
        ax.set_title(f"{metric} error on 60 unseen agents")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(f"learning curve of {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
