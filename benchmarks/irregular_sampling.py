"""What `theta denoise` does to noise-free tracks under uneven sampling (issue 20 §1).

A noise-free track should come back where it was: every point the model moves is moved off the
true path. Per sampling and motion (walk 1.4 m/s, bike 6 m/s, car 25 m/s; straight and curving)
it prints the median and p95 move (m) and the p95 step-to-step speed change (m/s, speeds from
consecutive fixes with their real time steps) before and after denoising.

    samplings  1hz-dropouts  1 Hz, 10% of fixes lost (seeded)
               alt-1-7       steps alternating 1 s and 7 s
               every10th-5s  1 Hz, every 10th step 5 s
               smart         Garmin "smart recording": random whole steps of 1-8 s (seeded)
               steady-1s, steady-3s, fleet-5s, 10hz

    python benchmarks/irregular_sampling.py                 # the built-in model, --steps 10
    python benchmarks/irregular_sampling.py --steps 1 --duration 300
"""

from __future__ import annotations

import argparse

import numpy as np

from theta_cli.tracks.enu import from_enu, to_enu

CENTER = (48.137, 11.575)
T0 = 1_767_225_600.0
SPEEDS = {"walk": 1.4, "bike": 6.0, "car": 25.0}


def sample_times(name: str, duration: float, seed: int = 0) -> np.ndarray:
    """Fix times (s from the start) of one sampling over ``duration`` seconds."""
    rng = np.random.default_rng(seed)
    if name == "1hz-dropouts":
        t = np.arange(0.0, duration + 1)
        keep = rng.random(len(t)) >= 0.1
        keep[0] = keep[-1] = True
        return t[keep]
    if name == "alt-1-7":
        steps = np.resize([1.0, 7.0], int(duration / 4) + 1)
    elif name == "every10th-5s":
        steps = np.where(np.arange(int(duration)) % 10 == 9, 5.0, 1.0)
    elif name == "smart":
        steps = rng.integers(1, 9, int(duration)).astype(np.float64)
    elif name.startswith("steady-") or name == "fleet-5s" or name == "10hz":
        dt = {"steady-1s": 1.0, "steady-3s": 3.0, "fleet-5s": 5.0, "10hz": 0.1}[name]
        return np.arange(0.0, duration + dt / 2, dt)
    else:
        raise ValueError(name)
    t = np.concatenate([[0.0], np.cumsum(steps)])
    return t[t <= duration]


SAMPLINGS = ("1hz-dropouts", "alt-1-7", "every10th-5s", "smart", "steady-1s", "steady-3s",
             "fleet-5s", "10hz")  # fmt: skip


def true_path(t: np.ndarray, speed: float, curving: bool, seed: int = 0) -> np.ndarray:
    """East/north metres at times ``t`` of motion at a constant ``speed``: a straight line, or
    a road curving gently both ways (turn rate up to a radius of about 8 x speed^1.3)."""
    rng = np.random.default_rng(seed + 1000)
    h0 = rng.uniform(0, 2 * np.pi)
    if not curving:
        return np.stack([speed * t * np.sin(h0), speed * t * np.cos(h0)], axis=1)
    fine = np.arange(0.0, t.max() + 0.02, 0.01)
    rate = min(0.25, 1.0 / (8.0 * speed**0.3))  # rad/s: walk ~0.1, car ~0.05
    heading = h0 + rate * 40.0 * np.sin(2 * np.pi * fine / 80.0) / (2 * np.pi * 40.0 / 80.0)
    e = np.concatenate([[0.0], np.cumsum(speed * 0.01 * np.sin(heading[:-1]))])
    n = np.concatenate([[0.0], np.cumsum(speed * 0.01 * np.cos(heading[:-1]))])
    return np.stack([np.interp(t, fine, e), np.interp(t, fine, n)], axis=1)


def p95_speed_change(xy: np.ndarray, t: np.ndarray) -> float:
    """p95 of |speed(i+1) - speed(i)|, speeds from consecutive fixes and their real steps."""
    v = np.hypot(*np.diff(xy, axis=0).T) / np.diff(t)
    return float(np.quantile(np.abs(np.diff(v)), 0.95))


def denoise_track(model, settings, t: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Denoise one track (ENU metres about CENTER) with the real pipeline; ENU metres back."""
    from theta_cli.infer.pipeline import denoise_points
    from theta_cli.infer.runner import FlowRunner
    from theta_cli.tracks.points import Points

    lat, lon = from_enu(xy[:, 0], xy[:, 1], *CENTER)
    p = Points(lat, lon, T0 + t, np.zeros(len(t), dtype=np.int64), 1)
    runner = FlowRunner(model, settings.steps, settings.batch_size, settings.device)
    (res,) = denoise_points([p], runner, settings)
    return to_enu(res.out.lat, res.out.lon, *CENTER)


def measure(model, settings, sampling: str, speed: float, curving: bool, duration: float,
            seed: int = 0) -> dict[str, float]:  # fmt: skip
    t = sample_times(sampling, duration, seed)
    xy = true_path(t, speed, curving, seed)
    out = denoise_track(model, settings, t, xy)
    move = np.hypot(*(out - xy).T)
    return {
        "n": len(t),
        "median": float(np.median(move)),
        "p95": float(np.quantile(move, 0.95)),
        "dv_before": p95_speed_change(xy, t),
        "dv_after": p95_speed_change(out, t),
    }


def main() -> None:
    from theta_cli.artifact.load import load_model
    from theta_cli.infer.request import DenoiseSettings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model reference (default: the built-in)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds per track")
    ap.add_argument("--samplings", default=",".join(SAMPLINGS))
    args = ap.parse_args()
    loaded = load_model(args.model)
    cfg = loaded.config
    settings = DenoiseSettings(K=cfg.K, Q1=cfg.Q1, Q2=cfg.Q2,
                               fix_interval_s=float(loaded.fix_interval_s), steps=args.steps)
    settings.validate()
    print(f"{loaded.description}, fix interval {settings.fix_interval_s:g} s, "
          f"--steps {args.steps}, {args.duration:g} s per track; noise-free input")
    print(f"{'sampling':14} {'motion':13} {'fixes':>6} {'med m':>7} {'p95 m':>7} "
          f"{'p95 dv before':>14} {'after':>7}")
    for sampling in args.samplings.split(","):
        for mode, speed in SPEEDS.items():
            for curving in (False, True):
                r = measure(loaded.model, settings, sampling, speed, curving, args.duration)
                motion = f"{mode} {'curve' if curving else 'line'}"
                print(f"{sampling:14} {motion:13} {r['n']:6d} {r['median']:7.2f} "
                      f"{r['p95']:7.2f} {r['dv_before']:14.3f} {r['dv_after']:7.3f}",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
