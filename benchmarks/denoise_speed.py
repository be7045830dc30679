"""`theta denoise` throughput against a constant-velocity RTS smoother, and where theta's wall
time goes outside the model.

On one set of synthetic raw pairs (``theta data synth``'s tracks, 1 Hz), written as one CSV:

    theta file->file   denoise_files on the CSV: parse, segments, ENU, flow, stitch, write
    theta in memory    denoise_points on the parsed points (no parsing, no writing)
    RTS in memory      per track: ENU about its first fix, a constant-velocity Kalman filter
                       + RTS smoother (theta_cli.smooth.kalman when present, else the vectorised
                       one below), back to latitude/longitude

theta runs with ``--steps 1`` and with the default 10. "outside model" is the share of the
file->file wall time not spent in the model's forward passes (synchronised on CUDA): parsing,
segmenting, ENU both ways, stitching, writing. The model is an untrained hybrid (speed does not
depend on the weights) unless --model names a trained one.

    python benchmarks/denoise_speed.py                         # 1M points, hybrid hidden 32
    python benchmarks/denoise_speed.py --points 200000 --device cuda
    python benchmarks/denoise_speed.py --model models/hybrid_20261122_014458
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from theta_cli import flow
from theta_cli.tracks.enu import from_enu, to_enu


def synth_csv(path: Path, points: int, per_agent: int, seed: int) -> int:
    """Raw pairs of ``points`` fixes (agents of ``per_agent`` fixes) as one CSV; returns rows."""
    import pandas as pd

    from theta_cli.data.noise import NoiseModel
    from theta_cli.data.synth import SynthConfig, agent_frame

    agents = max(1, round(points / per_agent))
    cfg = SynthConfig(agents=agents, points=per_agent, files=1, seed=seed)
    noise = NoiseModel()
    parts = [pd.DataFrame(agent_frame(cfg, noise, i)[1]) for i in range(agents)]
    frame = pd.concat(parts, ignore_index=True)
    frame.to_csv(path, index=False, lineterminator="\n")
    return len(frame)


# ---- the RTS baseline -------------------------------------------------------------------------


def cv_rts(z: np.ndarray, dt: np.ndarray, q: float = 1.0, r: float = 5.0) -> np.ndarray:
    """Constant-velocity Kalman filter + RTS smoother, vectorised across tracks.

    z [T, B, 2] ENU fixes of B equal-length tracks, dt [T, B] seconds (dt[0] unused). The two
    axes share one 2x2 [position, velocity] covariance (F, Q, H, R act on them alike).
    """
    steps, n, _ = z.shape
    x = np.zeros((steps, n, 2, 2))  # [pos, vel] x axis
    p = np.zeros((steps, n, 2, 2))
    xp = np.zeros_like(x)
    pp = np.zeros_like(p)
    x[0, :, 0] = z[0]
    p[0] = np.diag([r * r, 30.0**2])
    for k in range(1, steps):
        d = dt[k][:, None, None]
        f = np.zeros((n, 2, 2))
        f[:, 0, 0] = f[:, 1, 1] = 1.0
        f[:, 0, 1] = d[:, 0, 0]
        qk = q * np.stack([np.stack([d**3 / 3, d**2 / 2], -1), np.stack([d**2 / 2, d], -1)],
                          -2)[:, 0, 0]  # fmt: skip
        xp[k] = f @ x[k - 1]
        pp[k] = f @ p[k - 1] @ f.transpose(0, 2, 1) + qk
        s = pp[k][:, 0, 0] + r * r
        gain = pp[k][:, :, 0] / s[:, None]
        x[k] = xp[k] + gain[:, :, None] * (z[k] - xp[k][:, 0])[:, None, :]
        p[k] = pp[k] - gain[:, :, None] * pp[k][:, 0:1, :]
    for k in range(steps - 2, -1, -1):
        d = dt[k + 1]
        f = np.zeros((n, 2, 2))
        f[:, 0, 0] = f[:, 1, 1] = 1.0
        f[:, 0, 1] = d
        c = p[k] @ f.transpose(0, 2, 1) @ np.linalg.inv(pp[k + 1])
        x[k] = x[k] + c @ (x[k + 1] - xp[k + 1])
        p[k] = p[k] + c @ (p[k + 1] - pp[k + 1]) @ c.transpose(0, 2, 1)
    return x[:, :, 0]


def rts_in_memory(lat, lon, time_s, bounds) -> tuple[np.ndarray, np.ndarray, str]:
    """Smooth every track: ENU about its first fix, RTS, back to degrees."""
    starts, ends = bounds[:-1], bounds[1:]
    seg = np.repeat(np.arange(len(starts)), ends - starts)
    xy = to_enu(lat, lon, lat[starts][seg], lon[starts][seg])
    try:
        from theta_cli.eval.trajectory import Track
        from theta_cli.smooth.kalman import rts_smooth

        tracks = [Track(str(i), time_s[a:b], xy[a:b]) for i, (a, b) in
                  enumerate(zip(starts, ends, strict=True))]  # fmt: skip
        est = np.concatenate(rts_smooth(tracks))
        which = "theta_cli.smooth.kalman.rts_smooth"
    except ImportError:
        est = np.empty_like(xy)
        lengths = ends - starts
        for n in np.unique(lengths):  # equal lengths batch together
            idx = np.flatnonzero(lengths == n)
            rows = starts[idx][None, :] + np.arange(n)[:, None]  # [T, B]
            dt = np.diff(time_s[rows], axis=0, prepend=0.0)
            est[rows] = cv_rts(xy[rows], dt)
        which = "benchmark's own vectorised RTS"
    new_lat, new_lon = from_enu(est[:, 0], est[:, 1], lat[starts][seg], lon[starts][seg])
    return new_lat, new_lon, which


# ---- theta --------------------------------------------------------------------------------------


def load(args: argparse.Namespace):
    """(model, K, Q1, Q2, fix interval, description)."""
    if args.model:
        from theta_cli.artifact.load import load_model

        m = load_model(args.model)
        return m.model, m.config.K, m.config.Q1, m.config.Q2, m.fix_interval_s, m.description
    import torch

    from theta_cli.model.zoo import build_theta

    torch.manual_seed(0)
    model = build_theta("hybrid", 2, args.hidden, args.layers, args.k, 0.0)["model"].eval()
    return model, args.k, 1, 0, 1.0, f"untrained hybrid hidden {args.hidden}, layers {args.layers}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000, help="fixes in the CSV")
    ap.add_argument("--per-agent", type=int, default=3600, help="fixes per track (1 Hz)")
    ap.add_argument("--model", default=None, help="a trained model (run, checkpoint, export)")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="median of this many runs")
    args = ap.parse_args()

    import torch

    from theta_cli.core import logs
    from theta_cli.infer.engine import denoise_files
    from theta_cli.infer.outputs import plan_jobs
    from theta_cli.infer.pipeline import denoise_points
    from theta_cli.infer.request import DenoiseSettings
    from theta_cli.infer.runner import FlowRunner
    from theta_cli.tracks.formats import read_track_file

    if args.threads:
        torch.set_num_threads(args.threads)
    logs.setup()
    logs.get_logger().setLevel("WARNING")
    model, k, q1, q2, interval, desc = load(args)

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "fleet.csv"
        t0 = time.perf_counter()
        n = synth_csv(src, args.points, args.per_agent, args.seed)
        print(f"{n:,} fixes in {src.stat().st_size / 1e6:.0f} MB of CSV "
              f"(synthesised in {time.perf_counter() - t0:.1f} s); model: {desc}, K={k}, "
              f"Q1={q1}, Q2={q2}; device {args.device}, {torch.get_num_threads()} threads")

        pts = read_track_file(src).points
        order = np.lexsort((pts.time, pts.group))
        bounds = np.flatnonzero(np.diff(pts.group[order])) + 1
        bounds = np.concatenate([[0], bounds, [len(order)]])
        # Warm-up: the first forward passes pay one-off kernel set-up.
        FlowRunner(model, 1, args.batch_size, args.device).displacement(
            np.zeros((args.batch_size, k, 2))
        )

        # Repeats interleave the methods, so load from other processes hits all alike;
        # every figure is the median over repeats of that method's wall time.
        rts_times: list[float] = []
        runs: dict[int, list[tuple[object, float]]] = {1: [], flow.DEFAULT_STEPS: []}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            _, _, which = rts_in_memory(pts.lat[order], pts.lon[order], pts.time[order], bounds)
            rts_times.append(time.perf_counter() - t0)
            for steps in runs:
                s = DenoiseSettings(k, q1, q2, interval, steps, args.batch_size, args.device)
                jobs = plan_jobs([src], Path(tmp) / f"clean_{steps}.csv", None, True)
                rep = denoise_files(jobs, model, s)
                runner = FlowRunner(model, steps, args.batch_size, args.device)
                t0 = time.perf_counter()
                denoise_points([pts], runner, s)
                runs[steps].append((rep, time.perf_counter() - t0))
        rts_s = statistics.median(rts_times)
        rows = []
        for steps, found in runs.items():
            found.sort(key=lambda pair: pair[0].seconds)  # type: ignore[attr-defined]
            rep = found[len(found) // 2][0]
            mem = statistics.median(m for _, m in found)
            rows.append((steps, rep, 1.0 - rep.model_seconds / rep.seconds, mem))

    print(f"\n{'method':<26}{'wall s':>9}{'points/s':>12}{'vs RTS':>9}{'outside model':>15}")
    print(f"{'RTS in memory':<26}{rts_s:>9.2f}{n / rts_s:>12,.0f}{1.0:>9.2f}{'':>15}")
    for steps, rep, outside, mem in rows:
        print(f"{f'theta file->file, {steps} st':<26}{rep.seconds:>9.2f}"
              f"{n / rep.seconds:>12,.0f}{rts_s / rep.seconds:>9.3f}{outside:>14.1%}")
        print(f"{f'theta in memory, {steps} st':<26}{mem:>9.2f}{n / mem:>12,.0f}"
              f"{rts_s / mem:>9.3f}{'':>15}")
    print(f"\nRTS: {which}; figures are medians of {args.repeats} repeat(s)")
    for steps, rep, _, _ in rows:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in rep.stage_seconds.items())
        print(f"theta {steps} step(s), stage seconds: {stages}; model forward "
              f"{rep.model_seconds:.2f} of {rep.seconds:.2f} s, {rep.chunks:,} chunks")


if __name__ == "__main__":
    main()
