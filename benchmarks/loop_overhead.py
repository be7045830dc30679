"""theta's training loop vs a minimal hand-written loop: steps per second, same model and data.

theta's loop runs as in `theta new`: live line, logging every --log-interval steps, loss kept on
the device between reads, lr schedule, RNG bookkeeping for exact Ctrl-C checkpoints. The
end-of-epoch checkpoint (save, quick_val, CSV, charts) and the epoch file load are excluded from
its time. The minimal loop is forward, Huber loss on the per-point error, backward, AdamW step,
on batches gathered by index from the same in-memory tensors. Gradient clipping is off in both
so they do the same maths. Each repeat is one epoch of each, alternating; medians are compared.

    python benchmarks/loop_overhead.py
    python benchmarks/loop_overhead.py --model-type cnn1d --hidden 128 --layers 4 --repeats 7
    python benchmarks/loop_overhead.py --threads 1     # steadier on a busy machine
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from theta_cli.core import logs
from theta_cli.core.config import TrainConfig
from theta_cli.data import epochfile
from theta_cli.engine.plan import NewRequest, config_solver
from theta_cli.engine.recipe import TrainingRecipe
from theta_cli.model import build_theta


class TimedRecipe(TrainingRecipe):
    """The production recipe; only the time spent in checkpoints and epoch loads is recorded,
    so it can be taken out of the loop's time (both are excluded by design, see the docstring)."""

    excluded_s = 0.0

    def save_checkpoint(self, epoch: int, step: int):  # noqa: ANN201
        t0 = time.perf_counter()
        try:
            return super().save_checkpoint(epoch, step)
        finally:
            self.excluded_s += time.perf_counter() - t0

    def time_loads(self) -> None:
        """Count the epoch file loads as excluded time too."""
        loader = self.plan.loader
        real_set = loader.set

        def timed_set(epoch: int):  # noqa: ANN202
            t0 = time.perf_counter()
            out = real_set(epoch)
            self.excluded_s += time.perf_counter() - t0
            return out

        loader.set = timed_set  # type: ignore[method-assign]


def make_dataset(root: Path, n: int, k: int) -> None:
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(n, k, 2, generator=gen) * 3
    t = torch.rand(n, 1, generator=gen) * 0.99
    x = (torch.randn(n, k, 2, generator=gen) * 5).cumsum(1) + t[:, :, None] * v
    data = {"X_t": x, "V": v, "t": t}
    epochfile.save(root / "train" / "train_000.pt", data)
    epochfile.save(root / "val" / "val_000.pt", {key: val[:256] for key, val in data.items()})
    epochfile.save(root / "quick_val.pt", {key: val[:64] for key, val in data.items()})
    (root / "huber_delta.json").write_text(json.dumps({"delta": 8.0}))


def minimal_epoch(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    v: torch.Tensor,
    t: torch.Tensor,
    batch: int,
    delta: float,
    epoch: int,
) -> tuple[float, int]:
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(epoch))
    steps = x.shape[0] // batch
    t0 = time.perf_counter()
    for s in range(steps):
        idx = perm[s * batch : (s + 1) * batch]
        err = (model(x[idx], t[idx]) - v[idx]).norm(dim=-1)
        loss = F.huber_loss(err, torch.zeros_like(err), delta=delta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-type", default="hybrid")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=100, help="steps per epoch")
    ap.add_argument("--log-interval", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        # 1 thread keeps the ratio meaningful on a machine shared with other jobs
        torch.set_num_threads(args.threads)

    logs.setup()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_dataset(root / "data", args.steps * args.batch_size, args.k)
        cfg = TrainConfig(
            K=args.k,
            model_type=args.model_type,
            hidden=args.hidden,
            layers=args.layers,
            batch_size=args.batch_size,
            epochs=args.repeats + 1,
            save_interval=10**9,  # only the end-of-epoch checkpoint, whose time is excluded
            log_interval=args.log_interval,
            grad_clip=0.0,
            fix_interval_s=1.0,  # the fabricated dataset has no prepare.json to read it from
            warmup_steps=10,
            cpu=True,
            train_dir=str(root / "data" / "train"),
            val_dir=str(root / "data" / "val"),
            quick_val_path=str(root / "data" / "quick_val.pt"),
            huber_delta_path=str(root / "data" / "huber_delta.json"),
        )
        request = NewRequest(cfg, "benchmark", models_dir=root / "models")
        recipe = TimedRecipe(config_solver(request))
        recipe.time_loads()

        torch.manual_seed(0)
        model = build_theta(cfg.model_type, 2, cfg.hidden, cfg.layers, cfg.K, cfg.dropout)["model"]
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        data, _ = epochfile.load(root / "data" / "train" / "train_000.pt")
        x, v, t = data["X_t"][..., :2].contiguous(), data["V"], data["t"].reshape(-1)

        theta_rates, minimal_rates = [], []
        with recipe:
            # warm-up epoch for both (allocator, lazy init), not timed
            recipe.train_epoch(0)
            minimal_epoch(model, opt, x, v, t, cfg.batch_size, 8.0, 0)
            for r in range(1, args.repeats + 1):
                ex0 = recipe.excluded_s
                t0 = time.perf_counter()
                recipe.train_epoch(r)
                loop = time.perf_counter() - t0 - (recipe.excluded_s - ex0)
                theta_rates.append(args.steps / loop)
                dt, steps = minimal_epoch(model, opt, x, v, t, cfg.batch_size, 8.0, r)
                minimal_rates.append(steps / dt)
        num_params = recipe.num_params

    th, mn = statistics.median(theta_rates), statistics.median(minimal_rates)
    print(
        f"model {args.model_type} hidden={args.hidden} layers={args.layers} K={args.k} "
        f"batch={args.batch_size} ({num_params:,} params), {args.steps} steps/epoch, "
        f"log_interval={args.log_interval}, {torch.get_num_threads()} threads"
    )
    print(f"theta loop:    {th:8.1f} steps/s  (median of {args.repeats})")
    print(f"minimal loop:  {mn:8.1f} steps/s  (median of {args.repeats})")
    print(f"ratio theta / minimal: {th / mn:.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
