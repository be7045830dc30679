"""Two training-free ways to put a trained model on top of adaptive RTS (issue 21's "learned
correction" lever, the half that needs no new model type):

    blend w         w * theta + (1 - w) * adaptive RTS, point by point
    flow from S     start the flow at the adaptive-RTS track S as if it were X_t at t = t0, and
                    integrate from t0 to 0 (one Euler step: X0_hat = S - t0 * theta(S, t0))

On ``quality.py``'s sets of a setting (tune seed 98, score seed 99), adaptive RTS tuned per
travel class, theta at 1 step with the outlier pre-pass (the built-in model unless ``--model``).
Gains are against that adaptive RTS, with 90% intervals from resampling whole agents.

    python benchmarks/correction_levers.py --setting default
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    import quality as Q
    from context_ablation import gain

    from theta_cli.eval import bench
    from theta_cli.eval.baselines import BASELINES
    from theta_cli.eval.bench_score import _error, _estimates, run_theta
    from theta_cli.eval.bench_types import BenchRequest
    from theta_cli.infer.pipeline import denoise_points
    from theta_cli.infer.request import DenoiseOptions
    from theta_cli.infer.runner import FlowRunner
    from theta_cli.tracks.points import Points

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setting", default="default", choices=tuple(Q.SETTINGS))
    ap.add_argument("--agents", type=int, default=60)
    ap.add_argument("--model", default=None, help="a run, checkpoint or export [the built-in]")
    args = ap.parse_args()

    noise = Q.SETTINGS[args.setting]
    with tempfile.TemporaryDirectory() as tmp:
        tune = Q.make_pairs(Path(tmp) / "tune", Q.TUNE_SEED, args.agents, noise, "curvy")
        score = Q.make_pairs(Path(tmp) / "score", Q.SCORE_SEED, args.agents, noise, "curvy")
        req = BenchRequest(models=[args.model] if args.model else [], steps=[1], pairs=score,
                           tune_pairs=tune, record=False, fig_dir=Path(tmp) / "fig",
                           builtin=args.model is None, tune_per_class=True, charts=False)
        loaded = bench.load(req, lambda _m: None, {})
    sc = loaded.data.scored
    tunings = bench.tune(loaded.data.tune, sc, req.criterion, True)
    a_est = _estimates(sc, BASELINES["adaptive_rts"], "adaptive_rts", tunings)
    a_lat, a_lon = sc.to_latlon(a_est)
    base = _error(sc, a_lat, a_lon)
    model = loaded.models[0]
    row = run_theta(sc, model, 1, req, "cpu", loaded.classes)
    t_est = [sc.to_enu(row.est[0], row.est[1], i) for i in range(len(sc.tracks))]
    agents = np.repeat(np.arange(len(sc.tracks)), np.diff(sc.bounds))

    rows = {"adaptive RTS (per class)": base, "theta (1 step)": row.errors}
    for w in (0.3, 0.5, 0.7):
        est = [w * t + (1 - w) * a for t, a in zip(t_est, a_est, strict=True)]
        rows[f"blend w={w}"] = _error(sc, *sc.to_latlon(est))
    pts = sc.points()
    on_s = Points(a_lat, a_lon, pts.time, pts.group, pts.n_tracks)
    settings = DenoiseOptions(steps=1, prepass=False).settings(model.loaded, "cpu")
    for t0 in (0.25, 0.5):
        net = model.loaded.model

        def from_t0(x, t, net=net, t0=t0):  # noqa: ANN001, ANN202 (tensors)
            # The runner integrates t = 1 -> 0; scaling maps that onto t0 -> 0.
            return t0 * net(x, t * t0)

        (res,) = denoise_points([on_s], FlowRunner(from_t0, 1), settings, names=["S"])
        rows[f"flow from S, t0={t0}"] = _error(sc, res.out.lat, res.out.lon)

    print(f"setting {args.setting}, {len(sc.tracks)} agents, {sc.n_points:,} points; gain vs "
          "adaptive RTS tuned per class [90% interval]")
    print("| method | median (m) | p95 (m) | gain median | gain p95 |")
    print("|---|---|---|---|---|")
    for label, e in rows.items():
        g = [gain(base, e, agents, q) for q in (0.5, 0.95)]
        print(f"| {label} | {np.median(e):.3f} | {np.quantile(e, 0.95):.3f} | "
              + " | ".join(f"{p:+.1f}% [{lo:+.1f}, {hi:+.1f}]" for p, lo, hi in g) + " |")


if __name__ == "__main__":
    main()
