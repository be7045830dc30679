"""Cutting point series into model chunks and stitching the chunks' payloads back (pure numpy).

Many series (segments) are concatenated into one array of points; each series is cut on its
own. With h = 8·Q1 head-buckle points, p = 8·Q2 tail-buckle points and the payload
P = K - h - p, chunk j of a series starts at point j·P (the stride), so neighbouring chunks
share h + p points. Each point's output is taken from exactly one chunk:

    chunk 0         keeps [0, h + P)            its head region too: nothing comes before it
    chunk j         keeps [j·P + h, (j+1)·P + h) its payload, between the buckles
    the last chunk  keeps [j·P + h, n)          its payload and its tail

The last chunk (and a series shorter than K) is padded to K points by repeating the series'
last point, so the model always sees K points and every point is covered exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theta_cli.core.layout import BYTE
from theta_cli.infer.stitch import Links


@dataclass(frozen=True)
class ChunkPlan:
    """Where every chunk reads its points and where every point takes its output.

    ``index[c, k]`` is the point (into the concatenated series) at position k of chunk c.
    ``point_chunk[i]`` and ``point_pos[i]`` are the chunk and position that produce point i.
    """

    index: np.ndarray  # int64 [C, K]
    point_chunk: np.ndarray  # int64 [N]
    point_pos: np.ndarray  # int64 [N]
    level: np.ndarray  # int64 [C]: each chunk's index within its series (0: the first)

    @property
    def n_chunks(self) -> int:
        return int(self.index.shape[0])

    def links(self, k: int, q1: int, q2: int) -> Links:
        """Which chunk precedes which, for DF/BF stitching (``infer.stitch``)."""
        prev = np.where(self.level > 0, np.arange(self.n_chunks) - 1, -1)
        return Links(prev=prev, level=self.level, head=BYTE * q1, stride=payload(k, q1, q2))

    def stitch(self, values: np.ndarray) -> np.ndarray:
        """Per-point values [N, ...] from per-chunk values [C, K, ...]."""
        return values[self.point_chunk, self.point_pos]


def payload(k: int, q1: int, q2: int) -> int:
    """The stride between chunks: the points left between the head and tail buckles."""
    return k - BYTE * (q1 + q2)


def chunk_counts(lengths: np.ndarray, k: int, q1: int, q2: int) -> np.ndarray:
    """Chunks per series: one, plus one per stride needed until a chunk reaches the end."""
    lengths = np.asarray(lengths, dtype=np.int64)
    stride = payload(k, q1, q2)
    return 1 + np.maximum(0, -(-(lengths - k) // stride))


def plan_chunks(lengths: np.ndarray, k: int, q1: int, q2: int) -> ChunkPlan:
    """Cut series of the given lengths (each >= 1), concatenated in order, into chunks of k."""
    lengths = np.asarray(lengths, dtype=np.int64)
    stride = payload(k, q1, q2)
    if stride <= 0:
        raise ValueError(f"buckles Q1={q1}, Q2={q2} leave no payload in K={k}")
    if lengths.size and lengths.min() < 1:
        raise ValueError("every series needs at least one point")
    head = BYTE * q1
    counts = chunk_counts(lengths, k, q1, q2)
    first_point = np.cumsum(lengths) - lengths
    first_chunk = np.cumsum(counts) - counts

    # Chunks: series id and index j within the series, then clamp reads to the series' points.
    series_of_chunk = np.repeat(np.arange(len(lengths)), counts)
    j = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(first_chunk, counts)
    local = j[:, None] * stride + np.arange(k, dtype=np.int64)[None, :]
    local = np.minimum(local, (lengths[series_of_chunk] - 1)[:, None])
    index = first_point[series_of_chunk][:, None] + local

    # Points: which chunk keeps each one (see the module docstring) and at which position.
    series_of_point = np.repeat(np.arange(len(lengths)), lengths)
    q = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(first_point, lengths)
    jp = np.clip((q - head) // stride, 0, counts[series_of_point] - 1)
    return ChunkPlan(
        index=index,
        point_chunk=first_chunk[series_of_point] + jp,
        point_pos=q - jp * stride,
        level=j,
    )
