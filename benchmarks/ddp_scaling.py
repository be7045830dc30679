"""DDP on the CPU over gloo: samples/s with 1 and 2 processes, and the DDP wrapper's overhead.

All in one run, on the same model and data:
    plain      1 process, no DDP                       (--threads threads)
    ddp x1     1 process, DistributedDataParallel at world size 1: the wrapper's own cost
    ddp x2     2 processes over gloo, each with the same per-rank batch (weak scaling) and
               threads // 2 threads, so both set-ups use the same cores

Steps are theta's training step (forward, Huber loss on the per-point error, backward, clip,
AdamW). Each set-up runs in a fresh process; the set-ups alternate over --passes passes; rates
are medians of the timed rounds (after one warm-up round each). The ratios are what to read on
a shared machine, not the absolute numbers.

    python benchmarks/ddp_scaling.py
    python benchmarks/ddp_scaling.py --hidden 128 --layers 4 --steps 40
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time


def _loop(args: argparse.Namespace, ddp: bool) -> list[float]:
    """Samples/s of ``repeats`` timed rounds in this process (after one warm-up round)."""
    import torch
    import torch.nn.functional as F

    from theta_cli.flow import per_point_error
    from theta_cli.model import build_theta

    torch.manual_seed(0)
    model = build_theta("hybrid", 2, args.hidden, args.layers, args.k, 0.1)["model"]
    module = model
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, args.k, 2, generator=gen) * 10
    v = torch.randn(args.batch, args.k, 2, generator=gen) * 3
    t = torch.rand(args.batch, generator=gen)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rates = []
    for r in range(args.repeats + 1):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            err = per_point_error(model(x, t).float(), v)
            loss = F.huber_loss(err, torch.zeros_like(err), delta=10.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
        if r:  # round 0 warms up allocator and kernels
            rates.append(args.steps * args.batch * world / (time.perf_counter() - t0))
    return rates


def _worker(args: argparse.Namespace) -> None:
    import warnings

    import torch
    import torch.distributed as dist

    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
    torch.set_num_threads(args.threads)
    if args.plain:
        print(json.dumps(_loop(args, ddp=False)), flush=True)
        return
    dist.init_process_group("gloo")
    rates = _loop(args, ddp=True)
    if dist.get_rank() == 0:
        print(json.dumps(rates), flush=True)
    dist.destroy_process_group()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(args: argparse.Namespace, world: int, threads: int, plain: bool = False) -> list[float]:
    port, procs = _port(), []
    for rank in range(world):
        env = {**os.environ, "WORLD_SIZE": str(world), "RANK": str(rank),
               "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        cmd = [sys.executable, __file__, "--worker", "--threads", str(threads),
               "--hidden", str(args.hidden), "--layers", str(args.layers), "--k", str(args.k),
               "--batch", str(args.batch), "--steps", str(args.steps),
               "--repeats", str(args.repeats)] + (["--plain"] if plain else [])
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed: {[p.returncode for p in procs]}")
    return json.loads(outs[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32, help="per-rank batch")
    ap.add_argument("--steps", type=int, default=30, help="steps per timed round")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads in all, per set-up")
    ap.add_argument("--passes", type=int, default=2, help="alternating passes over set-ups")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return
    # Each set-up in its own fresh process, the three alternated, so load drifts hit all alike.
    runs: dict[str, list[float]] = {"plain": [], "ddp1": [], "ddp2": []}
    for _ in range(args.passes):
        runs["plain"] += _spawn(args, 1, args.threads, plain=True)
        runs["ddp1"] += _spawn(args, 1, args.threads)
        runs["ddp2"] += _spawn(args, 2, max(1, args.threads // 2))
    plain, ddp1, ddp2 = (statistics.median(runs[k]) for k in ("plain", "ddp1", "ddp2"))
    print(f"hybrid hidden={args.hidden} layers={args.layers} K={args.k}, per-rank batch "
          f"{args.batch}, {args.threads} CPU threads in all "
          f"(median of {args.passes} x {args.repeats} rounds)")
    print(f"plain, 1 process      : {plain:9.1f} samples/s")
    print(f"DDP, 1 process (gloo) : {ddp1:9.1f} samples/s   wrapper overhead "
          f"{(plain / ddp1 - 1) * 100:+.1f}%")
    print(f"DDP, 2 processes      : {ddp2:9.1f} samples/s   {ddp2 / plain:.2f}x plain "
          f"(global batch {2 * args.batch})")


if __name__ == "__main__":
    main()
