"""The denoising-quality check of the default model: `theta bench` at three noise settings.

For each setting, two synthetic sets of agents no model trained on (their own seeds): one to
tune the baselines on, one to score. Both go through the real bench engine
(``theta_cli.eval.bench.run``), so the numbers are what ``theta bench --pairs ... --tune-pairs``
prints.

    settings   default  the synth defaults (white 4 m, drift 3 m, tau 30 s, outliers 0.2%)
               light    white 2 m, drift 1.5 m
               heavy    white 6 m, drift 5 m, tau 60 s, outliers 1%
               no-drift the defaults without the drift (a check of what is left once the
                        correlated part is gone; not one of the issue's three settings)

Each setting also prints the *drift floor*: the error of a track that keeps the receiver's
drift but has the white jitter and outlier jumps removed exactly, on the same scored agents.
It is what a denoiser reaches if it removes everything except the drift, which within a
chunk looks like motion.

    python benchmarks/quality.py                       # the built-in model
    python benchmarks/quality.py --model models/<run> --steps 1,10 --symmetries 8
    python benchmarks/quality.py --motion legs         # score on the older straight-leg motion
    python benchmarks/quality.py --sampling smart      # Garmin smart recording: fixes 1-8 s apart

``--sampling`` sets how both sets (tune and score) are sampled; the drift floor is rebuilt with
the same sampling, so it is the floor of the very agents scored. The RTS baselines use each
step's real time difference; Savitzky-Golay works by sample index (its window counts points),
so on smart sampling one window spans a varying stretch of time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

SETTINGS = {
    "default": {},
    "light": {"white_sigma": 2.0, "drift_sigma": 1.5},
    "heavy": {"white_sigma": 6.0, "drift_sigma": 5.0, "drift_tau": 60.0, "outlier_rate": 0.01},
    "no-drift": {"drift_sigma": 0.0},
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


def drift_floor(
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
    ap.add_argument("--json", type=Path, help="also write the summaries here")
    args = ap.parse_args()

    from rich.console import Console

    from theta_cli.core import logs
    from theta_cli.eval import bench

    logs.setup()
    console = Console()
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
                pairs=score, tune_pairs=tune, fig_dir=Path(tmp) / name / "fig", record=False,
                symmetries=args.symmetries, builtin=args.model is None or args.with_builtin,
            )
            result = bench.run(req, log=lambda _msg: None)
            floor = drift_floor(SCORE_SEED, args.agents, noise, args.motion, args.sampling)
            console.rule(f"setting: {name} {noise or '(synth defaults)'}, "
                         f"{args.motion} motion, {args.sampling} sampling")
            for part in bench.render(result):
                console.print(part)
            console.print(f"drift floor (white and outliers removed exactly, drift kept): "
                          f"median {floor[0]:.2f} m, p95 {floor[1]:.2f} m")
            summary[name] = {"noise": noise, "sampling": args.sampling,
                             "drift_floor": {"median": floor[0], "p95": floor[1]},
                             "gains": {k: g.as_dict() for k, g in result.gains.items()}}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
