"""Bench's situations (``eval.situations``) and per-class tuning (``bench_score.tune``): where a
point is, from the clean track and the known noise; every baseline tuned and applied per travel
class, and refused where there is no class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, reset_theta_globals

from theta_cli.core.errors import ThetaError
from theta_cli.eval import bench_score, situations
from theta_cli.eval.bench_data import read_pairs
from theta_cli.eval.situations import SITUATIONS, label_track


def _code(name: str) -> int:
    return SITUATIONS.index(name)


def test_situations_of_a_made_track() -> None:
    """East at 10 m/s for 60 s, a stop of 20 s, a quarter circle at 0.5 rad/s, east again, at
    irregular times; one outlier of 40 m in the white noise of the last stretch."""
    t = np.concatenate([np.arange(0, 60), 60 + np.arange(0, 20), 80 + np.arange(0, 3.2, 0.8),
                        84 + np.arange(0, 60, 2.0)])  # fmt: skip
    xy = np.zeros((len(t), 2))
    i_stop, i_turn, i_east = 60, 80, 84
    xy[:i_stop, 0] = 10 * t[:i_stop]
    xy[i_stop:i_turn] = [600, 0]
    ang = 0.5 * (t[i_turn:i_east] - 80)  # heading from 0 to 1.2 rad
    xy[i_turn:i_east] = np.c_[600 + 20 * np.sin(ang), 20 * (1 - np.cos(ang))]
    end = xy[i_east - 1]
    xy[i_east:] = end + np.c_[10 * (t[i_east:] - t[i_east - 1]), np.zeros(len(t) - i_east)]
    noise = np.random.default_rng(0).normal(0, 3, size=xy.shape)
    k = i_east + 15
    noise[k] += [40, 0]
    got = label_track(t, xy, xy + noise)
    assert (got[5:55] == _code("cruise")).all()
    assert (got[i_stop + 1 : i_turn - 1] == _code("stop")).all()
    assert (got[i_turn + 1 : i_east - 1] == _code("turn")).all()
    # Both steps of the outlier are jumps: the outlier, and 10 fixes either side of its steps.
    near = np.flatnonzero(got == _code("near_outlier"))
    assert near.min() == k - 1 - 10 and near.max() == k + 1 + 10 and len(near) == 23


def test_near_outlier_wins_and_small_jitter_is_no_jump() -> None:
    t = np.arange(100.0)
    clean = np.zeros((100, 2))  # standing still: every fix a stop
    noise = np.random.default_rng(1).normal(0, 1.0, size=(100, 2))
    assert (label_track(t, clean, clean + noise) == _code("stop")).all()
    noise[50] += [0, 30]
    got = label_track(t, clean, clean + noise)
    assert (got[39:62] == _code("near_outlier")).all() and (got[:39] == _code("stop")).all()
    # A zero time step (two fixes of one instant) breaks nothing.
    t[10] = t[9]
    assert len(label_track(t, clean, clean + noise)) == 100


def test_per_situation_counts_add_up() -> None:
    e = np.arange(10.0)
    codes = np.array([0, 0, 1, 1, 1, 3, 3, 3, 3, 3], dtype=np.int8)
    got = situations.per_situation(e, codes)
    assert set(got) == {"near_outlier", "stop", "cruise"}
    assert sum(v["points"] for v in got.values()) == 10 and got["stop"]["median"] == 3.0


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = []
    for seed in (7, 8):
        path = tmp_path_factory.mktemp("pairs") / str(seed)
        res = invoke("data", "synth", "--out", path, "--agents", 9, "--points", 200,
                     "--files", 1, "--seed", seed, "--format", "csv")  # fmt: skip
        reset_theta_globals()
        assert res.exit_code == 0, res.output + res.stderr
        out.append(path)
    return out[0], out[1]


def test_tune_per_class(pairs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each class is tuned on its own tuning tracks only, and its parameters are applied to
    its own scored tracks."""
    from theta_cli.eval import tuning
    from theta_cli.eval.tuning import Tuned

    scored, tune = (read_pairs(p, "--pairs") for p in pairs)
    seen: list[list[str]] = []
    r = {"walk": 2.0, "cycle": 8.0, "drive": 32.0}

    def fake(val, criterion="gsdc", methods=("raw", "rts")):  # type: ignore[no-untyped-def]
        seen.append([tr.id for tr in val])
        c = val[0].cls
        return {"raw": Tuned("raw", {}, 1.0, "gsdc", 1, 0.0),
                "rts": Tuned("rts", {"q": 1.0, "r": r[c]}, 1.0, "gsdc", 1, 0.0)}

    monkeypatch.setattr(tuning, "tune_all", fake)
    tunings = bench_score.tune(tune, scored, "gsdc", per_class=True)
    assert list(tunings) == ["walk", "cycle", "drive"]
    assert all(len({ids[0].split("_")[0]} | {i.split("_")[0] for i in ids}) == 1 for ids in seen)
    rows = bench_score.run_baselines(scored, tunings, ["walk", "cycle", "drive"])
    rts = next(row for row in rows if row.method == "rts")
    assert rts.params == {c: {"q": 1.0, "r": v} for c, v in r.items()}
    from theta_cli.smooth.kalman import rts_smooth

    for c, v in r.items():
        idx = [i for i, tr in enumerate(scored.tracks) if tr.cls == c]
        lat, lon = scored.to_latlon(rts_smooth(scored.tracks, q=1.0, r=v))
        want = bench_score._error(scored, lat, lon)
        a, b = scored.bounds[idx[0]], scored.bounds[idx[0] + 1]
        np.testing.assert_allclose(rts.errors[a:b], want[a:b], atol=1e-9)
    summary = bench_score.tuned_summary(tunings)
    assert set(summary["rts"]["per_class"]) == {"walk", "cycle", "drive"}


def test_tune_per_class_needs_classes(pairs: tuple[Path, Path]) -> None:
    scored, tune = (read_pairs(p, "--pairs") for p in pairs)
    bare = read_pairs(pairs[1], "--pairs")
    object.__setattr__(bare.tracks[0], "cls", None)
    with pytest.raises(ThetaError, match="--tune-per-class: 1 of the 9 tuning tracks.*no travel"):
        bench_score.tune(bare, scored, "gsdc", per_class=True)
    walkers = read_pairs(pairs[1], "--pairs")
    for tr in walkers.tracks:
        object.__setattr__(tr, "cls", "walk")
    with pytest.raises(ThetaError, match="have (cycle|drive) agents.*none to tune on"):
        bench_score.tune(walkers, scored, "gsdc", per_class=True)
