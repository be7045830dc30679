"""The processed epoch-file format, defined once (DOMAIN.md, "Epoch files").

An epoch file is ``torch.save`` of a dict of float32 tensors:
    X_t  [N, K, 2] or [N, K, 4] with (e, n, timestamp, is_start)   model reads [..., :2]
    V    [N, K, 2]
    t    [N, 1]   each value in [0, 1)
K is a multiple of 8. quick_val.pt uses the same keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import BYTE

if TYPE_CHECKING:
    import torch

KEYS = ("X_t", "V", "t")
#: Channel layout of X_t when it carries 4 channels.
XT_CHANNELS = ("e", "n", "timestamp", "is_start")


@dataclass(frozen=True)
class EpochInfo:
    path: Path
    n: int
    k: int
    channels: int


def describe(data: Any, source: str | Path, check_values: bool = True) -> EpochInfo:
    """Validate an epoch dict and return its shape; raise ThetaError naming file and key."""
    import torch

    src = str(source)
    if not isinstance(data, dict):
        raise ThetaError(f"{src}: not an epoch file (expected a dict with keys {', '.join(KEYS)})")
    for key in KEYS:
        if key not in data:
            raise ThetaError(f"{src}: missing key {key!r} (expected {', '.join(KEYS)})")
        if not isinstance(data[key], torch.Tensor):
            raise ThetaError(f"{src}: key {key!r} is not a tensor")
        if data[key].dtype != torch.float32:
            raise ThetaError(f"{src}: key {key!r} has dtype {data[key].dtype}, expected float32")
    x, v, t = data["X_t"], data["V"], data["t"]
    if x.dim() != 3 or x.shape[-1] not in (2, 4):
        raise ThetaError(f"{src}: key 'X_t' has shape {list(x.shape)}, expected [N, K, 2|4]")
    n, k = int(x.shape[0]), int(x.shape[1])
    if n == 0:
        raise ThetaError(f"{src}: key 'X_t' holds no samples")
    if k % BYTE:
        raise ThetaError(f"{src}: key 'X_t' has K={k}, which is not a multiple of {BYTE}")
    if tuple(v.shape) != (n, k, 2):
        raise ThetaError(f"{src}: key 'V' has shape {list(v.shape)}, expected [{n}, {k}, 2]")
    if tuple(t.shape) != (n, 1):
        raise ThetaError(f"{src}: key 't' has shape {list(t.shape)}, expected [{n}, 1]")
    if check_values:
        for key in KEYS:
            # A sum is non-finite whenever any element is (NaN/inf propagate), and is ~10x
            # cheaper than an elementwise mask; it can also overflow on huge finite values,
            # so a non-finite sum only triggers the exact elementwise check.
            if not bool(torch.isfinite(data[key].sum())) and not bool(
                torch.isfinite(data[key]).all()
            ):
                bad = int((~torch.isfinite(data[key])).sum())
                raise ThetaError(f"{src}: key {key!r} has {bad} non-finite values")
        if bool((t < 0).any()) or bool((t >= 1).any()):
            raise ThetaError(
                f"{src}: key 't' has values outside [0, 1) "
                f"(min {float(t.min()):.4g}, max {float(t.max()):.4g})"
            )
    return EpochInfo(Path(source), n, k, int(x.shape[-1]))


def load(
    path: str | Path, expect_k: int | None = None, check_values: bool = True, mmap: bool = False
) -> tuple[dict[str, torch.Tensor], EpochInfo]:
    """Load and validate one epoch file (safely: weights_only). Optionally require a given K.

    ``mmap=True, check_values=False`` checks keys and shapes without reading the data.
    """
    from theta_cli.core import safeload

    p = Path(path)
    data = safeload.torch_load(p, "epoch file", mmap=mmap)
    info = describe(data, p, check_values=check_values)
    if expect_k is not None and info.k != expect_k:
        raise ThetaError(f"{p}: chunks have K={info.k} but the config says K={expect_k}")
    return data, info


def iter_batches(
    data: dict[str, torch.Tensor], batch_size: int, limit: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """In-order batches ``(X_t[..., :2], V, t)`` of the first ``limit`` samples (all if None).

    Evaluation's batch iterator (quick_val acc, eval-bytes); training's shuffled batches are the
    loader's. The slices are views: no copy.
    """
    n = data["X_t"].shape[0] if limit is None else min(limit, data["X_t"].shape[0])
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        yield data["X_t"][lo:hi, :, :2], data["V"][lo:hi], data["t"][lo:hi]


def list_files(directory: str | Path) -> list[Path]:
    """Epoch files of a split directory, sorted by name; errors when there are none."""
    d = Path(directory)
    if not d.is_dir():
        raise ThetaError(f"{d}: data directory not found")
    files = sorted(p for p in d.iterdir() if p.suffix == ".pt" and p.is_file())
    if not files:
        raise ThetaError(f"{d}: no epoch files (*.pt) in the data directory")
    return files


def save(path: str | Path, data: dict[str, torch.Tensor]) -> None:
    """Write an epoch file atomically."""
    import torch

    from theta_cli.core import atomic

    describe(data, path)
    atomic.write_with(path, lambda tmp: torch.save(data, tmp))
