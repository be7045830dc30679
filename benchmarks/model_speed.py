"""Training-step speed of ThetaHybrid against a reference hybrid built from stock PyTorch layers.

The reference has the same features, time embedding, CNN stage, position embedding and head as
ThetaHybrid; only its encoder differs: ``layers`` stock ``nn.TransformerEncoderLayer(dropout=0.1,
batch_first=True, norm_first=True)`` with ``dim_feedforward = 4 * hidden`` (ours uses the same MLP
width; the stock default of 2048 would make the two incomparable) and GELU, conditioned on t by
adding the time embedding once before the encoder. Both use the same head count.

Both models see the same batch. A step is forward, Huber loss on the per-point error norm,
backward and AdamW. Repeats are interleaved (alternating which model goes first) so that load
from other processes hits both alike; the headline is the median of the per-repeat time ratios.

    python benchmarks/model_speed.py                      # hidden 128, layers 4, batch 32, K 256
    python benchmarks/model_speed.py --hidden 64 --batch 64 --repeats 9
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from theta_cli.archs.cnn import conv_stack
from theta_cli.archs.layers import (
    FEATURES_PER_COORD,
    MLP_RATIO,
    TIME_DIM,
    V_SCALE_M,
    Head,
    TimeEmbedding,
    default_heads,
    point_features,
)
from theta_cli.archs.transformer import HYBRID_CONV_BLOCKS
from theta_cli.model import build_theta, count_parameters

HUBER_DELTA_M = 38.13  # the spec's fallback delta


class ReferenceHybrid(nn.Module):
    """ThetaHybrid with its encoder swapped for stock nn.TransformerEncoderLayer blocks."""

    def __init__(self, hidden: int, layers: int, K: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.time = TimeEmbedding()
        self.stem = nn.Linear(FEATURES_PER_COORD * 2, hidden)
        self.convs = conv_stack(hidden, HYBRID_CONV_BLOCKS, dropout)
        self.pos = nn.Parameter(torch.randn(1, K, hidden) * 0.02)
        self.t_in = nn.Linear(TIME_DIM, hidden)
        self.encoder = nn.ModuleList(
            nn.TransformerEncoderLayer(
                hidden,
                heads,
                dim_feedforward=MLP_RATIO * hidden,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(layers)
        )
        self.head = Head(hidden, 2)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c = self.time(t)
        h = self.stem(point_features(x_t))
        for conv in self.convs:
            h = conv(h, c)
        h = h + self.pos + self.t_in(c)[:, None, :]
        for layer in self.encoder:
            h = layer(h)
        return self.head(h, c) * V_SCALE_M


def make_batch(batch: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A plausible batch in metres: random-walk tracks, ~10 m noise, origin at the first noisy
    point, t ~ U[0, 1), X_t = X0 + t V."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.cumsum(torch.randn(batch, k, 2, generator=g) * 3.0 + 2.0, dim=1)
    v = torch.randn(batch, k, 2, generator=g) * 10.0
    x0 = x0 - (x0[:, :1] + v[:, :1])
    t = torch.rand(batch, generator=g)
    return x0 + t[:, None, None] * v, t, v


def train_step(
    model: nn.Module, opt: torch.optim.Optimizer, batch: tuple[torch.Tensor, ...]
) -> Callable[[], None]:
    x_t, t, v = batch

    def step() -> None:
        err = torch.linalg.vector_norm(model(x_t, t) - v, dim=-1)
        loss = F.huber_loss(err, torch.zeros_like(err), delta=HUBER_DELTA_M)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def forward_only(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> Callable[[], None]:
    x_t, t, _ = batch

    def fwd() -> None:
        with torch.no_grad():  # still train mode: dropout masks are generated as in training
            model(x_t, t)

    return fwd


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(
    ours: Callable[[], None], ref: Callable[[], None], repeats: int, warmup: int
) -> tuple[float, float, float]:
    """Median seconds of each and the median of the paired per-repeat ratios ref / ours."""
    for _ in range(warmup):
        ours()
        ref()
    t_ours: list[float] = []
    t_ref: list[float] = []
    for i in range(repeats):
        if i % 2:
            t_ref.append(timed(ref))
            t_ours.append(timed(ours))
        else:
            t_ours.append(timed(ours))
            t_ref.append(timed(ref))
    ratios = [r / o for r, o in zip(t_ref, t_ours, strict=True)]
    return statistics.median(t_ours), statistics.median(t_ref), statistics.median(ratios)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--K", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--heads", type=int, default=None, help="default: default_heads(hidden)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="default: torch's own choice")
    a = p.parse_args()

    if a.threads:
        torch.set_num_threads(a.threads)
    heads = a.heads or default_heads(a.hidden)
    torch.manual_seed(a.seed)
    ours = build_theta("hybrid", 2, a.hidden, a.layers, a.K, a.dropout, heads=heads)["model"]
    ref = ReferenceHybrid(a.hidden, a.layers, a.K, heads, a.dropout)
    ours.train()
    ref.train()
    batch = make_batch(a.batch, a.K, a.seed)
    n_ours, n_ref = count_parameters(ours), count_parameters(ref)

    print(
        f"hybrid hidden={a.hidden} layers={a.layers} heads={heads} batch={a.batch} K={a.K} "
        f"dropout={a.dropout} threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    print(f"params: ThetaHybrid {n_ours:,}  reference {n_ref:,}  (ours/ref {n_ours / n_ref:.3f})")

    o, r, ratio = compare(forward_only(ours, batch), forward_only(ref, batch), a.repeats, a.warmup)
    print(
        f"forward (train mode):   ratio {ratio:.2f}x  (medians: ours {o * 1e3:.0f} ms, "
        f"reference {r * 1e3:.0f} ms)"
    )
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-4)
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=1e-4)
    o, r, ratio = compare(
        train_step(ours, opt_ours, batch), train_step(ref, opt_ref, batch), a.repeats, a.warmup
    )
    print(
        f"train step (fwd+bwd+AdamW): ratio {ratio:.2f}x  (medians: ours {o * 1e3:.0f} ms, "
        f"reference {r * 1e3:.0f} ms)"
    )


if __name__ == "__main__":
    main()
