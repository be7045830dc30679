"""From chunks of raw fixes to float32 training samples (DOMAIN.md, "Data files").

Per chunk: ENU (``tracks.enu``) around the chunk's first noisy point, X0 clean, X1 noisy,
V = X1 - X0, ``repeats`` draws of t ~ U[0, 1) and X_t = X0 + t V (``theta_cli.flow``).
X_t carries 4 channels: e, n, timestamp (seconds since the chunk's first fix) and is_start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from theta_cli.data.chunking import AgentChunks
from theta_cli.tracks.enu import to_enu

if TYPE_CHECKING:
    import torch


def enu_chunks(cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(X0 clean, X1 noisy), float64 [C, K, 2] metres east/north.

    Origin: each chunk's first *noisy* point, for both the clean and the noisy chunk, height 0
    (DOMAIN.md: the label's position never leaks into the input).
    """
    lat0 = cols["lat_n"][:, :1]
    lon0 = cols["lon_n"][:, :1]
    clean = to_enu(cols["lat"], cols["lon"], lat0, lon0)
    return clean, to_enu(cols["lat_n"], cols["lon_n"], lat0, lon0)


@dataclass
class Samples:
    """Samples built from a batch of chunks: ``repeats`` consecutive rows per chunk."""

    x_t: torch.Tensor  # [C*r, K, 4]
    v: torch.Tensor  # [C*r, K, 2]
    t: torch.Tensor  # [C*r, 1]
    meta: list[tuple[str, float, float, float]]  # per chunk: agent, t0, origin lat, lon


def build_samples(
    chunks: AgentChunks, agents: list[str], repeats: int, overlap: int, rng: np.random.Generator
) -> tuple[Samples, np.ndarray]:
    """Turn chunks into float32 samples; also return V (float32, one copy per chunk)."""
    import torch

    from theta_cli.flow import interpolate

    x0, x1 = enu_chunks(chunks.cols)
    x0_32 = x0.astype(np.float32)
    v_32 = (x1 - x0).astype(np.float32)  # the noise, rounded once from float64
    r = repeats
    v_rep = torch.from_numpy(np.repeat(v_32, r, axis=0))
    ts = chunks.cols["timestamp"]
    rel = (ts - ts[:, :1]).astype(np.float32)  # float32 cannot hold Unix seconds
    is_start = np.zeros(rel.shape, dtype=np.float32)
    is_start[chunks.has_prev, : overlap] = 1.0
    t = rng.random((len(chunks), r), dtype=np.float32).reshape(-1, 1)  # [0, 1) in float32
    # X_t = X0 + t V evaluated in float32 on the stored V: exact w.r.t. float32(X0).
    xy = interpolate(
        torch.from_numpy(np.repeat(x0_32, r, axis=0)),
        v_rep,
        torch.from_numpy(t),
    )
    extra = torch.from_numpy(np.repeat(np.stack([rel, is_start], axis=-1), r, axis=0))
    meta = [
        (a, float(ts[i, 0]), float(chunks.cols["lat_n"][i, 0]), float(chunks.cols["lon_n"][i, 0]))
        for i, a in enumerate(agents)
    ]
    samples = Samples(
        x_t=torch.cat([xy, extra], dim=-1).contiguous(),
        v=v_rep,
        t=torch.from_numpy(t),
        meta=meta,
    )
    return samples, v_32


def huber_delta(magnitudes: np.ndarray) -> dict[str, float]:
    """delta = Q3 + 1.5 IQR of per-point noise magnitudes (numpy's default percentile)."""
    q1, q3 = np.percentile(magnitudes, [25, 75])
    iqr = q3 - q1
    return {"delta": float(q3 + 1.5 * iqr), "q1": float(q1), "q3": float(q3), "iqr": float(iqr)}


def point_magnitudes(v: np.ndarray) -> np.ndarray:
    """Per-point ‖V‖ in float64 from (stored, float32) V [..., 2], flattened."""
    v64 = v.reshape(-1, 2).astype(np.float64)
    return np.hypot(v64[:, 0], v64[:, 1])
