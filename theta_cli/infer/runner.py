"""Running the flow on chunks in batches: ENU metres in, the denoised displacement out.

``flow.euler_denoise`` integrates the *displacement* D = X - X1 from D = 0, with the model
evaluated at X1 + D: the same Euler steps as integrating X itself, but the sum of the steps is
kept apart from the kilometres of X1. In float32, X itself would round to about 0.2 mm a few
kilometres from the chunk origin at every step; D (metres) rounds to well under a micrometre.
So a model that predicts zero returns D = 0 exactly, one that predicts a constant V returns -V.

Test-time ensemble (``symmetries`` = 8): the 4 rotations by 90 degrees and the 4 reflections of
the EN plane are exact symmetries of isotropic GPS noise, so the model run on a transformed
chunk, transformed back, is a second opinion as valid as the first; the runner averages them
(8 forward passes per step instead of 1). ``symmetries`` = 1 is the plain flow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from theta_cli import flow

Progress = Callable[[int, int], None]

#: The dihedral group of the square as 2x2 matrices acting on row vectors (x @ R): the identity,
#: the rotations by 90, 180 and 270 degrees, and the four reflections.
SYMMETRIES = np.array(
    [
        [[1, 0], [0, 1]], [[0, 1], [-1, 0]], [[-1, 0], [0, -1]], [[0, -1], [1, 0]],
        [[1, 0], [0, -1]], [[-1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1], [-1, 0]],
    ],
    dtype=np.float32,
)  # fmt: skip
ENSEMBLES = (1, 8)


@dataclass
class FlowRunner:
    """Denoise [C, K, 2] chunks with ``steps`` Euler steps, ``batch_size`` chunks at a time.

    ``model`` is moved to ``device`` and put in eval mode. ``forward_seconds`` accumulates the
    time spent inside the model's forward passes (synchronised on CUDA), so callers can tell
    model time from everything around it.
    """

    model: object  # torch.nn.Module, or any callable (x [B, K, 2] float32, t [B, 1]) -> v_hat
    steps: int = flow.DEFAULT_STEPS
    batch_size: int = 256
    device: str = "cpu"
    symmetries: int = 1  # 1, or 8 for the test-time ensemble over rotations and reflections
    name: str = "the model"  # what a refusal of its output calls it
    forward_seconds: float = 0.0
    chunks: int = 0

    def displacement(self, x: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """The flow's output minus its input, [C, K, 2] float64 metres (averaged over the
        ensemble's transforms when ``symmetries`` is 8)."""
        if self.symmetries == 1:
            return self._displacement(x, progress)
        if self.symmetries not in ENSEMBLES:
            raise ValueError(f"symmetries={self.symmetries}: expected one of {ENSEMBLES}")
        total = np.zeros(x.shape, dtype=np.float64)
        for i, r in enumerate(SYMMETRIES):
            # R is orthogonal: back to the chunk's frame with R transposed.
            d = self._displacement(x.astype(np.float32) @ r, None)
            total += d @ r.T.astype(np.float64)
            if progress is not None:
                progress((i + 1) * len(x), len(SYMMETRIES) * len(x))
        return total / len(SYMMETRIES)

    def _displacement(self, x: np.ndarray, progress: Progress | None) -> np.ndarray:
        import torch

        model = self.model
        if isinstance(model, torch.nn.Module):
            model = model.to(self.device).eval()
        sync = torch.cuda.synchronize if self.device.startswith("cuda") else (lambda: None)
        out = np.empty(x.shape, dtype=np.float64)
        total = len(x)
        self.chunks += total
        with torch.inference_mode():
            for lo in range(0, total, self.batch_size):
                x1 = torch.from_numpy(x[lo : lo + self.batch_size].astype(np.float32))
                x1 = x1.to(self.device)

                def velocity(d: torch.Tensor, t: torch.Tensor, x1: torch.Tensor = x1):
                    start = time.perf_counter()
                    v = model(x1 + d, t)
                    sync()
                    self.forward_seconds += time.perf_counter() - start
                    return v

                d = flow.euler_denoise(velocity, torch.zeros_like(x1), self.steps)
                out[lo : lo + len(x1)] = d.cpu().numpy()
                if progress is not None:
                    progress(min(lo + self.batch_size, total), total)
        return out
