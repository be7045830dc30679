"""The one device picker: training, eval-bytes, denoise and bench all choose the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from theta_cli.core.errors import ThetaError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def pick_device(request: str | None = "auto") -> torch.device:
    """``auto`` (or None): CUDA when available, else the CPU; ``cpu``; ``cuda`` (refused with a
    clear error when there is no CUDA device)."""
    import torch

    want = request or "auto"
    if want not in DEVICES:
        raise ThetaError(f"--device {want!r}: expected one of {', '.join(DEVICES)}")
    if want == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if want == "cuda":
        raise ThetaError("--device cuda: no CUDA device is available (use --device cpu)")
    return torch.device("cpu")
