"""Inference levers of one model on unseen synthetic agents: buckle sizes, Euler steps, and
averaging two overlapping chunkings instead of keeping one chunk's payload per point.

    python benchmarks/inference_levers.py                   # the built-in model
    python benchmarks/inference_levers.py --model models/<run> --agents 30

The score set is `theta data synth --seed 99` with the synth defaults (as benchmarks/quality.py);
every variant runs through ``infer.engine.denoise_points``, as `theta denoise` does.

"two chunkings" runs the model on every track twice: once as usual, once on the track without
its first P/2 points (P = the payload), so the second chunking's boundaries fall in the middle
of the first one's payloads; each point takes the mean of its two estimates (the first P/2
points of a track have only one). It costs two passes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SCORE_SEED = 99


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="a run, checkpoint or export [the built-in]")
    ap.add_argument("--agents", type=int, default=60)
    ap.add_argument("--motion", default=None, help="synth motion of the score set [default]")
    args = ap.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from theta_cli.artifact.load import load_model
    from theta_cli.data.synth import SynthConfig, synthesize
    from theta_cli.eval.bench_data import read_pairs
    from theta_cli.eval.trajectory import latlon_error
    from theta_cli.infer.chunks import payload
    from theta_cli.infer.pipeline import denoise_points
    from theta_cli.infer.request import DenoiseSettings
    from theta_cli.infer.runner import FlowRunner
    from theta_cli.tracks.points import Points

    torch.set_num_threads(2)
    loaded = load_model(args.model)
    cfg = loaded.config
    with tempfile.TemporaryDirectory() as tmp:
        extra = {"motion": args.motion} if args.motion else {}
        synthesize(SynthConfig(agents=args.agents, files=1, seed=SCORE_SEED, **extra), Path(tmp))
        scored = read_pairs(Path(tmp), "--pairs")
    pts = scored.points()
    n_tracks = len(scored.tracks)

    def error(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:  # as `theta bench` scores
        return latlon_error(lat, lon, scored.clean_lat, scored.clean_lon)

    def run(steps: int, q1: int, q2: int, points: Points) -> tuple[np.ndarray, np.ndarray]:
        settings = DenoiseSettings(K=cfg.K, Q1=q1, Q2=q2, steps=steps,
                                   fix_interval_s=float(loaded.fix_interval_s))
        settings.validate()
        runner = FlowRunner(loaded.model, steps, 256, "cpu", 1)
        (res,) = denoise_points([points], runner, settings)
        return res.out.lat, res.out.lon

    def two_chunkings(steps: int, q1: int, q2: int) -> tuple[np.ndarray, np.ndarray]:
        lat, lon = run(steps, q1, q2, pts)
        shift = payload(cfg.K, q1, q2) // 2
        first = scored.bounds[:-1]
        pos = np.arange(len(pts)) - np.repeat(first, np.diff(scored.bounds))
        keep = pos >= shift
        sub = Points(pts.lat[keep], pts.lon[keep], pts.time[keep], pts.group[keep], n_tracks)
        lat2, lon2 = run(steps, q1, q2, sub)
        lat, lon = lat.copy(), lon.copy()
        lat[keep] = 0.5 * (lat[keep] + lat2)
        lon[keep] = 0.5 * (lon[keep] + lon2)
        return lat, lon

    variants = [
        (f"model buckles Q1={cfg.Q1} Q2={cfg.Q2}, 10 steps", lambda: run(10, cfg.Q1, cfg.Q2, pts)),
        (f"model buckles Q1={cfg.Q1} Q2={cfg.Q2}, 1 step", lambda: run(1, cfg.Q1, cfg.Q2, pts)),
        ("Q1=0 Q2=0, 10 steps", lambda: run(10, 0, 0, pts)),
        ("Q1=2 Q2=2, 10 steps", lambda: run(10, 2, 2, pts)),
        ("Q1=4 Q2=4, 10 steps", lambda: run(10, 4, 4, pts)),
        ("Q1=8 Q2=8, 10 steps", lambda: run(10, 8, 8, pts)),
        (f"two chunkings averaged, Q1={cfg.Q1} Q2={cfg.Q2}, 10 steps",
         lambda: two_chunkings(10, cfg.Q1, cfg.Q2)),
        ("two chunkings averaged, Q1=2 Q2=2, 10 steps", lambda: two_chunkings(10, 2, 2)),
    ]
    raw = error(scored.lat, scored.lon)
    table = Table(title=f"inference levers: {n_tracks} unseen agents, {len(pts):,} points (m)")
    for col in ("variant", "median", "p95", "max", "time vs first"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    table.add_row("raw", f"{np.median(raw):.2f}", f"{np.percentile(raw, 95):.2f}",
                  f"{raw.max():.1f}", "-")
    base_s = None
    for label, fn in variants:
        t0 = time.perf_counter()
        lat, lon = fn()
        sec = time.perf_counter() - t0
        base_s = base_s or sec
        e = error(lat, lon)
        table.add_row(label, f"{np.median(e):.2f}", f"{np.percentile(e, 95):.2f}",
                      f"{e.max():.1f}", f"{sec / base_s:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
