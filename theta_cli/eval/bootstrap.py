"""Bootstrap intervals for bench's gains: how sure is "theta is x% better than the baseline"?

Errors are correlated along a track for 30-60 s (the receiver's drift), so the points of one
agent are not independent samples and a per-point bootstrap would give intervals far too
narrow. The unit resampled is therefore the whole agent: each resample draws the agents with
replacement, pools every point of the drawn agents (an agent drawn twice counts twice) and
recomputes both methods' quantiles on those same points (paired), then the gain in percent.
The interval is the central ``LEVEL`` share of the resampled gains (percentile bootstrap); a
gain whose interval includes 0 is "level".

A resample's quantile is that of the concatenation of its agents' points, exactly as
``np.quantile`` (linear interpolation) would give it, computed without building the
concatenation: the errors are sorted once, each resample is a weight per point (how many times
its agent was drawn), and the k-th order statistic of the pool is where the cumulative weight
passes k. Resamples go in blocks, so one block's weights stay a few tens of MB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 300
LEVEL = 0.90
SEED = 0
#: Most weights (resamples x points) held at once: 4M int32, 16 MB.
BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class Resampler:
    """The agent draws shared by every interval of one bench: ``group`` is each point's agent
    (0..n_groups-1), ``counts[b, g]`` how often resample b drew agent g. One draw for all
    methods and subsets, so every interval is paired and a rerun gives the same numbers."""

    group: np.ndarray  # int64 [points]
    counts: np.ndarray  # int64 [resamples, groups]

    @classmethod
    def of(
        cls, agents: Sequence[str] | np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
    ) -> Resampler:
        """``agents``: each point's agent id (any hashable labels)."""
        _, group = np.unique(np.asarray(agents), return_inverse=True)
        n = int(group.max()) + 1 if group.size else 0
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, max(n, 1), size=(resamples, n))
        counts = np.zeros((resamples, n), dtype=np.int64)
        rows = np.repeat(np.arange(resamples), n)
        np.add.at(counts, (rows, draws.ravel()), 1)
        return cls(group.astype(np.int64), counts)

    @property
    def resamples(self) -> int:
        return int(self.counts.shape[0])

    def quantiles(
        self, errors: np.ndarray, qs: Sequence[float], mask: np.ndarray | None = None
    ) -> np.ndarray:
        """[resamples, len(qs)]: each resample's quantiles of ``errors`` (restricted to
        ``mask``); NaN where a resample drew no point of the mask."""
        e = np.asarray(errors, dtype=np.float64)
        g = self.group
        if mask is not None:
            e, g = e[mask], g[mask]
        out = np.full((self.resamples, len(qs)), np.nan)
        if e.size == 0:
            return out
        order = np.argsort(e, kind="stable")
        e, g = e[order], g[order]
        block = max(1, BLOCK_CELLS // e.size)
        counts = self.counts.astype(np.int32)
        for lo in range(0, self.resamples, block):
            # int32: a pool never reaches 2**31 points, and half the memory traffic of int64.
            cum = np.cumsum(counts[lo : lo + block][:, g], axis=1, dtype=np.int32)
            out[lo : lo + len(cum)] = _pooled_quantiles(e, cum, qs)
        return out


def _pooled_quantiles(e: np.ndarray, cum: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Linear-interpolated quantiles of each row's pool, where row b holds sorted point i
    ``cum[b, i] - cum[b, i - 1]`` times. One binary search per row and quantile: cheap next to
    the cumulative sums, and no copy of the block."""
    n = cum.shape[1]
    out = np.full((len(cum), len(qs)), np.nan)
    for b, row in enumerate(cum):
        total = int(row[-1])
        if total == 0:
            continue
        h = (total - 1) * np.asarray(qs, dtype=np.float64)
        k = np.floor(h).astype(np.int64)
        # The k-th (0-based) order statistic: the first point whose cumulative weight is > k.
        i = np.searchsorted(row, np.concatenate([k, np.minimum(k + 1, total - 1)]), "right")
        i = np.minimum(i, n - 1)
        lo, hi = e[i[: len(qs)]], e[i[len(qs) :]]
        out[b] = lo + (h - k) * (hi - lo)
    return out


def gain_interval(
    baseline: np.ndarray, theta: np.ndarray, level: float = LEVEL
) -> tuple[float, float]:
    """(low, high) of the paired gain in percent, ``baseline`` and ``theta`` being one
    quantile's resampled values ([resamples], from the same ``Resampler``); resamples where
    either is missing or the baseline is 0 are left out."""
    ok = np.isfinite(baseline) & np.isfinite(theta) & (baseline > 0)
    if not ok.any():
        return float("nan"), float("nan")
    g = 100.0 * (baseline[ok] - theta[ok]) / baseline[ok]
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(g, [tail, 1.0 - tail])
    return float(low), float(high)


def verdict(low: float | None, high: float | None) -> str:
    """The word for a gain: better, worse, or level (the interval includes 0; also when
    there is none)."""
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return "level"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "level"
