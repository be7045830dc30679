"""The denoising-quality check of the default model: `theta bench` at three noise settings.

For each setting, two synthetic sets of agents no model trained on (their own seeds): one to
tune the baselines on, one to score. Both go through the real bench engine
(``theta_cli.eval.bench.run``), so the numbers are what ``theta bench --pairs ... --tune-pairs``
prints.

    settings   default  the synth defaults (white 4 m, drift 3 m, tau 30 s, outliers 0.2%)
               light    white 2 m, drift 1.5 m
               heavy    white 6 m, drift 5 m, tau 60 s, outliers 1%
               bursts   the defaults with multipath bursts of 1-10 fixes at 10-100 m on 0.5%
                        of the fixes (instead of the default outliers)
               no-drift the defaults without the drift (a check of what is left once the
                        correlated part is gone; not one of the issue's three settings)

Each setting also prints the *drift reference*: the error of a track that keeps the
receiver's drift but has the white jitter and outlier jumps removed exactly, on the same scored
agents. It is a yardstick, not a bound: it does not depend on the motion, so it says nothing of
what the motion lets a denoiser recover. A denoiser can beat it, and does where the motion is
predictable enough to tell the drift from it: on near-straight legs, on walkers, on real
recorded motion. On the curvy synth motion it is a fair measure of how much of the error is the
slow drift.

Each bench prints its gains with 90% intervals (resampling whole agents; "level" when the
interval includes 0) and a per-situation table; ``--tune-per-class`` tunes every baseline per
travel class (walk, cycle, drive) instead of once on the pooled tuning set.

    python benchmarks/quality.py                       # the built-in model
    python benchmarks/quality.py --model models/<run> --steps 1,10 --symmetries 8
    python benchmarks/quality.py --motion legs         # score on the older straight-leg motion
    python benchmarks/quality.py --sampling smart      # Garmin smart recording: fixes 1-8 s apart
    python benchmarks/quality.py --tune-per-class      # baselines tuned per travel class

``--sampling`` sets how both sets (tune and score) are sampled; the drift reference is rebuilt
with the same sampling, so it is that of the very agents scored. Every baseline uses the real
timestamps: the RTS smoothers each step's time difference, Savitzky-Golay a window in seconds
on an even grid (a track is resampled to it and back).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

SETTINGS = {
    "default": {},
    "light": {"white_sigma": 2.0, "drift_sigma": 1.5},
    "heavy": {"white_sigma": 6.0, "drift_sigma": 5.0, "drift_tau": 60.0, "outlier_rate": 0.01},
    "no-drift": {"drift_sigma": 0.0},
    # Multipath bursts: 1-10 fixes at 10-100 m, 0.5% of fixes (a burst starts at 0.5% / 5.5,
    # the mean burst length), beside the default white noise and drift.
    "bursts": {"outlier_rate": 0.005 / 5.5, "outlier_min": 10.0, "outlier_max": 100.0,
               "outlier_max_fixes": 10},
}
MAIN_SETTINGS = ("default", "light", "heavy")
TUNE_SEED, SCORE_SEED = 98, 99  # apart from the training data's seed (0)


def make_pairs(
    out: Path, seed: int, agents: int, noise: dict, motion: str, sampling: str = "regular"
) -> Path:
    from theta_cli.data.noise import NoiseModel
    from theta_cli.data.synth import SynthConfig, synthesize

    cfg = SynthConfig(agents=agents, files=1, seed=seed, motion=motion, sampling=sampling)
    synthesize(cfg, out, noise=NoiseModel(**noise))
    return out


def drift_reference(
    seed: int, agents: int, noise: dict, motion: str, sampling: str = "regular"
) -> tuple[float, float]:
    """Median and p95 of |drift| over every fix of the scored agents: the error left when the
    white jitter and the outliers are removed exactly and the drift is not.

    The agents are rebuilt by ``synth.agent_draws``, which synth itself writes them from, so
    these are the very drifts inside the scored pairs.
    """
    import numpy as np

    from theta_cli.data.noise import NoiseModel
    from theta_cli.data.synth import SynthConfig, agent_draws

    cfg = SynthConfig(agents=agents, files=1, seed=seed, motion=motion, sampling=sampling)
    model = NoiseModel(**noise)
    e = np.concatenate([np.hypot(*agent_draws(cfg, model, i)[1].drift.T) for i in range(agents)])
    return float(np.median(e)), float(np.percentile(e, 95))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="a run, checkpoint or export [the built-in]")
    ap.add_argument("--steps", default="1,10")
    ap.add_argument("--symmetries", type=int, default=1)
    ap.add_argument("--agents", type=int, default=60, help="agents per set (3,600 fixes each)")
    ap.add_argument("--settings", default=",".join(MAIN_SETTINGS),
                    help=f"comma list of {', '.join(SETTINGS)}")
    ap.add_argument("--with-builtin", action="store_true",
                    help="with --model: bench the built-in model beside it")
    ap.add_argument("--motion", default="curvy", help="synth motion of both sets: curvy or legs")
    ap.add_argument("--sampling", default="regular", choices=("regular", "smart"),
                    help="synth sampling of both sets: regular (1 Hz) or smart (fixes 1-8 s apart)")
    ap.add_argument("--tune-per-class", action="store_true",
                    help="tune every baseline per travel class (walk, cycle, drive)")
    ap.add_argument("--fig-dir", type=Path, default=None,
                    help="keep each setting's bench charts in FIG_DIR/<setting> [a temp dir]")
    ap.add_argument("--json", type=Path, help="also write the summaries here")
    args = ap.parse_args()

    from rich.console import Console

    from theta_cli.core import logs
    from theta_cli.eval import bench

    logs.setup()
    # Piped output gets 80 columns from Rich, too narrow for the per-situation table.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    summary = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.settings.split(","):
            noise = SETTINGS[name]
            tune = make_pairs(Path(tmp) / name / "tune", TUNE_SEED, args.agents, noise,
                              args.motion, args.sampling)
            score = make_pairs(Path(tmp) / name / "score", SCORE_SEED, args.agents, noise,
                               args.motion, args.sampling)
            req = bench.BenchRequest(
                models=[args.model] if args.model else [], steps=bench.parse_steps(args.steps),
                pairs=score, tune_pairs=tune, record=False,
                fig_dir=(args.fig_dir or Path(tmp)) / name / ("" if args.fig_dir else "fig"),
                symmetries=args.symmetries, builtin=args.model is None or args.with_builtin,
                tune_per_class=args.tune_per_class,
            )
            result = bench.run(req, log=lambda _msg: None)
            ref = drift_reference(SCORE_SEED, args.agents, noise, args.motion, args.sampling)
            console.rule(f"setting: {name} {noise or '(synth defaults)'}, "
                         f"{args.motion} motion, {args.sampling} sampling")
            for part in bench.render(result):
                console.print(part)
            console.print(f"drift reference (white and outliers removed exactly, drift kept; a "
                          f"yardstick a denoiser can beat): median {ref[0]:.2f} m, p95 "
                          f"{ref[1]:.2f} m")  # fmt: skip
            data = result.as_dict()
            summary[name] = {"noise": noise, "sampling": args.sampling,
                             "tuning": result.tuning,
                             "drift_reference": {"median": ref[0], "p95": ref[1]},
                             **{k: data[k] for k in ("gains", "class_gains", "situations",
                                                     "situation_gains")},
                             "situation_errors": {r["label"]: r["per_situation"]
                                                  for r in data["rows"]}}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


#: The old name, for scripts that still import it (benchmarks/learning_curve.py).


if __name__ == "__main__":
    main()
