"""Issue 21's "learned correction" lever, measured at equal compute: does giving the model the
adaptive-RTS track as context beat the plain flow?

Three arms train the same hybrid (hidden 96, 4 layers, K 256) for the same number of steps on
the same chunks (synth seed 2026, curvy motion, per-agent noise as the built-in recipe), with the
same optimiser, schedule and EMA; only what the network sees and how it is trained differ:

    plain flow   theta(X_t, t) with t ~ U[0, 1), scored at 1 Euler step (what theta ships)
    plain t=1    the same network trained at t = 1 only (one-step regression), so the context
                 arm's gain can be told apart from the gain of training for the one step used
    context      t = 1, the network also sees the adaptive-RTS track S of the whole segment
                 (r 8 m, gate 0.99: the fixed setting ``denoise`` could run, no truth used) and
                 predicts a correction on top of it: X0_hat = S - net(X1, S)

Scored on ``quality.py``'s scoring agents (seed 99, never trained on) at the synth defaults and
the bursts setting, chunked without overlap (the same cut for every arm), against adaptive RTS
at the same fixed setting and at the per-class tuning ``quality.py`` reports. Gains carry a 90%
interval from resampling whole agents.

    python benchmarks/context_ablation.py --steps 2000 --agents 400
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

K = 256
R_FIXED, GATE_FIXED = 8.0, 0.99


def make_set(seed: int, agents: int, noise: dict) -> dict[str, np.ndarray]:
    """Chunks [C, K, 2] of clean, noisy and adaptive-RTS positions (ENU about each chunk's first
    noisy fix), and each chunk's agent index."""
    from theta_cli.data.noise import NoiseModel
    from theta_cli.data.synth import SynthConfig, agent_draws
    from theta_cli.eval.trajectory import Track
    from theta_cli.smooth.adaptive import adaptive_rts_smooth

    cfg = SynthConfig(agents=agents, files=1, seed=seed)
    model = NoiseModel(**noise)
    tracks = []
    for i in range(agents):
        track, draw, _ = agent_draws(cfg, model, i)
        clean = np.c_[track.east, track.north]
        tracks.append(Track(str(i), track.times, clean + draw.total, clean))
    smoothed = adaptive_rts_smooth(tracks, R_FIXED, GATE_FIXED)  # reads t and xy only
    out: dict[str, list] = {"x0": [], "x1": [], "s": [], "agent": []}
    for i, (ser, s) in enumerate(zip(tracks, smoothed, strict=True)):
        n = len(ser) // K * K
        for lo in range(0, n, K):
            origin = ser.xy[lo]
            out["x0"].append(ser.clean[lo : lo + K] - origin)
            out["x1"].append(ser.xy[lo : lo + K] - origin)
            out["s"].append(s[lo : lo + K] - origin)
            out["agent"].append(i)
    return {k: np.asarray(v) for k, v in out.items()}


def build(arm: str):
    import torch
    from torch import nn

    from theta_cli.model.archs import ThetaHybrid
    from theta_cli.model.archs.layers import FEATURES_PER_COORD, V_SCALE_M, point_features

    class Context(ThetaHybrid):
        """The hybrid reading (X1, S): X0_hat = S - net, so v_hat = X1 - S + net."""

        def __init__(self) -> None:
            super().__init__(2, 96, 4, K, 0.0)
            self.stem = nn.Linear(FEATURES_PER_COORD * 4, 96)

        def forward(self, x, t, s):  # noqa: ANN001, ANN201
            c = self.time(t)
            h = self.stem(point_features(torch.cat([x, s], dim=-1)))
            return (x - s) + self.head(self.trunk(h, c), c) * V_SCALE_M

    torch.manual_seed(0)
    return Context() if arm == "context" else ThetaHybrid(2, 96, 4, K, 0.0)


