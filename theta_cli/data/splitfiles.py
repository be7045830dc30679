"""The files of a split, and quick_val.pt drawn from the val split.

A split file is chunk-major: ``repeats`` consecutive samples per chunk. Files are planned up
front from the scan's chunk counts, filled in order and each written once, when full.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import numpy as np

from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import EPOCH_LIMIT
from theta_cli.data.samples import Samples


class FileOptions(Protocol):
    k: int
    repeats: int
    seed: int
    quick_val: int
    files_per_split: int
    min_file_samples: int


def plan_files(chunks: int, opts: FileOptions) -> list[int]:
    """Chunk boundaries of a split's files: [0, b1, ..., chunks].

    Up to ``files_per_split`` files of at least ``min_file_samples`` samples each, and more if
    a file would exceed the epoch cap (EPOCH_LIMIT samples, the most an epoch reads).
    """
    if chunks == 0:
        return [0]
    per_file_cap = max(1, EPOCH_LIMIT // opts.repeats)
    samples = chunks * opts.repeats
    n = min(opts.files_per_split, max(1, samples // opts.min_file_samples))
    n = max(n, math.ceil(chunks / per_file_cap))
    return [int(b) for b in np.linspace(0, chunks, n + 1).round()]


class SplitWriter:
    """Fills one split's files in order; each file is preallocated to its planned size and
    written (atomically) the moment it is full."""

    def __init__(self, name: str, directory: Path, bounds: list[int], opts: FileOptions):
        self.name = name
        self.dir = directory
        self.bounds = bounds
        self.r = opts.repeats
        self.k = opts.k
        self.written = 0  # chunks already in written files
        self.files: list[str] = []
        self.index_rows: list[tuple] = []
        self._buf: dict[str, object] = {}
        self._fill = 0  # chunks in the current buffer

    def _capacity(self) -> int:
        f = len(self.files)
        return self.bounds[f + 1] - self.bounds[f]

    def add(self, s: Samples) -> None:
        import torch

        done = 0
        total = len(s.meta)
        while done < total:
            if len(self.files) + 1 >= len(self.bounds):
                raise ThetaError(
                    f"{self.name}: more chunks than the scan planned ({self.bounds[-1]}); "
                    "did a raw file change during prepare?"
                )
            cap = self._capacity()
            if not self._buf:
                n = cap * self.r
                self._buf = {
                    "X_t": torch.empty((n, self.k, 4)),
                    "V": torch.empty((n, self.k, 2)),
                    "t": torch.empty((n, 1)),
                }
            take = min(cap - self._fill, total - done)
            dst = slice(self._fill * self.r, (self._fill + take) * self.r)
            src = slice(done * self.r, (done + take) * self.r)
            self._buf["X_t"][dst] = s.x_t[src]
            self._buf["V"][dst] = s.v[src]
            self._buf["t"][dst] = s.t[src]
            name = f"{self.name}_{len(self.files):03d}.pt"
            for j, (agent, t0, lat0, lon0) in enumerate(s.meta[done : done + take]):
                c = self._fill + j
                self.index_rows.append((self.name, name, c, c * self.r, agent, t0, lat0, lon0))
            self._fill += take
            done += take
            if self._fill == cap:
                self._flush(name)

    def _flush(self, name: str) -> None:
        from theta_cli.data import epochfile

        self.dir.mkdir(parents=True, exist_ok=True)
        epochfile.save(self.dir / name, self._buf)
        self.files.append(name)
        self.written += self._fill
        self._buf = {}
        self._fill = 0

    def finish(self) -> None:
        if self._fill or self.written != self.bounds[-1]:
            raise ThetaError(
                f"{self.name}: built {self.written + self._fill} chunks where the scan "
                f"planned {self.bounds[-1]}; did a raw file change during prepare?"
            )


def select_quick_val(chunks: int, opts: FileOptions) -> np.ndarray:
    """Sorted sample indices (chunk * repeats + repeat) of quick_val in the val split.

    De-duplicated: every sample at most once, and a chunk gives a second sample only after
    every val chunk has given one (rounds over a seeded chunk order, random repeat each).
    """
    total = chunks * opts.repeats
    want = min(opts.quick_val, total)
    if want == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng([opts.seed, 2])
    chunk_order = rng.permutation(chunks)
    reps = rng.permuted(np.tile(np.arange(opts.repeats), (chunks, 1)), axis=1)
    # Round j takes repeat reps[c, j] of every chunk c, in chunk_order.
    picks = (chunk_order[None, :] * opts.repeats + reps[chunk_order].T).reshape(-1)
    return np.sort(picks[:want])


def write_quick_val(path: Path, writer: SplitWriter, opts: FileOptions) -> int:
    import torch

    from theta_cli.data import epochfile

    picks = select_quick_val(writer.written, opts)
    if len(picks) == 0:
        return 0
    parts: dict[str, list] = {"X_t": [], "V": [], "t": []}
    starts = np.array(writer.bounds[:-1]) * opts.repeats
    for f, name in enumerate(writer.files):
        lo = starts[f]
        hi = lo + (writer.bounds[f + 1] - writer.bounds[f]) * opts.repeats
        local = picks[(picks >= lo) & (picks < hi)] - lo
        if len(local) == 0:
            continue
        data, _ = epochfile.load(writer.dir / name)
        sel = torch.from_numpy(local)
        for key in parts:
            parts[key].append(data[key][sel])
    epochfile.save(path, {k: torch.cat(v) for k, v in parts.items()})
    return len(picks)
