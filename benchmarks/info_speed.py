"""`theta info <run>` on a run with many checkpoints: CSV + stat vs loading every checkpoint.

Fabricates a run (default: 200 checkpoints of a small hybrid model, with a full optimizer
state each, as training writes them) and times, in one process, alternating:

    csv     info.run_details(run): config.json, train_data.csv, stat of every checkpoint, and
            the parameter count from the newest checkpoint's shapes (memory-mapped)
    naive   what info would do without the CSV: checkpoint.load_checkpoint on every file to read
            epoch, step, lr and delta

Prints the medians and the ratio; asserts nothing about time. Page cache is warm for both (the
files were just written), which flatters the naive version: on a cold disk the gap is larger.

    python benchmarks/info_speed.py
    python benchmarks/info_speed.py --checkpoints 500 --hidden 64 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from theta_cli.artifact import checkpoint
from theta_cli.core import atomic, csvlog
from theta_cli.core.config import RunConfig, TrainConfig
from theta_cli.core.layout import RunLayout, ckpt_name
from theta_cli.model import build_theta
from theta_cli.runs import info


def fabricate(root: Path, n: int, hidden: int, layers: int, k: int) -> RunLayout:
    cfg = TrainConfig(K=k, hidden=hidden, layers=layers, model_type="hybrid", warmup_steps=0)
    run = RunLayout(root / "hybrid_bench")
    run.make_dirs()
    model = build_theta(cfg.model_type, 2, cfg.hidden, cfg.layers, cfg.K, cfg.dropout)["model"]
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, k, 2), torch.rand(2, 1)).square().mean().backward()
    opt.step()  # the optimizer now holds exp_avg / exp_avg_sq: checkpoints are ~3x the weights
    rc = RunConfig.start(cfg, 38.13)
    per_epoch = 10
    for i in range(n):
        epoch, step = divmod(i, per_epoch)
        step *= 100
        payload = {
            checkpoint.MODEL: model.state_dict(),
            checkpoint.OPTIMIZER: opt.state_dict(),
            checkpoint.SCHEDULER: {},
            checkpoint.EPOCH: epoch,
            checkpoint.STEP: step,
            checkpoint.GLOBAL_STEP: i * 100,
            checkpoint.DELTA: 38.13,
            checkpoint.LR: 1e-4,
            checkpoint.RNG: torch.get_rng_state(),
            checkpoint.CONFIG: rc.model_dump(),
        }
        checkpoint.save_checkpoint(run.ckpt_path(epoch, step), payload)
        csvlog.append_train_row(
            run,
            csvlog.TrainRow(ckpt_name(epoch, step), epoch, step, 1 / (i + 1), 5 - i * 1e-3,
                            4.0, 1.0, 1e-4, 38.13),
        )
    atomic.write_json(run.config_path, rc.model_dump())
    return run


def via_csv(run: RunLayout) -> int:
    return len(info.run_details(run)["checkpoints"])


def naive(run: RunLayout) -> int:
    seen = 0
    for _, _, path in run.checkpoints():
        payload = checkpoint.load_checkpoint(path)
        _ = (payload[checkpoint.EPOCH], payload[checkpoint.STEP], payload[checkpoint.LR],
             payload[checkpoint.DELTA])
        seen += 1
    return seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = fabricate(Path(tmp), args.checkpoints, args.hidden, args.layers, args.k)
        size = sum(p.stat().st_size for _, _, p in run.checkpoints())
        print(f"fabricated {args.checkpoints} checkpoints ({size / 2**20:.1f} MiB) "
              f"in {time.perf_counter() - t0:.1f} s")
        assert via_csv(run) == naive(run) == args.checkpoints  # same checkpoints described
        times: dict[str, list[float]] = {"csv": [], "naive": []}
        for _ in range(args.repeats):  # interleaved, so load drift hits both alike
            for name, fn in (("csv", via_csv), ("naive", naive)):
                t = time.perf_counter()
                fn(run)
                times[name].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"info via CSV + stat : median {med['csv'] * 1e3:8.1f} ms over {args.repeats}")
        print(f"load every ckpt     : median {med['naive'] * 1e3:8.1f} ms over {args.repeats}")
        print(f"ratio naive / csv   : {med['naive'] / med['csv']:.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
