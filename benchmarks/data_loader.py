"""theta's index-gather epoch loader vs torch's DataLoader over a TensorDataset, one epoch file.

Both produce the same batches' shapes: shuffled, drop_last, batch_size 32, X_t[..., :2], V, t.
The DataLoader is configured as the spec says (shuffle=True, drop_last=True, num_workers=0,
pin_memory only when CUDA is in use). Each repeat times one full pass over the epoch; the two
loaders alternate and the medians are compared. File loading is timed separately (both need
the tensors in memory first).

    python benchmarks/data_loader.py                     # synthetic file: N=37000, K=256
    python benchmarks/data_loader.py --file dataset/processed/train/train_000.pt --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from theta_cli.data import epochfile
from theta_cli.engine.loader import EpochLoader


def synthetic_file(directory: Path, n: int, k: int) -> Path:
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(n, k, 2, generator=gen)
    t = torch.rand(n, 1, generator=gen) * 0.99
    x = torch.cat([torch.randn(n, k, 2, generator=gen), torch.zeros(n, k, 2)], dim=-1)
    path = directory / "train_000.pt"
    epochfile.save(path, {"X_t": x, "V": v, "t": t})
    return path


def time_theta(loader: EpochLoader) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = 0
    for _x, _v, _t in loader.batches():
        n += 1
    return time.perf_counter() - t0, n


def time_torch(dl: DataLoader) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = 0
    for _x, _v, _t in dl:
        n += 1
    return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, help="an epoch file (default: a synthetic one)")
    ap.add_argument("--n", type=int, default=37000)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or synthetic_file(Path(tmp), args.n, args.k)
        info = epochfile.load(path)[1]
        cuda = torch.cuda.is_available()
        device = "cuda" if cuda else "cpu"

        t0 = time.perf_counter()
        theta = EpochLoader(path.parent, info.k, args.batch_size, 37000, seed=0, device=device)
        plan = theta.set(0)
        theta_load = time.perf_counter() - t0

        t0 = time.perf_counter()
        data, _ = epochfile.load(path)
        lim = plan.samples
        ds = TensorDataset(data["X_t"][:lim, :, :2], data["V"][:lim], data["t"][:lim])
        dl = DataLoader(
            ds,
            batch_size=args.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=0,
            pin_memory=cuda,
            persistent_workers=False,
        )
        torch_load = time.perf_counter() - t0

        theta_t, torch_t = [], []
        for _ in range(args.repeats):  # interleaved: drift in machine load hits both alike
            dt, nb = time_theta(theta)
            theta_t.append(dt)
            dt2, nb2 = time_torch(dl)
            torch_t.append(dt2)
        assert nb == nb2 == plan.steps, (nb, nb2, plan.steps)

    theta_bps = nb / statistics.median(theta_t)
    torch_bps = nb / statistics.median(torch_t)
    print(f"epoch file: {path.name}  N={info.n} K={info.k}  batches/epoch={nb}  device={device}")
    print(f"file load + setup:    theta {theta_load:.2f} s   torch {torch_load:.2f} s")
    print(f"theta EpochLoader:    {theta_bps:12,.0f} batches/s  (median of {args.repeats})")
    print(f"torch DataLoader:     {torch_bps:12,.0f} batches/s  (median of {args.repeats})")
    print(f"ratio theta / torch:  {theta_bps / torch_bps:.1f}x")


if __name__ == "__main__":
    main()
