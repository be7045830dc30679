"""ThetaTransformer ("transformer") and ThetaHybrid ("hybrid": CNN -> transformer -> MLP head)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from theta_cli.model.archs.base import ThetaBase
from theta_cli.model.archs.cnn import conv_stack
from theta_cli.model.archs.layers import (
    AttentionBlock,
    DepthwiseConv,
    default_heads,
    sinusoidal_table,
)

#: Conv blocks in the hybrid's full-resolution CNN stage.
HYBRID_CONV_BLOCKS = 2
#: Points per hybrid attention token. 4 divides every valid K (a multiple of 8).
HYBRID_PATCH = 4
#: Kernel of the transformer's convolutional positional encoding.
CPE_KERNEL = 7


def attention_stack(
    hidden: int, layers: int, heads: int, dropout: float, attn_dropout: float
) -> nn.ModuleList:
    return nn.ModuleList(
        AttentionBlock(hidden, heads, dropout, attn_dropout) for _ in range(layers)
    )


class ThetaTransformer(ThetaBase):
    """``layers`` attention blocks over all K points.

    Position enters twice. A learned (K, hidden) table, initialised to the sinusoidal encoding,
    says where a point sits in the chunk (head, payload or tail buckle), which decides how much
    context it has. A depthwise convolution of the input ("conditional positional encoding", as
    in CPVT and wav2vec 2.0) says who the neighbours are: without it, attention has to discover
    locality from the absolute table, and on the synthetic test task it stalls for several
    hundred steps at the ~3x loss cut that per-point features alone give.
    """

    def __init__(
        self,
        coord_dim: int,
        hidden: int,
        layers: int,
        K: int,
        dropout: float,
        heads: int | None = None,
        attn_dropout: float = 0.0,
    ) -> None:
        super().__init__(coord_dim, hidden, K)
        self.heads = heads or default_heads(hidden)
        self.pos = nn.Parameter(sinusoidal_table(K, hidden)[None])
        self.local_pos = DepthwiseConv(hidden, CPE_KERNEL)
        self.blocks = attention_stack(hidden, layers, self.heads, dropout, attn_dropout)

    def trunk(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = h + self.pos + self.local_pos(h)
        for block in self.blocks:
            h = block(h, c)
        return h


class ThetaHybrid(ThetaBase):
    """CNN stage -> transformer over patches -> MLP head, a small U-Net along the track.

    1. HYBRID_CONV_BLOCKS conv blocks at full resolution pick out local jitter.
    2. A strided conv merges each HYBRID_PATCH points into one token; ``layers`` attention
       blocks (learned (K / patch, hidden) position embedding) relate tokens across the chunk.
    3. The tokens are projected, linearly interpolated back to K points and added to the
       full-resolution CNN features (skip connection); the shared head predicts v_hat per point.

    Attention and its MLPs on K / 4 tokens instead of K points cut the step time several-fold
    (benchmarks/model_speed.py) while the skip keeps per-point detail; parameters stay close to
    a full-resolution hybrid of the same width and depth.
    """

    def __init__(
        self,
        coord_dim: int,
        hidden: int,
        layers: int,
        K: int,
        dropout: float,
        heads: int | None = None,
        attn_dropout: float = 0.0,
    ) -> None:
        super().__init__(coord_dim, hidden, K)
        self.heads = heads or default_heads(hidden)
        self.convs = conv_stack(hidden, HYBRID_CONV_BLOCKS, dropout)
        # Patchify as reshape + Linear: the same maths as a stride-patch Conv1d, but one GEMM
        # on the channels-last stream instead of a convolution with transposes.
        self.down = nn.Linear(HYBRID_PATCH * hidden, hidden)
        self.pos = nn.Parameter(sinusoidal_table(K // HYBRID_PATCH, hidden)[None])
        self.blocks = attention_stack(hidden, layers, self.heads, dropout, attn_dropout)
        self.up = nn.Linear(hidden, hidden)

    def trunk(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            h = conv(h, c)
        b, k, d = h.shape
        z = self.down(h.reshape(b, k // HYBRID_PATCH, HYBRID_PATCH * d)) + self.pos
        for block in self.blocks:
            z = block(z, c)
        # Linear (not nearest) upsampling: no steps in the context at token boundaries.
        z = F.interpolate(
            self.up(z).transpose(1, 2),
            scale_factor=HYBRID_PATCH,
            mode="linear",
            align_corners=False,
        ).transpose(1, 2)
        return h + z
