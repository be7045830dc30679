"""Which points are denoised, in which segments: sorting, time gaps and the pass-through rules.

A track is sorted by time (stable, so equal times keep the file's order) and cut where two
consecutive fixes are more than ``max_gap_s`` apart. A point passes through unchanged, and is
counted, when it cannot be denoised:

    non_finite      its latitude or longitude is missing or not a number
    no_time         it has no timestamp (nothing to order it by)
    duplicate_time  an earlier point of the same track has the same timestamp (the first one
                    is denoised; a track cannot be in two places at once, so the others keep
                    the receiver's coordinates rather than one of them being moved blindly)
    short_segment   its segment has fewer than ``MIN_SEGMENT_FIXES`` (8) points. The model
                    sees motion in a chunk of K (e.g. 256) points; a piece of 2 or 7 fixes
                    would be a chunk of mostly padding (its last point repeated), with next to
                    no motion to denoise from, and cost as much as a full chunk: a file cut by
                    time gaps into hundreds of 2-point pieces took 25 s and 730 MB for nothing.
                    A smoothing window of 9 fixes is a common minimum; a constant-velocity
                    Kalman filter needs a few fixes just to settle. Such points keep the
                    receiver's coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theta_cli.tracks.points import Points

PASS_REASONS = ("non_finite", "no_time", "duplicate_time", "short_segment")

#: Segments with fewer fixes than this pass through unchanged (``short_segment``).
MIN_SEGMENT_FIXES = 8


def default_max_gap(fix_interval_s: float) -> float:
    """Ten fixes of the model, and never under 10 s: a few lost fixes do not cut a track."""
    return max(10.0, 10.0 * fix_interval_s)


@dataclass(frozen=True)
class SegmentPlan:
    """Segment s is ``order[bounds[s]:bounds[s + 1]]``: point indices in time order."""

    order: np.ndarray  # int64 [M]
    bounds: np.ndarray  # int64 [S + 1]
    passed: dict[str, int]  # pass-through counts by reason (PASS_REASONS)
    short_segments: int = 0  # segments passed through whole for being under ``min_fixes``

    @property
    def n_segments(self) -> int:
        return len(self.bounds) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.bounds)

    @property
    def n_passed(self) -> int:
        return sum(self.passed.values())


def _sorted(group: np.ndarray, time: np.ndarray) -> bool:
    """Already in (group, time) order? Most files are; sorting a million fixes is not free."""
    if len(group) < 2:
        return True
    same = group[1:] == group[:-1]
    return bool((group[1:] >= group[:-1]).all() and (time[1:][same] >= time[:-1][same]).all())


def plan_segments(
    points: Points, max_gap_s: float, min_fixes: int = MIN_SEGMENT_FIXES
) -> SegmentPlan:
    """Sort, drop what passes through, and cut at gaps longer than ``max_gap_s`` seconds;
    segments of fewer than ``min_fixes`` points pass through (``short_segment``)."""
    finite_xy = np.isfinite(points.lat) & np.isfinite(points.lon)
    has_time = np.isfinite(points.time)
    passed = dict.fromkeys(PASS_REASONS, 0)
    passed["non_finite"] = int((~finite_xy).sum())
    passed["no_time"] = int((finite_xy & ~has_time).sum())

    idx = np.flatnonzero(finite_xy & has_time)
    group, time = points.group[idx], points.time[idx]
    if not _sorted(group, time):
        # lexsort is stable: among equal (group, time) the file's order decides what is first.
        idx = idx[np.lexsort((time, group))]
        group, time = points.group[idx], points.time[idx]
    order = idx
    dup = np.zeros(len(order), dtype=bool)
    dup[1:] = (group[1:] == group[:-1]) & (time[1:] == time[:-1])
    passed["duplicate_time"] = int(dup.sum())
    order, group, time = order[~dup], group[~dup], time[~dup]

    cut = np.zeros(len(order), dtype=bool)
    cut[1:] = (group[1:] != group[:-1]) | (np.diff(time) > max_gap_s)
    starts = np.flatnonzero(cut)
    if len(order):
        starts = np.concatenate([[0], starts])
    bounds = np.concatenate([starts, [len(order)]]).astype(np.int64)

    lengths = np.diff(bounds)
    short = lengths < max(1, min_fixes)
    passed["short_segment"] = int(lengths[short].sum())
    if short.any():
        keep = np.repeat(~short, lengths)
        order = order[keep]
        kept = lengths[~short]
        bounds = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)
    return SegmentPlan(
        order=order.astype(np.int64), bounds=bounds, passed=passed, short_segments=int(short.sum())
    )
