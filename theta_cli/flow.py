"""Rectified flow, written once.

Convention (DOMAIN.md): X0 is the clean chunk, X1 the noisy one, both (K, 2) in metres ENU.
    V   = X1 - X0                      the noise displacement
    t  ~ U[0, 1)                       t = 0 clean, t = 1 noisy
    X_t = X0 + t * V                   straight-line interpolation
    theta(X_t, t) = v_hat  ~  V        the model predicts the velocity dX_t/dt

Denoising walks the straight line backwards from t = 1 to t = 0 with fixed Euler steps:
    X <- X - dt * theta(X, t),   t = 1, 1 - dt, ..., dt
The loop counts steps; it never compares floats to decide when to stop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEFAULT_STEPS = 10


def interpolate(x0: torch.Tensor, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """X_t = X0 + t * V, with t of shape (B,) or (B, 1) broadcast over points and coordinates."""
    return x0 + t.reshape(-1, *([1] * (x0.dim() - 1))) * v


def recover_endpoints(
    x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rebuild (X0, X1) from a stored sample: X0 = X_t - t V, X1 = X0 + V."""
    tt = t.reshape(-1, *([1] * (x_t.dim() - 1)))
    x0 = x_t - tt * v
    return x0, x0 + v


def per_point_error(v_hat: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """[B, K, 2] x2 -> [B, K]: ||v_hat - V||_2 per point, in metres. The training loss is a
    Huber of it, acc is its mean, eval-bytes its mean per byte."""
    return (v_hat - v).norm(dim=-1)


def euler_denoise(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x1: torch.Tensor,
    steps: int = DEFAULT_STEPS,
) -> torch.Tensor:
    """Integrate from the noisy X1 (t = 1) down to t = 0 in ``steps`` equal Euler steps."""
    import torch

    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    dt = 1.0 / steps
    x = x1
    for i in range(steps):
        t = torch.full((x.shape[0], 1), 1.0 - i * dt, dtype=x.dtype, device=x.device)
        x = x - dt * model(x, t)
    return x
