"""Building blocks shared by the four theta architectures.

Rectified-flow convention (see ../shared/DOMAIN.md): ``X0`` is the clean chunk, ``X1`` the noisy
one, ``V = X1 - X0``, ``X_t = X0 + t * V`` with t = 0 clean and t = 1 noisy, and a model
``theta(X_t, t)`` predicts ``v_hat ~= V`` in metres.

Every block works channels-last, ``(B, K, C)``, so the pointwise layers are plain GEMMs and no
layout flips are needed between the CNN and the transformer stages.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Fixed input/output scales instead of learned ones. The trainer feeds raw metres: positions
# up to several hundred metres from the chunk origin (its first noisy point), noise
# displacements of ~1-40 m. A net that had to discover these scales itself trains badly, and a
# per-chunk normalisation would hide the absolute geometry (e.g. that X_t[0] = -(1 - t) * V[0]
# because the origin is the first *noisy* point). Fixed constants keep the maths exact and
# the model scale-aware.
POS_SCALE_M = 100.0  # absolute positions: a few hundred metres -> O(1)
STEP_SCALE_M = 10.0  # point-to-point steps, where the jitter shows: ~1-40 m -> O(1)
V_SCALE_M = 10.0  # the head predicts V in units of 10 m, so its targets are O(1)

TIME_DIM = 32  # a scalar t needs no hidden-wide embedding; a narrow one keeps conditioning cheap
HEAD_DIM = 64  # preferred attention head width (see default_heads)
MLP_RATIO = 4
#: Conv blocks are local feature extractors at full resolution, where every channel costs K-fold;
#: a narrower MLP there halves their cost and leaves the capacity in the attention stage.
CONV_MLP_RATIO = 2


def default_heads(hidden: int) -> int:
    """Head count used when none is given: as few heads as possible, each >= HEAD_DIM wide.

    On CPU the attention cost per head is dominated by the (K, K) score matrix, so fewer, wider
    heads are faster for the same FLOPs; head width 64 is also the sweet spot of the GPU flash
    kernels. Returns the largest divisor of ``hidden`` not above ``hidden // HEAD_DIM`` (min 1),
    so it never fails: 16 -> 1, 128 -> 2, 200 -> 2, 384 -> 6.
    """
    cap = max(1, hidden // HEAD_DIM)
    return max(h for h in range(1, cap + 1) if hidden % h == 0)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """FiLM / adaLN: per-sample affine from the noise embedding. shift, scale: (B, 1, C)."""
    return x * (1.0 + scale) + shift


def zero_linear(in_features: int, out_features: int) -> nn.Linear:
    """A Linear that starts at exactly zero. Driving a modulation, it starts as a no-op (as in
    DiT's adaLN-Zero); as the head's last layer, it makes a fresh model predict v_hat = 0."""
    layer = nn.Linear(in_features, out_features)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class SinusoidalNoiseEmbedding(nn.Module):
    """Noise level t, shape (B,) or (B, 1) with t in [0, 1), to a (B, dim) sinusoidal embedding.

    Deterministic and stateless: the frequencies are a non-persistent buffer, so they follow
    ``.to(device)`` but are not part of the state dict. t is scaled by ``scale`` (1000, the DDPM
    step count) so that the geometric frequencies span [0.1, 1000] rad per unit t: neighbouring
    noise levels such as 0.1 and 0.2 map to clearly different vectors.
    """

    def __init__(self, dim: int, scale: float = 1000.0, max_period: float = 10000.0) -> None:
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"embedding dim must be an even number >= 2, got {dim}")
        self.dim = dim
        self.scale = scale
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 2 and t.shape[1] == 1:
            t = t[:, 0]
        if t.dim() != 1:
            raise ValueError(f"t must have shape (B,) or (B, 1), got {tuple(t.shape)}")
        # fp32 even under autocast: bf16 has 8 mantissa bits, too few for sin(1000 t).
        args = (t.float() * self.scale)[:, None] * self.freqs[None, :]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class TimeEmbedding(nn.Module):
    """t -> conditioning vector c of width TIME_DIM, already passed through SiLU for the blocks."""

    def __init__(self, dim: int = TIME_DIM) -> None:
        super().__init__()
        self.sinusoid = SinusoidalNoiseEmbedding(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU())

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.sinusoid(t))


#: point_features gives each coordinate three channels: position, step back, step forward.
FEATURES_PER_COORD = 3


def point_features(x: torch.Tensor) -> torch.Tensor:
    """(B, K, C) metres -> (B, K, 3C): scaled absolute position, and the scaled steps from the
    previous point and to the next one (zero past the chunk ends). The steps expose the jitter
    directly (their difference is a local high-pass), the position keeps the geometry."""
    step = x[:, 1:] - x[:, :-1]
    back = F.pad(step, (0, 0, 1, 0))
    fwd = F.pad(step, (0, 0, 0, 1))
    steps = torch.cat([back, fwd], dim=-1) * (1.0 / STEP_SCALE_M)
    return torch.cat([x * (1.0 / POS_SCALE_M), steps], dim=-1)


def sinusoidal_table(n: int, dim: int) -> torch.Tensor:
    """(n, dim) sine/cosine position table, the classic Transformer encoding."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freqs = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    table = torch.zeros(n, dim)
    table[:, 0::2] = torch.sin(pos * freqs)
    table[:, 1::2] = torch.cos(pos * freqs[: dim // 2])
    return table


class FeedForward(nn.Sequential):
    """Pointwise two-layer MLP. No dropout inside: the caller drops the (narrower) residual
    branch instead, which regularises the same path at a quarter of the mask cost (CPU dropout
    is bound by random-number generation, ~15 ns per element)."""

    def __init__(self, dim: int, hidden: int) -> None:
        # Exact (erf) GELU: on CPU it is several times faster than the tanh approximation.
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class AttentionBlock(nn.Module):
    """Pre-norm transformer block with adaLN conditioning on the noise embedding.

    Attention goes through ``F.scaled_dot_product_attention`` (flash / memory-efficient kernels
    on CPU and GPU). ``dropout`` applies to the residual and MLP paths only: dropout on the
    (B, heads, K, K) attention weights costs most of a CPU step (it forces the unfused path and a
    mask the size of the score matrix) for little regularisation. ``attn_dropout`` re-enables
    it when asked for.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        dropout: float,
        attn_dropout: float = 0.0,
        cond_dim: int = TIME_DIM,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden={dim} is not divisible by heads={heads}")
        self.heads = heads
        self.attn_dropout = attn_dropout
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.ff = FeedForward(dim, MLP_RATIO * dim)
        self.drop = nn.Dropout(dropout)
        self.cond = zero_linear(cond_dim, 4 * dim)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, shift2, scale2 = self.cond(c)[:, None, :].chunk(4, dim=-1)
        b, k, d = h.shape
        y = modulate(self.norm1(h), shift1, scale1)
        q, kk, v = self.qkv(y).view(b, k, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        p = self.attn_dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, kk, v, dropout_p=p)
        h = h + self.drop(self.proj(a.transpose(1, 2).reshape(b, k, d)))
        return h + self.drop(self.ff(modulate(self.norm2(h), shift2, scale2)))


class DepthwiseConv(nn.Module):
    """Depthwise convolution along K on the channels-last (B, K, C) stream, shape-preserving.

    It runs as a (1, kernel) Conv2d on a (B, C, 1, K) *view*: that view is already in
    channels_last memory format, so no transpose copy is made, and oneDNN's channels-last
    depthwise kernel is ~2x faster than Conv1d on CPU (forward plus backward).
    """

    def __init__(self, dim: int, kernel: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            dim,
            dim,
            (1, kernel),
            padding=(0, dilation * (kernel // 2)),
            dilation=(1, dilation),
            groups=dim,
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv(h.transpose(1, 2).unsqueeze(2)).squeeze(2).transpose(1, 2)


class ConvBlock(nn.Module):
    """ConvNeXt-style 1D block over the K axis: depthwise conv (local context along the track),
    then a conditioned pointwise MLP (channel mixing). Cheap: the conv has kernel * C weights."""

    def __init__(
        self,
        dim: int,
        dropout: float,
        kernel: int = 7,
        dilation: int = 1,
        cond_dim: int = TIME_DIM,
    ) -> None:
        super().__init__()
        self.conv = DepthwiseConv(dim, kernel, dilation)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.ff = FeedForward(dim, CONV_MLP_RATIO * dim)
        self.drop = nn.Dropout(dropout)
        self.cond = zero_linear(cond_dim, 2 * dim)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.cond(c)[:, None, :].chunk(2, dim=-1)
        return h + self.drop(self.ff(modulate(self.norm(self.conv(h)), shift, scale)))


class MixerBlock(nn.Module):
    """MLP-Mixer block: a token-mixing MLP across the K points (shared by all channels), then a
    channel MLP. Pure MLP, yet every output point sees the whole chunk at full resolution."""

    def __init__(self, dim: int, k: int, dropout: float, cond_dim: int = TIME_DIM) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.tokens = FeedForward(k, k)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.ff = FeedForward(dim, MLP_RATIO * dim)
        self.drop = nn.Dropout(dropout)
        self.cond = zero_linear(cond_dim, 4 * dim)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, shift2, scale2 = self.cond(c)[:, None, :].chunk(4, dim=-1)
        y = modulate(self.norm1(h), shift1, scale1)
        h = h + self.drop(self.tokens(y.transpose(1, 2)).transpose(1, 2))
        return h + self.drop(self.ff(modulate(self.norm2(h), shift2, scale2)))


class Head(nn.Module):
    """Conditioned per-point MLP head, hidden -> coord_dim, output in units of V_SCALE_M.

    The last layer starts at zero, so an untrained model predicts v_hat = 0 (the loss starts at
    E|V| rather than at a random guess)."""

    def __init__(self, dim: int, out_dim: int, cond_dim: int = TIME_DIM) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.cond = zero_linear(cond_dim, 2 * dim)
        self.fc = nn.Linear(dim, dim)
        self.act = nn.GELU()
        self.out = zero_linear(dim, out_dim)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.cond(c)[:, None, :].chunk(2, dim=-1)
        return self.out(self.act(self.fc(modulate(self.norm(h), shift, scale))))
