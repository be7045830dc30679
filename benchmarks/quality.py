"""The denoising-quality check of the default model: `theta bench` at three noise settings.

For each setting, two synthetic sets of agents no model trained on (their own seeds): one to
tune the baselines on, one to score. Both go through the real bench engine
(``theta_cli.eval.bench.run``), so the numbers are what ``theta bench --pairs ... --tune-pairs``
prints.

    settings   default  the synth defaults (white 4 m, drift 3 m, tau 30 s, outliers 0.2%)
               light    white 2 m, drift 1.5 m
               heavy    white 6 m, drift 5 m, tau 60 s, outliers 1%

    python benchmarks/quality.py                       # the built-in model
    python benchmarks/quality.py --model models/<run> --steps 1,10 --symmetries 8
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
}
TUNE_SEED, SCORE_SEED = 98, 99  # apart from the training data's seed (0)


def make_pairs(out: Path, seed: int, agents: int, noise: dict) -> Path:
    from theta_cli.data.noise import NoiseModel
    from theta_cli.data.synth import SynthConfig, synthesize

    synthesize(SynthConfig(agents=agents, files=1, seed=seed), out, noise=NoiseModel(**noise))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="a run, checkpoint or export [the built-in]")
    ap.add_argument("--steps", default="1,10")
    ap.add_argument("--symmetries", type=int, default=1)
    ap.add_argument("--agents", type=int, default=60, help="agents per set (3,600 fixes each)")
    ap.add_argument("--settings", default=",".join(SETTINGS))
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
            tune = make_pairs(Path(tmp) / name / "tune", TUNE_SEED, args.agents, noise)
            score = make_pairs(Path(tmp) / name / "score", SCORE_SEED, args.agents, noise)
            req = bench.BenchRequest(
                models=[args.model] if args.model else [], steps=bench.parse_steps(args.steps),
                pairs=score, tune_pairs=tune, fig_dir=Path(tmp) / name / "fig", record=False,
                symmetries=args.symmetries, builtin=args.model is None,
            )
            result = bench.run(req, log=lambda _msg: None)
            console.rule(f"setting: {name} {noise or '(synth defaults)'}")
            for part in bench.render(result):
                console.print(part)
            summary[name] = {"noise": noise, "gains": {k: g.as_dict()
                                                       for k, g in result.gains.items()}}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
