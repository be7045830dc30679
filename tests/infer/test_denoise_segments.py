"""Segments: time order, gaps, and each pass-through rule counted."""

from __future__ import annotations

import numpy as np

from theta_cli.infer.segments import default_max_gap, plan_segments
from theta_cli.tracks.points import Points


def make(lat, time, group=None) -> Points:
    lat = np.asarray(lat, dtype=float)
    group = np.zeros(len(lat), dtype=np.int64) if group is None else np.asarray(group)
    return Points(lat, np.full(len(lat), 11.0), np.asarray(time, dtype=float), group, 1)


def segments_of(plan) -> list[list[int]]:
    return [plan.order[a:b].tolist() for a, b in zip(plan.bounds[:-1], plan.bounds[1:],
                                                     strict=True)]  # fmt: skip


def test_sorted_by_time_split_at_gaps_and_per_track() -> None:
    # times: 3 2 1 | 30 31 (gap 27 s > 10 s) ; second track 0 1
    p = make([1] * 7, [3, 2, 1, 30, 31, 0, 1], [0, 0, 0, 0, 0, 1, 1])
    plan = plan_segments(p, 10.0, min_fixes=2)
    assert segments_of(plan) == [[2, 1, 0], [3, 4], [5, 6]]
    assert plan.n_passed == 0


def test_each_pass_through_rule_is_counted() -> None:
    nan = float("nan")
    p = make(
        [nan, 1, 1, 1, 1, 1, 1, 1],
        [0, nan, 1, 2, 2, 3, 100, 4],  # no time; duplicate 2; lone fix at 100 s
    )
    plan = plan_segments(p, 10.0, min_fixes=2)
    assert plan.passed == {"non_finite": 1, "no_time": 1, "duplicate_time": 1,
                           "short_segment": 1}  # fmt: skip
    # The first of the duplicates (file order) is denoised, the second passes through.
    assert segments_of(plan) == [[2, 3, 5, 7]]
    assert plan.n_passed + len(plan.order) == len(p)


def test_default_max_gap_follows_the_model_interval() -> None:
    assert default_max_gap(1.0) == 10.0
    assert default_max_gap(5.0) == 50.0
    assert default_max_gap(0.1) == 10.0


def test_nothing_to_denoise_is_no_segment() -> None:
    plan = plan_segments(make([1.0], [0.0]), 10.0)
    assert plan.n_segments == 0 and plan.passed["short_segment"] == 1
