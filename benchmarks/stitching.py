"""DF, BF and independent chunk stitching side by side (issue 21, ``--stitch``).

Scores the built-in model (or ``--model``) on unseen synthetic agents (the synth defaults,
seed 99 as ``quality.py``, but no lost fixes, so every segment goes to the model as it is and
each point's chunk position is known) with each ``--stitch`` at each step count: median, p95
and max error (m), the mean error of the first payload byte of every chunk after a series'
first (the points right after a head buckle) and of each chunk's last byte, and the time
against independent in the same run. Gains against independent carry a 90% bootstrap interval
over whole agents ("level" when it includes 0).

    python benchmarks/stitching.py                       # the built-in model, 30 agents
    python benchmarks/stitching.py --agents 60 --steps 1,10
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SCORE_SEED = 99


def chunk_positions(scored, settings) -> np.ndarray:
    """Each scored point's position in the chunk that produced it (-1: passed through), as the
    pipeline cuts them (every segment direct: no lost fixes)."""
    from theta_cli.infer import chunks
    from theta_cli.infer.segments import plan_segments

    plan = plan_segments(scored.points(), settings.gap_s)
    cplan = chunks.plan_chunks(plan.lengths, settings.K, settings.Q1, settings.Q2)
    pos = np.full(scored.n_points, -1, dtype=np.int64)
    first = np.zeros(scored.n_points, dtype=bool)
    pos[plan.order] = cplan.point_pos
    first[plan.order] = cplan.level[cplan.point_chunk] == 0
    return np.where(first & (pos < 8 * settings.Q1), -1, pos)  # a series' start has no buckle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--agents", type=int, default=30)
    ap.add_argument("--steps", default="1,10")
    args = ap.parse_args()

    from theta_cli.artifact.load import load_model
    from theta_cli.data.synth import SynthConfig, synthesize
    from theta_cli.eval.bench_data import read_pairs
    from theta_cli.eval.bootstrap import Resampler, gain_interval, verdict
    from theta_cli.eval.trajectory import latlon_error
    from theta_cli.infer.pipeline import denoise_points
    from theta_cli.infer.request import DenoiseSettings
    from theta_cli.infer.runner import FlowRunner
    from theta_cli.infer.stitch import STITCHES

    loaded = load_model(args.model)
    cfg = loaded.config
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "score"
        synthesize(SynthConfig(agents=args.agents, files=1, seed=SCORE_SEED, missing_rate=0.0),
                   out)  # fmt: skip
        scored = read_pairs(out, "--pairs")
    agents = np.repeat(scored.ids, np.diff(scored.bounds))
    res = Resampler.of(agents)
    print(f"{loaded.description}; {args.agents} agents, {scored.n_points:,} points, no lost "
          f"fixes; K={cfg.K} Q1={cfg.Q1} Q2={cfg.Q2}")
    print(f"{'steps':>5} {'stitch':12} {'median':>7} {'p95':>7} {'max':>7} {'byte 1':>7} "
          f"{'last':>7} {'time':>6}  gain vs independent (median; p95) [90% interval]")
    for steps in [int(s) for s in args.steps.split(",")]:
        base = None
        for stitch in STITCHES:
            s = DenoiseSettings(K=cfg.K, Q1=cfg.Q1, Q2=cfg.Q2, steps=steps, stitch=stitch,
                                fix_interval_s=float(loaded.fix_interval_s))  # fmt: skip
            s.validate()
            pos = chunk_positions(scored, s)
            start = time.perf_counter()
            (r,) = denoise_points([scored.points()], FlowRunner(loaded.model, steps), s)
            took = time.perf_counter() - start
            e = latlon_error(r.out.lat, r.out.lon, scored.clean_lat, scored.clean_lon)
            head = (pos >= 8 * cfg.Q1) & (pos < 8 * cfg.Q1 + 8)
            last = pos >= cfg.K - 8 * cfg.Q2 - 8
            q = res.quantiles(e, (0.5, 0.95))
            if base is None:
                base = (q, took)
                note = ""
            else:
                parts = []
                for k in range(2):  # median, p95
                    lo, hi = gain_interval(base[0][:, k], q[:, k])
                    parts.append(f"{verdict(lo, hi)} [{lo:+.1f}, {hi:+.1f}]%")
                note = "; ".join(parts)
            print(f"{steps:5d} {stitch:12} {np.median(e):7.3f} {np.quantile(e, 0.95):7.3f} "
                  f"{e.max():7.2f} {e[head].mean():7.3f} {e[last].mean():7.3f} "
                  f"{took / base[1]:5.2f}x  {note}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
