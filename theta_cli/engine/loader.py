"""File-per-epoch training data, gathered by index from in-memory tensors.

The spec's ``DataLoader`` settings (shuffle, drop_last, batch_size) describe what the batches
must look like; a per-sample ``torch.utils.data.DataLoader`` is the slow way to get them (one
Python call and one collate per sample). Here an epoch is:

    file      = train file ``epoch mod n_files`` (files sorted by name)
    samples   = the first ``min(epoch_limit, N)`` of that file
    order     = randperm(samples) from a generator seeded by (seed, epoch)
    batch s   = samples[order[s*B : (s+1)*B]]   for s < samples // B   (drop_last)

Under torchrun with W ranks, step s takes the global batch order[s*W*B : (s+1)*W*B] and rank r
its slice [r*B : (r+1)*B] of it: the same sample order as one process with batch W*B, no sample
on two ranks, and the epoch has samples // (W*B) steps.

The order depends only on (seed, epoch), so a resumed run re-derives it and continues at any
step with exactly the batches the uninterrupted run would have seen. On CUDA the epoch's tensors
are copied once to the device (pinned, non-blocking) and gathered there; on CPU nothing is
pinned or copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from theta_cli.core.errors import ThetaError
from theta_cli.data import epochfile

if TYPE_CHECKING:
    import torch

Batch = tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]

# Large odd multiplier: distinct (seed, epoch) pairs map to distinct generator seeds.
_SEED_STRIDE = 1_000_003


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * _SEED_STRIDE + epoch


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of an epoch of ``n`` samples; depends only on (seed, epoch)."""
    import torch

    gen = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return torch.randperm(n, generator=gen)


def peek(path: Path, expect_k: int) -> epochfile.EpochInfo:
    """Validate an epoch file's keys, shapes and K without reading its data (memory-mapped)."""
    return epochfile.load(path, expect_k=expect_k, check_values=False, mmap=True)[1]


@dataclass(frozen=True)
class EpochPlan:
    """Which file an epoch reads and how many optimizer steps it has."""

    epoch: int
    info: epochfile.EpochInfo
    samples: int
    steps: int


class EpochLoader:
    """Owns the train files; ``set(epoch)`` loads one, ``batches(start)`` yields its batches."""

    def __init__(
        self,
        train_dir: str | Path,
        k: int,
        batch_size: int,
        epoch_limit: int,
        seed: int,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world: int = 1,
        pin: bool = True,
    ) -> None:
        import torch

        self.train_dir = Path(train_dir)
        self.files = [peek(p, k) for p in epochfile.list_files(self.train_dir)]
        self.k = k
        self.batch_size = batch_size
        self.epoch_limit = epoch_limit
        self.seed = seed
        self.device = torch.device(device)
        self.rank, self.world = rank, world
        self.pin = pin
        global_batch = batch_size * world
        for info in self.files:
            if min(epoch_limit, info.n) < global_batch:
                ranks = f" x {world} ranks" if world > 1 else ""
                raise ThetaError(
                    f"{info.path}: holds {min(epoch_limit, info.n)} usable samples, fewer than "
                    f"batch_size={batch_size}{ranks}; an epoch would have no full batch"
                )
        self.epoch: int | None = None
        self.x: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.t: torch.Tensor | None = None
        self.order: torch.Tensor | None = None

    def plan(self, epoch: int) -> EpochPlan:
        info = self.files[epoch % len(self.files)]
        samples = min(self.epoch_limit, info.n)
        return EpochPlan(epoch, info, samples, samples // (self.batch_size * self.world))

    def total_steps(self, epochs: int) -> int:
        return sum(self.plan(e).steps for e in range(epochs))

    def set(self, epoch: int) -> EpochPlan:
        """Load the epoch's file into memory (freeing the previous one) and derive its order."""
        plan = self.plan(epoch)
        self.x = self.v = self.t = self.order = None  # free before loading the next file
        data, _ = epochfile.load(plan.info.path, expect_k=self.k)
        n = plan.samples
        # The model reads X_t[..., :2]; a contiguous copy keeps every gather a flat memcpy.
        x = data["X_t"][:n, :, :2].contiguous()
        v = data["V"][:n].contiguous()
        t = data["t"][:n].reshape(n).contiguous()
        del data
        if self.device.type == "cuda":
            if self.pin:  # pinned host memory lets the copy run asynchronously
                x, v, t = (a.pin_memory() for a in (x, v, t))
            x, v, t = (a.to(self.device, non_blocking=self.pin) for a in (x, v, t))
        self.x, self.v, self.t = x, v, t
        self.order = epoch_order(n, self.seed, epoch).to(self.device)
        self.epoch = epoch
        return plan

    def batches(self, start_step: int = 0) -> Iterator[Batch]:
        """Batches ``start_step, start_step+1, ...`` of the current epoch (drop_last)."""
        if self.x is None or self.v is None or self.t is None or self.order is None:
            raise RuntimeError("EpochLoader.set(epoch) must be called before batches()")
        x, v, t, order, b = self.x, self.v, self.t, self.order, self.batch_size
        step = b * self.world
        for s in range(start_step, order.numel() // step):
            lo = s * step + self.rank * b
            idx = order[lo : lo + b]
            yield x.index_select(0, idx), v.index_select(0, idx), t.index_select(0, idx)
