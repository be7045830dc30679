"""Does a robust pre-pass before the flow help? (issue 21, Part 2 lever "gate gross outliers").

theta with the shipped pre-pass (``infer.prepass``, as ``theta denoise`` runs it) against theta
without it (``--no-outlier-prepass``) and against adaptive RTS tuned on its own tune set,
overall and per situation, with 90% bootstrap intervals over agents.

    python benchmarks/prepass.py --settings default,bursts --agents 30
    python benchmarks/prepass.py --settings default --sampling smart
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from quality import SCORE_SEED, SETTINGS, TUNE_SEED, make_pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", default="default,bursts")
    ap.add_argument("--agents", type=int, default=30)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--sampling", default="regular", choices=("regular", "smart"))
    args = ap.parse_args()

    from theta_cli.artifact.load import load_model
    from theta_cli.eval.bench_data import read_pairs
    from theta_cli.eval.bootstrap import Resampler, gain_interval, verdict
    from theta_cli.eval.situations import SITUATIONS, label
    from theta_cli.eval.trajectory import latlon_error
    from theta_cli.eval.tuning import tune_adaptive_rts
    from theta_cli.infer.pipeline import denoise_points
    from theta_cli.infer.request import DenoiseSettings
    from theta_cli.infer.runner import FlowRunner
    from theta_cli.smooth.adaptive import adaptive_rts_smooth

    loaded = load_model(None)
    cfg = loaded.config

    def settings(on: bool) -> DenoiseSettings:
        return DenoiseSettings(K=cfg.K, Q1=cfg.Q1, Q2=cfg.Q2, steps=args.steps, prepass=on,
                               fix_interval_s=float(loaded.fix_interval_s))  # fmt: skip

    for name in args.settings.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            noise = SETTINGS[name]
            tune = read_pairs(make_pairs(Path(tmp) / "t", TUNE_SEED, args.agents, noise,
                                         "curvy", args.sampling), "tune")  # fmt: skip
            scored = read_pairs(make_pairs(Path(tmp) / "s", SCORE_SEED, args.agents, noise,
                                           "curvy", args.sampling), "score")  # fmt: skip
        tuned = tune_adaptive_rts(tune.tracks)
        r, gate = float(tuned.params["r"]), float(tuned.params["gate"])
        a_lat, a_lon = scored.to_latlon(adaptive_rts_smooth(scored.tracks, r, gate))
        runs, n_marked = {}, 0
        for label_, on in (("theta", False), ("theta + pre-pass", True)):
            (res,) = denoise_points([scored.points()], FlowRunner(loaded.model, args.steps),
                                    settings(on))  # fmt: skip
            runs[label_] = latlon_error(res.out.lat, res.out.lon, scored.clean_lat,
                                        scored.clean_lon)  # fmt: skip
            n_marked += res.outliers
        runs["adaptive RTS"] = latlon_error(a_lat, a_lon, scored.clean_lat, scored.clean_lon)
        codes = label(scored.tracks)
        agents = np.repeat(scored.ids, np.diff(scored.bounds))
        rs = Resampler.of(agents)
        print(f"setting {name}, {args.sampling} sampling: adaptive RTS tuned r={r:g} "
              f"gate={gate:g}; the pre-pass replaced {n_marked} of {scored.n_points} fixes; "
              f"theta {args.steps} step(s)")
        masks = {"all": None} | {sit: codes == i for i, sit in enumerate(SITUATIONS)}
        for where, mask in masks.items():
            sel = slice(None) if mask is None else mask
            line = [f"  {where:13}"]
            for m, e in runs.items():
                line.append(f"{m}: {np.median(e[sel]):.2f}/{np.quantile(e[sel], 0.95):.2f}")
            base = rs.quantiles(runs["theta"], (0.5, 0.95), mask)
            pre = rs.quantiles(runs["theta + pre-pass"], (0.5, 0.95), mask)
            gains = [gain_interval(base[:, k], pre[:, k]) for k in range(2)]
            line.append("pre-pass vs theta: " + ", ".join(
                f"{verdict(lo, hi)} [{lo:+.1f},{hi:+.1f}]%" for lo, hi in gains))
            print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
