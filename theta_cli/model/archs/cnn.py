"""ThetaCNN1D (model_type "cnn1d"): residual 1D convolutions along the K axis."""

from __future__ import annotations

import torch
from torch import nn

from theta_cli.model.archs.base import ThetaBase
from theta_cli.model.archs.layers import ConvBlock

#: Dilations cycle so that 8 blocks of kernel 7 see ~180 points, most of a 256-point chunk.
DILATIONS = (1, 2, 4, 8)


def conv_stack(hidden: int, n: int, dropout: float) -> nn.ModuleList:
    return nn.ModuleList(
        ConvBlock(hidden, dropout, dilation=DILATIONS[i % len(DILATIONS)]) for i in range(n)
    )


class ThetaCNN1D(ThetaBase):
    """``layers`` ConvNeXt-style blocks with cycling dilation. Translation-equivariant, so it
    needs no position embedding; zero padding still lets it tell the chunk ends apart."""

    def __init__(self, coord_dim: int, hidden: int, layers: int, K: int, dropout: float) -> None:
        super().__init__(coord_dim, hidden, K)
        self.blocks = conv_stack(hidden, layers, dropout)

    def trunk(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h, c)
        return h
