"""The resampling grid is bounded by the input: an absurd model fix interval is refused where it
is read, and a grid far larger than the track (joined across huge gaps by --max-gap) is refused
in one line naming the file, fast and before anything is allocated."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _infer_helpers import T0, ZeroModel, fake_loader, invoke, points, settings, track
from conftest import assert_refused
from test_nonfinite_model import export_dir

from theta_cli.core.config import TrainConfig, validate_train
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import DatasetLayout, RunLayout
from theta_cli.engine import plan
from theta_cli.infer.pipeline import denoise_points
from theta_cli.infer.runner import FlowRunner
from theta_cli.tracks import resample


def test_fix_interval_range_in_the_config() -> None:
    for ok in (0.01, 1.0, 3600.0):
        assert TrainConfig(fix_interval_s=ok).fix_interval_s == ok
    for bad in (1e-6, 0.009, 3601.0):
        with pytest.raises(ThetaError, match="fix_interval_s"):
            validate_train({"fix_interval_s": bad}, "cfg.json")
        with pytest.raises(ThetaError, match="model fix interval"):  # a model from elsewhere
            settings(fix_interval_s=bad).validate()


def test_denoise_refuses_a_model_with_a_microsecond_fix_interval(theta_env: Path) -> None:
    model = export_dir(theta_env / "exported")
    cfg_path = RunLayout(model).config_path
    cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()), "fix_interval_s": 1e-6}))
    lat, lon, t = track(20, seed=1)
    pd.DataFrame({"timestamp": t, "latitude": lat, "longitude": lon}).to_csv("a.csv", index=False)
    start = time.perf_counter()
    res = invoke("denoise", "a.csv", "--model", model, "--out", "o.csv", "--device", "cpu")
    assert time.perf_counter() - start < 10
    assert_refused(res, "config.json", "fix_interval_s=1e-06")
    assert not Path("o.csv").exists()


def test_a_prepare_manifest_with_an_absurd_fix_interval_is_refused(tmp_path: Path) -> None:
    train = tmp_path / "dataset" / "processed" / "train"
    manifest = DatasetLayout.of_split_dir(train).manifest_path
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"fix_interval_s": 1e-6}))
    with pytest.raises(ThetaError, match=r"prepare.json: fix_interval_s=1e-06"):
        plan.resolve_fix_interval(TrainConfig(train_dir=str(train)))
    manifest.write_text(json.dumps({"fix_interval_s": 5.0}))
    assert plan.resolve_fix_interval(TrainConfig(train_dir=str(train))).fix_interval_s == 5.0


def test_max_gap_joining_years_of_gaps_is_refused_fast(theta_env: Path, monkeypatch) -> None:
    """20 fixes 3e7 s apart joined by --max-gap 1e12: a 1 s grid would be 5.7e8 points."""
    fake_loader(monkeypatch, ZeroModel())
    lat, lon, _ = track(20, seed=2)
    t = T0 + 3e7 * np.arange(20)
    pd.DataFrame({"timestamp": t, "latitude": lat, "longitude": lon}).to_csv("far.csv", index=False)
    start = time.perf_counter()
    res = invoke("denoise", "far.csv", "--model", "m", "--out", "o.csv", "--max-gap", "1e12")
    assert time.perf_counter() - start < 10
    assert_refused(res, "far.csv", "grid", "20 fixes", "--max-gap")
    assert not Path("o.csv").exists()


@pytest.mark.parametrize(
    ("dt", "n", "gap"),
    [(0.1, 600, None), (5.0, 400, None), (9.5, 300, None), (2.0, 50, 3600.0)],
    ids=["10Hz-down", "5s-fleet-up", "default-gap-worst", "hour-pause-joined"],
)
def test_legitimate_tracks_are_never_refused(
    dt: float, n: int, gap: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if gap is None:  # only the per-fix factor may admit these: take the fixed allowance away
        monkeypatch.setattr(resample, "GRID_SLACK", 0)
    lat, lon, t = track(n, dt=dt, seed=3)
    if gap is not None:
        t[n // 2 :] += gap - 10.0  # a pause just under --max-gap, joined into one segment
    s = settings(max_gap_s=gap)
    (res,) = denoise_points([points((lat, lon, t))], FlowRunner(ZeroModel(), 1, 64), s)
    assert res.resampled == 1 and res.out.changed.all()


def test_grid_limit_grows_with_the_input() -> None:
    assert resample.grid_limit(10) >= 10 * resample.GRID_FACTOR
    assert resample.grid_limit(10**6) == resample.GRID_FACTOR * 10**6
    time_ = np.array([0.0, 1e300])  # astronomically many grid points: counted, not allocated
    assert resample.grid_lengths(time_, np.array([0, 2]), 1.0)[0] > 1e299
