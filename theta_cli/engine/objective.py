"""The training objective: Huber(delta) on the per-point velocity error ||v_hat - V||_2."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def velocity_loss(
    v_hat: torch.Tensor, vb: torch.Tensor, tb: torch.Tensor, delta: float, t_weight: float
) -> torch.Tensor:
    """Averaged over batch and points; with ``t_weight`` p > 0 each sample counts (p+1)·t^p
    times (mean 1 over t ~ U[0, 1))."""
    import torch.nn.functional as F

    from theta_cli.flow import per_point_error

    err = per_point_error(v_hat.float(), vb)
    p = t_weight
    if p == 0.0:  # the spec's loss, bit for bit
        return F.huber_loss(err, err.new_zeros(()).expand_as(err), delta=delta)
    per_point = F.huber_loss(err, err.new_zeros(()).expand_as(err), delta=delta,
                             reduction="none")  # fmt: skip
    weight = (p + 1.0) * tb.float().reshape(-1, 1).pow(p)
    return (per_point * weight).mean()
