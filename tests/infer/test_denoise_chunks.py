"""Cutting series into chunks and stitching payloads: every point exactly once, from the right
chunk position (checked against the rule written out point by point)."""

from __future__ import annotations

import numpy as np
import pytest

from theta_cli.infer.chunks import chunk_counts, payload, plan_chunks


def kept_by_rule(n: int, k: int, q1: int, q2: int) -> list[tuple[int, int]]:
    """(chunk, position) keeping each point of one series, spelled out with plain loops."""
    head, stride = 8 * q1, k - 8 * (q1 + q2)
    m = 1
    while (m - 1) * stride + k < n:
        m += 1
    out = []
    for q in range(n):
        for j in range(m):
            lo = 0 if j == 0 else j * stride + head
            hi = n if j == m - 1 else (j + 1) * stride + head
            if lo <= q < hi:
                out.append((j, q - j * stride))
                break
        else:
            raise AssertionError(f"point {q} not kept")
    return out


@pytest.mark.parametrize(("k", "q1", "q2"), [(32, 1, 0), (32, 1, 1), (32, 0, 2), (16, 0, 0),
                                             (64, 2, 3)])  # fmt: skip
def test_every_point_is_kept_once_from_the_payload(k: int, q1: int, q2: int) -> None:
    lengths = np.array([1, 2, k - 1, k, k + 1, 3 * k + 5, 100, 7])
    plan = plan_chunks(lengths, k, q1, q2)
    # Reading back the chunk position each point keeps gives the point itself: full coverage.
    assert (plan.index[plan.point_chunk, plan.point_pos] == np.arange(lengths.sum())).all()
    first_chunk = np.concatenate([[0], np.cumsum(chunk_counts(lengths, k, q1, q2))[:-1]])
    start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for s, n in enumerate(lengths):
        got = list(zip(plan.point_chunk[start[s] : start[s] + n] - first_chunk[s],
                       plan.point_pos[start[s] : start[s] + n], strict=True))  # fmt: skip
        assert got == [(int(a), int(b)) for a, b in kept_by_rule(int(n), k, q1, q2)]


def test_chunks_stride_by_the_payload_and_pad_with_the_last_point() -> None:
    k, q1, q2 = 32, 1, 1
    stride = payload(k, q1, q2)
    assert stride == 16
    plan = plan_chunks(np.array([70]), k, q1, q2)
    # 70 points: chunks at 0, 16, 32, 48 (the last one reaches 70 and is padded).
    assert plan.n_chunks == 4
    assert (plan.index[:, 0] == [0, 16, 32, 48]).all()
    assert (plan.index[3] == np.minimum(np.arange(48, 80), 69)).all()
    # Neighbouring chunks overlap by the buckles: 8 * (Q1 + Q2) = 16 points.
    assert len(set(plan.index[0]) & set(plan.index[1])) == 16


def test_a_short_series_is_one_padded_chunk_and_series_never_mix() -> None:
    plan = plan_chunks(np.array([5, 3]), 16, 1, 0)
    assert plan.n_chunks == 2
    assert (plan.index[0] == [0, 1, 2, 3, 4] + [4] * 11).all()
    assert (plan.index[1] == [5, 6, 7] + [7] * 13).all()
    assert (plan.point_chunk == [0] * 5 + [1] * 3).all()


def test_no_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="no payload"):
        plan_chunks(np.array([10]), 16, 1, 1)
