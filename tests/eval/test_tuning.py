"""Grid tuning of the baselines on val tracks, and the val/test separation it relies on."""

from __future__ import annotations

import numpy as np
import pytest

from theta_cli.core.errors import ThetaError
from theta_cli.eval.baselines import BASELINES
from theta_cli.eval.trajectory import Track, get_criterion, track_errors
from theta_cli.eval.tuning import (
    Q_GRID,
    R_GRID,
    assert_disjoint,
    tune_all,
    tune_rts,
    tune_savgol,
)


def noisy_tracks(m: int, n: int, seed: int, prefix: str) -> list[Track]:
    """Turning tracks at jittered ~1 Hz, white noise of 4 m, a slow AR(1) drift and 1 %
    outliers of ~40 m: the mix that separates the robust smoother from the plain one."""
    rng = np.random.default_rng(seed)
    tracks = []
    for j in range(m):
        dt = rng.uniform(0.7, 1.3, n - 1)
        t = np.concatenate([[0.0], np.cumsum(dt)])
        heading = np.cumsum(rng.normal(0.0, 0.04, n))
        speed = (1.4, 5.0, 12.0)[j % 3]
        vel = speed * np.stack([np.cos(heading), np.sin(heading)], 1)
        clean = np.cumsum(vel * np.concatenate([[0.0], dt])[:, None], axis=0)
        drift = np.zeros((n, 2))
        for k in range(1, n):
            drift[k] = 0.95 * drift[k - 1] + rng.normal(0.0, 0.5, 2)
        xy = clean + drift + rng.normal(0.0, 4.0, (n, 2))
        spikes = rng.random(n) < 0.01
        xy[spikes] += rng.normal(0.0, 40.0, (int(spikes.sum()), 2))
        tracks.append(Track(f"{prefix}{j}", t, xy, clean, ("walk", "cycle", "drive")[j % 3]))
    return tracks


@pytest.fixture(scope="module")
def val() -> list[Track]:
    return noisy_tracks(6, 300, seed=0, prefix="val")


@pytest.fixture(scope="module")
def tuned(val: list[Track]) -> dict:
    return tune_all(val)


def test_tuned_scores_are_what_the_baselines_give(val: list[Track], tuned: dict) -> None:
    """The batched grid path and the public apply path agree, so the reported score is the
    score of the reported parameters."""
    gsdc = get_criterion("gsdc")
    assert list(tuned) == ["raw", "rts", "robust_rts", "adaptive_rts", "savgol"]
    for name, tu in tuned.items():
        est = BASELINES[name](val, **tu.params)
        assert tu.score == pytest.approx(gsdc(track_errors(val, est)), rel=1e-9), name
        assert tu.criterion == "gsdc" and tu.seconds >= 0
        assert tu.score == min(score for _, score in tu.grid)


def test_tuning_beats_raw_and_default_parameters(val: list[Track], tuned: dict) -> None:
    raw = tuned["raw"].score
    for name in ("rts", "robust_rts", "savgol"):
        assert tuned[name].score < 0.85 * raw, name
    # With 1 % outliers of 40 m, gating must pay for itself.
    assert tuned["robust_rts"].score < tuned["rts"].score
    assert set(tuned["robust_rts"].params) == {"q", "r", "gate"}
    assert 0.5 < tuned["robust_rts"].params["gate"] < 1.0
    assert set(tuned["savgol"].params) == {"window", "order"}
    # Coarse grid plus a refinement: more sets than the coarse product, far fewer than a fine grid.
    assert len(Q_GRID) * len(R_GRID) < tuned["rts"].evaluated < 2 * len(Q_GRID) * len(R_GRID)


def test_criterion_is_a_parameter(val: list[Track]) -> None:
    by_p95 = tune_savgol(val, "p95")
    est = BASELINES["savgol"](val, **by_p95.params)
    assert by_p95.score == pytest.approx(np.percentile(track_errors(val, est), 95))
    custom = tune_rts(val, lambda e: float(np.max(e)))
    assert custom.criterion == "<lambda>"
    est = BASELINES["rts"](val, **custom.params)
    assert custom.score == pytest.approx(track_errors(val, est).max())


def test_tuning_needs_clean_val() -> None:
    with pytest.raises(ThetaError, match="no val points"):
        tune_all([])
    bare = Track("x", np.arange(5.0), np.zeros((5, 2)))
    with pytest.raises(ThetaError, match="no clean truth"):
        tune_rts([bare])
    with pytest.raises(ThetaError, match="unknown methods"):
        tune_all(noisy_tracks(1, 10, seed=1, prefix="v"), methods=["raw", "ukf"])


def test_val_and_test_agents_must_not_overlap() -> None:
    val = noisy_tracks(3, 10, seed=1, prefix="agent")  # agent0..agent2
    test = noisy_tracks(4, 10, seed=2, prefix="agent")[2:]  # agent2, agent3: agent2 overlaps
    with pytest.raises(ThetaError, match=r"1 ids .*agent2"):
        assert_disjoint(val, test)
    assert_disjoint(val, test[1:])  # agent3 only
    assert_disjoint(["a", "b"], ["c"])
    # Segment ids of one agent overlap through the key.
    assert_disjoint(["a/1", "b/1"], ["a/2"])
    with pytest.raises(ThetaError, match="a"):
        assert_disjoint(["a/1", "b/1"], ["a/2"], key=lambda s: s.split("/")[0])
