"""Training-step speed of ThetaHybrid against a reference hybrid built from stock PyTorch layers,
and where the difference comes from.

The reference has the same features, time embedding, CNN stage, position embedding and head as
ThetaHybrid; its encoder is ``layers`` stock ``nn.TransformerEncoderLayer(dropout=0.1,
batch_first=True, norm_first=True)`` with ``dim_feedforward = 4 * hidden`` (ours uses the same MLP
width; the stock default of 2048 would make the two incomparable) and GELU, conditioned on t by
adding the time embedding once before the encoder, and it runs on all K points. Both use the same
head count.

ThetaHybrid differs from the reference in two independent ways, so the run also times the
variants that change one of them at a time:

  block   the attention block: stock layer (dropout on the (B, heads, K, K) attention weights,
          fused MHA) vs theta's ``AttentionBlock`` (``F.scaled_dot_product_attention`` without
          attention-weight dropout, dropout on the residual paths, adaLN conditioning);
  layout  the tokens the encoder sees: all K points vs K / HYBRID_PATCH patches (ThetaHybrid's
          linear patchify, K / 4 position table, linear upsampling and full-resolution skip).

    stock@K         the reference (block stock, layout K)            <- headline denominator
    stock@K -attn   the reference with attention-weight dropout off (residual dropout kept)
    theta@K         the reference with theta's AttentionBlock as its encoder
    stock@K/4       the reference with ThetaHybrid's patch layout
    ThetaHybrid     theta's block on K / 4 tokens: the model itself

Headline = stock@K / ThetaHybrid. It factors two ways: block at K (stock@K / theta@K) times layout
with theta's block (theta@K / ThetaHybrid), or layout with the stock block (stock@K / stock@K/4)
times block at K / 4 (stock@K/4 / ThetaHybrid). "stock@K / stock@K -attn" is the share of the
block gain that is only the attention-weight dropout.

All models see the same batch. A step is forward, Huber loss on the per-point error norm, backward
and AdamW. Each repeat times every model once, in an order rotated per repeat, so load from other
processes hits all alike; every ratio is the median of per-repeat ratios, every time a median.

    python benchmarks/model_speed.py                      # hidden 128, layers 4, batch 32, K 256
    python benchmarks/model_speed.py --threads 1
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

from theta_cli.model import build_theta, count_parameters
from theta_cli.model.archs.cnn import conv_stack
from theta_cli.model.archs.layers import (
    FEATURES_PER_COORD,
    MLP_RATIO,
    TIME_DIM,
    V_SCALE_M,
    Head,
    TimeEmbedding,
    default_heads,
    point_features,
)
from theta_cli.model.archs.transformer import HYBRID_CONV_BLOCKS, HYBRID_PATCH, attention_stack

HUBER_DELTA_M = 38.13  # the spec's fallback delta
REFERENCE, OURS = "stock@K", "ThetaHybrid"


class ReferenceHybrid(nn.Module):
    """ThetaHybrid's features, time embedding, CNN stage and head around a chosen encoder.

    ``block="stock"``: stock nn.TransformerEncoderLayer blocks; ``block="theta"``: theta's
    AttentionBlock. ``patch=1``: the encoder runs on all K points (the reference); ``patch > 1``:
    ThetaHybrid's layout (linear patchify to K / patch tokens, linear upsampling, skip).
    ``attn_weight_dropout=False`` turns off the stock layer's dropout over the attention weights.
    """

    def __init__(
        self,
        hidden: int,
        layers: int,
        K: int,
        heads: int,
        dropout: float,
        block: str = "stock",
        patch: int = 1,
        attn_weight_dropout: bool = True,
    ) -> None:
        super().__init__()
        self.block = block
        self.patch = patch
        self.time = TimeEmbedding()
        self.stem = nn.Linear(FEATURES_PER_COORD * 2, hidden)
        self.convs = conv_stack(hidden, HYBRID_CONV_BLOCKS, dropout)
        if patch > 1:
            self.down = nn.Linear(patch * hidden, hidden)
            self.up = nn.Linear(hidden, hidden)
        self.pos = nn.Parameter(torch.randn(1, K // patch, hidden) * 0.02)
        self.t_in = nn.Linear(TIME_DIM, hidden)
        if block == "stock":
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
            if not attn_weight_dropout:
                for layer in self.encoder:
                    layer.self_attn.dropout = 0.0  # residual and MLP dropout stay at `dropout`
        elif block == "theta":
            self.encoder = attention_stack(hidden, layers, heads, dropout, 0.0)
        else:
            raise ValueError(f"block must be 'stock' or 'theta', got {block!r}")
        self.head = Head(hidden, 2)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c = self.time(t)
        h = self.stem(point_features(x_t))
        for conv in self.convs:
            h = conv(h, c)
        b, k, d = h.shape
        z = h if self.patch == 1 else self.down(h.reshape(b, k // self.patch, self.patch * d))
        z = z + self.pos + self.t_in(c)[:, None, :]
        for layer in self.encoder:
            z = layer(z) if self.block == "stock" else layer(z, c)
        if self.patch > 1:
            up = F.interpolate(
                self.up(z).transpose(1, 2), scale_factor=self.patch, mode="linear",
                align_corners=False,
            ).transpose(1, 2)
            z = h + up
        return self.head(z, c) * V_SCALE_M


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


def measure(
    fns: dict[str, Callable[[], None]], repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds per call of every fn, ``repeats`` rounds; each round runs all fns once, starting
    one further along the list each round so no model always runs first (or after the same one)."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for j in range(len(names)):
            name = names[(r + j) % len(names)]
            times[name].append(timed(fns[name]))
    return times


def ratio(times: dict[str, list[float]], slow: str, fast: str) -> float:
    """Median over repeats of time(slow) / time(fast), paired by repeat."""
    return statistics.median(a / b for a, b in zip(times[slow], times[fast], strict=True))


def build_models(a: argparse.Namespace, heads: int) -> dict[str, nn.Module]:
    torch.manual_seed(a.seed)
    args = (a.hidden, a.layers, a.K, heads, a.dropout)
    models: dict[str, nn.Module] = {
        REFERENCE: ReferenceHybrid(*args),
        "stock@K -attn": ReferenceHybrid(*args, attn_weight_dropout=False),
        "theta@K": ReferenceHybrid(*args, block="theta"),
        "stock@K/4": ReferenceHybrid(*args, patch=HYBRID_PATCH),
        OURS: build_theta("hybrid", 2, a.hidden, a.layers, a.K, a.dropout, heads=heads)["model"],
    }
    for m in models.values():
        m.train()
    return models


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
    models = build_models(a, heads)
    batch = make_batch(a.batch, a.K, a.seed)
    params = {name: count_parameters(m) for name, m in models.items()}

    print(
        f"hybrid hidden={a.hidden} layers={a.layers} heads={heads} batch={a.batch} K={a.K} "
        f"patch={HYBRID_PATCH} dropout={a.dropout} threads={torch.get_num_threads()} "
        f"repeats={a.repeats} torch={torch.__version__}"
    )
    fwd = measure({n: forward_only(m, batch) for n, m in models.items()}, a.repeats, a.warmup)
    opts = {n: torch.optim.AdamW(m.parameters(), lr=1e-4) for n, m in models.items()}
    step = measure(
        {n: train_step(m, opts[n], batch) for n, m in models.items()}, a.repeats, a.warmup
    )

    print(f"\n{'model':<15} {'params':>10} {'vs ref':>7} {'forward ms':>11} {'step ms':>9}")
    for name in models:
        fwd_ms, step_ms = (statistics.median(x[name]) * 1e3 for x in (fwd, step))
        print(
            f"{name:<15} {params[name]:>10,} {params[name] / params[REFERENCE]:>7.3f} "
            f"{fwd_ms:>11.0f} {step_ms:>9.0f}"
        )

    rows = [
        ("headline: reference / ThetaHybrid", REFERENCE, OURS),
        ("(a) block at K: stock / theta", REFERENCE, "theta@K"),
        ("    of which attention-weight dropout", REFERENCE, "stock@K -attn"),
        ("(b) block at K/4: stock / theta", "stock@K/4", OURS),
        ("layout K -> K/4, stock block", REFERENCE, "stock@K/4"),
        ("layout K -> K/4, theta block", "theta@K", OURS),
    ]
    print("\nspeed-up (median of per-repeat ratios)   train step   forward")
    for label, slow, fast in rows:
        print(f"{label:<40} {ratio(step, slow, fast):>9.2f}x {ratio(fwd, slow, fast):>8.2f}x")
    print(
        "check: headline ~= (a) x (layout, theta block) ~= (layout, stock block) x (b): "
        f"{ratio(step, REFERENCE, 'theta@K') * ratio(step, 'theta@K', OURS):.2f}x, "
        f"{ratio(step, REFERENCE, 'stock@K/4') * ratio(step, 'stock@K/4', OURS):.2f}x"
    )


if __name__ == "__main__":
    main()
