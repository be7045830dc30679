"""The skeleton every theta model shares: features -> stem -> trunk -> head, conditioned on t."""

from __future__ import annotations

import torch
from torch import nn

from theta_cli.model.archs.layers import (
    FEATURES_PER_COORD,
    V_SCALE_M,
    Head,
    TimeEmbedding,
    point_features,
)


class ThetaBase(nn.Module):
    """Maps X_t (B, K, >=coord_dim) in metres and t (B,) or (B, 1) to v_hat (B, K, coord_dim).

    Rectified flow: X_t = X0 + t * V with t = 0 clean and t = 1 noisy, and v_hat ~= V = X1 - X0,
    in metres. Only the first ``coord_dim`` input columns are read (epoch files may carry
    timestamp and is_start columns after e, n). Subclasses define ``trunk(h, c)`` on the
    (B, K, hidden) stream; ``c`` is the noise conditioning vector.
    """

    def __init__(self, coord_dim: int, hidden: int, K: int) -> None:
        super().__init__()
        self.coord_dim = coord_dim
        self.hidden = hidden
        self.K = K
        self.time = TimeEmbedding()
        self.stem = nn.Linear(FEATURES_PER_COORD * coord_dim, hidden)
        self.head = Head(hidden, coord_dim)

    def trunk(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x_t.dim() != 3 or x_t.shape[1] != self.K or x_t.shape[2] < self.coord_dim:
            raise ValueError(
                f"x_t must have shape (B, {self.K}, {self.coord_dim}), got {tuple(x_t.shape)}"
            )
        if t.shape[0] != x_t.shape[0]:
            raise ValueError(f"t has batch {t.shape[0]} but x_t has batch {x_t.shape[0]}")
        c = self.time(t)
        h = self.stem(point_features(x_t[..., : self.coord_dim]))
        return self.head(self.trunk(h, c), c) * V_SCALE_M
