"""Cutting one agent's time-sorted fixes into overlapping chunks, streamed across raw files.

Chunks start every ``stride = K - overlap`` fixes while a whole chunk fits; the first
``overlap`` points of every chunk after an agent's first are shared with the previous chunk
(``is_start``). When an agent continues in a later raw file, the fixes not yet covered by a
chunk start (fewer than K) are carried over and merged with its rows there, so chunk counts
depend only on the agent's total number of fixes: ``n_chunks(n)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The per-fix columns a chunk carries (float64 until the final float32 cast).
FIELDS = ("timestamp", "lat", "lon", "lat_n", "lon_n")


def n_chunks(n: int, k: int, overlap: int) -> int:
    return 0 if n < k else (n - k) // (k - overlap) + 1


@dataclass
class Carry:
    """Fixes of one agent left for its next raw file, and whether a chunk came before them."""

    rows: dict[str, np.ndarray]
    has_prev: bool
    last_time: float  # timestamp of the last fix already inside an emitted chunk


@dataclass
class AgentChunks:
    """Chunks of one agent from one raw file: arrays [C, K] per field, plus is_start [C]."""

    cols: dict[str, np.ndarray]
    has_prev: np.ndarray  # bool [C]: the chunk overlaps a previous chunk of the agent

    def __len__(self) -> int:
        return len(self.has_prev)


def cut(
    rows: dict[str, np.ndarray], carry: Carry | None, k: int, overlap: int
) -> tuple[AgentChunks, Carry, bool]:
    """Chunks of ``rows`` (one agent, this file) after merging ``carry``.

    Returns the chunks, the carry for a later file, and whether these rows start before fixes
    already chunked from an earlier file (the agent's files are not in time order).
    """
    out_of_order = False
    has_prev = False
    last_time = -np.inf
    if carry is not None:
        out_of_order = bool(len(rows["timestamp"]) and rows["timestamp"].min() < carry.last_time)
        rows = {f: np.concatenate([carry.rows[f], rows[f]]) for f in FIELDS}
        has_prev = carry.has_prev
        last_time = carry.last_time
    order = np.argsort(rows["timestamp"], kind="stable")
    rows = {f: rows[f][order] for f in FIELDS}
    n = len(order)
    stride = k - overlap
    m = n_chunks(n, k, overlap)
    idx = (np.arange(m) * stride)[:, None] + np.arange(k)[None, :]
    chunks = AgentChunks(
        cols={f: rows[f][idx] for f in FIELDS},
        has_prev=np.concatenate([[has_prev], np.ones(max(m - 1, 0), dtype=bool)])[:m],
    )
    if m:
        has_prev = True
        last_time = float(rows["timestamp"][(m - 1) * stride + k - 1])
    rest = {f: rows[f][m * stride :] for f in FIELDS}
    return chunks, Carry(rest, has_prev, last_time), out_of_order
