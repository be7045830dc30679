"""Bench's bootstrap intervals (``eval.bootstrap``) and how a gain is worded: resampled whole
agents, paired, seeded; a gain whose interval includes 0 is "level"."""

from __future__ import annotations

import numpy as np
import pytest

from theta_cli.eval.bench_render import gain_cell
from theta_cli.eval.bench_score import compare
from theta_cli.eval.bench_types import MethodRow
from theta_cli.eval.bootstrap import Resampler, gain_interval, verdict


def _errors(agents: int = 40, per: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-point errors with a per-agent level (correlated within an agent) and the agents."""
    rng = np.random.default_rng(seed)
    level = rng.gamma(4.0, 1.0, size=agents)
    ids = np.repeat([f"walk_{i}" for i in range(agents)], per)
    e = np.repeat(level, per) * rng.gamma(2.0, 0.5, size=agents * per)
    return e, ids


def _row(method: str, errors: np.ndarray) -> MethodRow:
    med, p95 = np.percentile(errors, [50, 95])
    return MethodRow(method=method, label=method, params={}, points=errors.size, seconds=1.0,
                     points_per_s=None, errors=errors, mean=float(errors.mean()),
                     median=float(med), p95=float(p95), rmse=0.0, max=float(errors.max()),
                     gsdc=float((med + p95) / 2),
                     per_class={"walk": {"median": float(med), "p95": float(p95)}})  # fmt: skip


def test_resampled_quantiles_are_those_of_the_pooled_agents() -> None:
    e, ids = _errors(agents=7, per=50)
    r = Resampler.of(ids, resamples=5, seed=3)
    mask = np.arange(e.size) % 3 != 0
    got = r.quantiles(e, [0.5, 0.95], mask)
    agent = r.group
    for b in range(5):
        pool = np.concatenate([np.flatnonzero((agent == g) & mask)
                               for g in np.repeat(np.arange(7), r.counts[b])])  # fmt: skip
        np.testing.assert_allclose(got[b], np.quantile(e[pool], [0.5, 0.95]), rtol=1e-12)


def test_identical_methods_are_level() -> None:
    e, ids = _errors()
    r = Resampler.of(ids)
    q = r.quantiles(e, [0.5, 0.95])
    low, high = gain_interval(q[:, 0], q[:, 0])
    assert low <= 0 <= high and verdict(low, high) == "level"
    rows = [_row("rts", e), _row("theta", e.copy())]
    cls = np.array(["walk"] * e.size, dtype=object)
    codes = np.zeros(e.size, dtype=np.int8)
    gains = compare(rows, ["walk"], cls, codes, r)
    for family in ("all", "class", "situation"):
        for g in next(iter(gains[family].values())).values():
            assert g.low <= 0 <= g.high and g.verdict == "level" and g.resamples == 300
            assert gain_cell(g).startswith("level")


def test_a_clearly_better_method_wins_and_the_interval_is_seeded() -> None:
    e, ids = _errors()
    better = e * np.random.default_rng(5).uniform(0.8, 0.9, size=e.size)
    rows = [_row("robust_rts", e), _row("theta", better)]
    cls = np.array(["walk"] * e.size, dtype=object)
    codes = np.zeros(e.size, dtype=np.int8)
    one = compare(rows, ["walk"], cls, codes, Resampler.of(ids))["all"]["all"]
    two = compare(rows, ["walk"], cls, codes, Resampler.of(ids))["all"]["all"]
    other = compare(rows, ["walk"], cls, codes, Resampler.of(ids, seed=1))["all"]["all"]
    for k in ("median", "p95"):
        g = one[k]
        assert 0 < g.low <= g.pct <= g.high and g.verdict == "better"
        assert gain_cell(g) == f"{g.pct:+.1f}%"
        assert (two[k].low, two[k].high) == (g.low, g.high)
    assert (other["p95"].low, other["p95"].high) != (one["p95"].low, one["p95"].high)
    swapped = [_row("rts", better), _row("theta", e)]
    worse = compare(swapped, ["walk"], cls, codes, Resampler.of(ids))["all"]["all"]["median"]
    assert worse.high < 0 and worse.verdict == "worse"


def test_no_interval_is_level() -> None:
    assert verdict(None, None) == "level" and verdict(float("nan"), 1.0) == "level"
    low, high = gain_interval(np.full(3, np.nan), np.ones(3))
    assert np.isnan(low) and np.isnan(high)


@pytest.mark.parametrize("points", [216_000])
def test_intervals_are_fast(points: int) -> None:
    """300 resamples of 216,000 points: well under a second per method on one core."""
    import time

    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(60), points // 60)
    r = Resampler.of(ids)
    start = time.perf_counter()
    r.quantiles(rng.gamma(2.0, 2.0, size=points), [0.5, 0.95])
    assert time.perf_counter() - start < 3.0
