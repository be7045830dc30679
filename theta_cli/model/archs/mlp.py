"""ThetaMLP (model_type "nn", alias "mlp"): an all-MLP model (MLP-Mixer over the K points)."""

from __future__ import annotations

import torch
from torch import nn

from theta_cli.model.archs.base import ThetaBase
from theta_cli.model.archs.layers import MixerBlock


class ThetaMLP(ThetaBase):
    """Pure MLP: ``layers`` Mixer blocks. The token-mixing MLP is sized by K, so each point's
    prediction sees the whole chunk without the bottleneck of flattening it into one vector."""

    def __init__(self, coord_dim: int, hidden: int, layers: int, K: int, dropout: float) -> None:
        super().__init__(coord_dim, hidden, K)
        self.blocks = nn.ModuleList(MixerBlock(hidden, K, dropout) for _ in range(layers))

    def trunk(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h, c)
        return h
