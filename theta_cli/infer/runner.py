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
from theta_cli.infer import stitch as stitching

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

    def displacement(
        self, x: np.ndarray, progress: Progress | None = None,
        links: stitching.Links | None = None, stitch: str = "independent",
    ) -> np.ndarray:
        """The flow's output minus its input, [C, K, 2] float64 metres (averaged over the
        ensemble's transforms when ``symmetries`` is 8). ``stitch`` "df" or "bf" denoises the
        chunks of a series together (``infer.stitch``) and needs their ``links``."""
        stitching.check_stitch(stitch)
        if stitch != "independent":
            if links is None:
                raise ValueError(f"stitch {stitch!r} needs the chunks' links")
            run = lambda xs, prog: self._stitched(xs, prog, links, stitch)  # noqa: E731
        else:
            run = self._displacement
        if self.symmetries == 1:
            return run(x, progress)
        if self.symmetries not in ENSEMBLES:
            raise ValueError(f"symmetries={self.symmetries}: expected one of {ENSEMBLES}")
        total = np.zeros(x.shape, dtype=np.float64)
        for i, r in enumerate(SYMMETRIES):
            # R is orthogonal: back to the chunk's frame with R transposed.
            d = run(x.astype(np.float32) @ r, None)
            total += d @ r.T.astype(np.float64)
            if progress is not None:
                progress((i + 1) * len(x), len(SYMMETRIES) * len(x))
        return total / len(SYMMETRIES)

    def _timed_model(self) -> Callable:
        """The model on the device in eval mode, as a callable (x, t) -> v_hat that adds its
        time (synchronised on CUDA) to ``forward_seconds``."""
        import torch

        model = self.model
        if isinstance(model, torch.nn.Module):
            model = model.to(self.device).eval()
        sync = torch.cuda.synchronize if self.device.startswith("cuda") else (lambda: None)

        def forward(x, t):  # noqa: ANN001, ANN202 (tensors)
            start = time.perf_counter()
            v = model(x, t)
            sync()
            self.forward_seconds += time.perf_counter() - start
            return v

        return forward

    def _displacement(self, x: np.ndarray, progress: Progress | None) -> np.ndarray:
        import torch

        model = self._timed_model()
        out = np.empty(x.shape, dtype=np.float64)
        total = len(x)
        self.chunks += total
        with torch.inference_mode():
            for lo in range(0, total, self.batch_size):
                x1 = torch.from_numpy(x[lo : lo + self.batch_size].astype(np.float32))
                x1 = x1.to(self.device)

                def velocity(d: torch.Tensor, t: torch.Tensor, x1: torch.Tensor = x1):
                    return model(x1 + d, t)

                d = flow.euler_denoise(velocity, torch.zeros_like(x1), self.steps)
                out[lo : lo + len(x1)] = d.cpu().numpy()
                if progress is not None:
                    progress(min(lo + self.batch_size, total), total)
        return out

    def _stitched(
        self, x: np.ndarray, progress: Progress | None, links: stitching.Links, stitch: str
    ) -> np.ndarray:
        """DF or BF: every chunk on the device at once, the model in batches."""
        import torch

        model = self._timed_model()
        self.chunks += len(x)
        calls = [0]

        def velocity(xt: torch.Tensor, t: float) -> torch.Tensor:
            v = torch.empty_like(xt)
            for lo in range(0, len(xt), self.batch_size):
                batch = xt[lo : lo + self.batch_size]
                tt = torch.full((len(batch), 1), t, dtype=xt.dtype, device=xt.device)
                v[lo : lo + len(batch)] = model(batch, tt)
            calls[0] += len(xt)
            if progress is not None:
                progress(min(calls[0] // self.steps, len(x)), len(x))
            return v

        with torch.inference_mode():
            x1 = torch.from_numpy(x.astype(np.float32)).to(self.device)
            run = stitching.depth_first if stitch == "df" else stitching.breadth_first
            d = run(velocity, x1, links, self.steps)
        return d.cpu().numpy().astype(np.float64)