def train(
    arm: str, data: dict, steps: int, batch: int = 64, ema_decay: float = 0.999
) -> tuple[object, float]:
    import torch

    from theta_cli.data.samples import huber_delta, point_magnitudes
    from theta_cli.engine.schedule import lr_at
    from theta_cli.flow import interpolate, per_point_error

    model = build(arm)
    ema = build(arm)
    ema.load_state_dict(model.state_dict())
    x0 = torch.from_numpy(data["x0"].astype(np.float32))
    x1 = torch.from_numpy(data["x1"].astype(np.float32))
    s = torch.from_numpy(data["s"].astype(np.float32))
    v = x1 - x0
    delta = huber_delta(point_magnitudes(v.numpy()))["delta"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    gen = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    for i in range(steps):
        idx = torch.randint(0, len(x0), (batch,), generator=gen)
        if arm == "plain_flow":
            t = torch.rand(batch, 1, generator=gen)
        else:
            t = torch.ones(batch, 1)
        xt = interpolate(x0[idx], v[idx], t)
        pred = model(xt, t, s[idx]) if arm == "context" else model(xt, t)
        err = per_point_error(pred, v[idx])
        loss = torch.nn.functional.huber_loss(err, torch.zeros_like(err), delta=delta)
        for g in opt.param_groups:
            g["lr"] = lr_at(i, 1e-3, 1e-5, 200, steps)  # default-model.json's schedule
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1 - ema_decay)
        if i % 500 == 0:
            print(f"  {arm} step {i}: loss {loss.item():.3f}", flush=True)
    return ema.eval(), time.perf_counter() - start


def denoise(arm: str, model, data: dict) -> np.ndarray:
    import torch

    x1 = torch.from_numpy(data["x1"].astype(np.float32))
    s = torch.from_numpy(data["s"].astype(np.float32))
    out = []
    with torch.inference_mode():
        for lo in range(0, len(x1), 256):
            xb, sb = x1[lo : lo + 256], s[lo : lo + 256]
            t = torch.ones(len(xb), 1)
            vh = model(xb, t, sb) if arm == "context" else model(xb, t)
            out.append((xb - vh).numpy())
    return np.concatenate(out).astype(np.float64)


def gain(base: np.ndarray, est: np.ndarray, agents: np.ndarray, q: float) -> tuple:
    """% lower than ``base`` at quantile q, with the bench's paired 90% interval over
    resampled whole agents (``eval.bootstrap``)."""
    from theta_cli.eval.bootstrap import Resampler, gain_interval

    res = Resampler.of(agents)
    lo, hi = gain_interval(res.quantiles(base, [q])[:, 0], res.quantiles(est, [q])[:, 0])
    return float(100 * (1 - np.quantile(est, q) / np.quantile(base, q))), lo, hi


def main() -> None:
    import quality as Q
    import torch

    from theta_cli.eval.trajectory import enu_error

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--agents", type=int, default=400, help="training agents (3,600 fixes each)")
    ap.add_argument("--arms", default="plain_flow,plain_t1,context")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    train_noise = {"vary_noise": 1.0}
    train_set = make_set(2026, args.agents, train_noise)
    print(f"train: {len(train_set['x0'])} chunks ({time.perf_counter() - t0:.0f} s)")
    scored = {name: make_set(Q.SCORE_SEED, 60, Q.SETTINGS[name]) for name in ("default", "bursts")}
    results: dict = {}
    models = {}
    for arm in args.arms.split(","):
        models[arm], secs = train(arm, train_set, args.steps)
        results.setdefault("train_seconds", {})[arm] = secs
        print(f"{arm}: trained {args.steps} steps in {secs:.0f} s", flush=True)
    for name, data in scored.items():
        agents = np.repeat(data["agent"], K)

        def err(est: np.ndarray, data: dict = data) -> np.ndarray:
            return enu_error(est, data["x0"]).ravel()

        base = err(data["s"])
        row = {"adaptive RTS (r 8, gate 0.99)": base}
        for arm, model in models.items():
            row[arm] = err(denoise(arm, model, data))
        results[name] = {}
        print(f"--- {name}: median / p95 (m), gain vs adaptive RTS (r 8, gate 0.99) [90%]")
        for label, e in row.items():
            g50, g95 = gain(base, e, agents, 0.5), gain(base, e, agents, 0.95)
            results[name][label] = {"median": float(np.median(e)),
                                    "p95": float(np.quantile(e, 0.95)),
                                    "gain_median": g50, "gain_p95": g95}
            print(f"{label:32s} {np.median(e):.3f} / {np.quantile(e, 0.95):.3f}  "
                  f"{g50[0]:+.1f}% [{g50[1]:+.1f}, {g50[2]:+.1f}]  "
                  f"{g95[0]:+.1f}% [{g95[1]:+.1f}, {g95[2]:+.1f}]")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
