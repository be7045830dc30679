"""Denoising the chunks of a long series together: how a chunk's head buckle is filled.

A series longer than K is cut into chunks that overlap by the head buckle (h = 8·Q1 points):
chunk j's first h points are chunk j-1's points ``[P, P + h)`` (P the payload, the stride).

    independent  every chunk is denoised on its own from the noisy input (buckles included)
    df           depth-first: chunk j is denoised after chunk j-1, with its head buckle held at
                 chunk j-1's *denoised* points all the way down the flow
    bf           breadth-first: all chunks take each Euler step together; before every step
                 each chunk's head buckle is replaced by chunk j-1's points at the same noise
                 level, so the buckle always matches the noise of the points beside it

(The research repository the spec comes from describes DF and BF.) Both move state between
chunks as the *displacement* D = X - X1 of the same noisy points, which is the same in both
chunks' ENU frames up to the frames' rotation (about 1e-3 rad per 6 km of chunk, times a
displacement of metres: under a centimetre), so no coordinates are converted.

``velocity(x, t)`` evaluates the model on every chunk at once (the runner batches it), and
``steps`` equal Euler steps go from t = 1 to 0, as ``flow.euler_denoise``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and torch are imported where used: `theta --help` reads STITCHES
    import numpy as np

STITCHES = ("independent", "df", "bf")
#: Measured best (benchmarks/stitching.py); until then the way theta always ran.
DEFAULT_STITCH = "independent"


@dataclass(frozen=True)
class Links:
    """Which chunk comes before which: ``prev[c]`` is chunk c's predecessor in its series (-1
    for a series' first chunk), ``level[c]`` its index within the series; ``head`` = h points
    of head buckle, ``stride`` = P."""

    prev: np.ndarray  # int64 [C]
    level: np.ndarray  # int64 [C]
    head: int
    stride: int


def check_stitch(stitch: str) -> None:
    if stitch not in STITCHES:
        raise ValueError(f"stitch {stitch!r}: expected one of {', '.join(STITCHES)}")


def breadth_first(velocity: Callable, x1, links: Links, steps: int):
    """BF: D for every chunk [C, K, 2] (a torch tensor like ``x1``)."""
    import numpy as np
    import torch

    h, p = links.head, links.stride
    has = torch.from_numpy(np.flatnonzero(links.prev >= 0)).to(x1.device)
    prev = torch.from_numpy(links.prev[links.prev >= 0]).to(x1.device)
    d = torch.zeros_like(x1)
    dt = 1.0 / steps
    for i in range(steps):
        if h and len(has):
            d[has, :h] = d[prev, p : p + h]  # the predecessor's overlap, same noise level
        d = d - dt * velocity(x1 + d, 1.0 - i * dt)
    return d


def depth_first(velocity: Callable, x1, links: Links, steps: int):
    """DF: chunks level by level (all first chunks together, then all second ones, ...);
    a chunk's head buckle is pinned to its predecessor's denoised overlap at every step."""
    import numpy as np
    import torch

    h, p = links.head, links.stride
    out = torch.zeros_like(x1)
    dt = 1.0 / steps
    for level in range(int(links.level.max()) + 1 if len(links.level) else 0):
        rows = np.flatnonzero(links.level == level)
        at = torch.from_numpy(rows).to(x1.device)
        pinned = None
        if level and h:
            pinned = out[torch.from_numpy(links.prev[rows]).to(x1.device), p : p + h]
        xs = x1[at]
        d = torch.zeros_like(xs)
        for i in range(steps):
            if pinned is not None:
                d[:, :h] = pinned
            d = d - dt * velocity(xs + d, 1.0 - i * dt)
        if pinned is not None:
            d[:, :h] = pinned  # the buckle's output is its predecessor's (never kept anyway)
        out[at] = d
    return out
