"""theta_cli.data.synth / noise / motion: determinism, the raw contract, realistic motion and
noise statistics that match the noise model (estimated from clean vs noisy in ENU)."""

from __future__ import annotations

import hashlib
import json
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pymap3d
import pytest

from theta_cli.core.errors import ThetaError
from theta_cli.data.motion import MODES, MOTIONS, make_track, ou
from theta_cli.data.noise import NOISE_FILE, NoiseModel, ar1_drift
from theta_cli.data.rawio import RAW_COLUMNS
from theta_cli.data.synth import SYNTH_FILE, SynthConfig, synthesize


def _hashes(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_gives_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    cfg = SynthConfig(agents=4, points=300, files=2, seed=3, format=fmt)
    synthesize(cfg, tmp_path / "a")
    synthesize(cfg, tmp_path / "b")
    a, b = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert a == b
    assert sorted(a) == [NOISE_FILE, f"part-0000.{fmt}", f"part-0001.{fmt}", SYNTH_FILE]
    synthesize(cfg.model_copy(update={"seed": 4}), tmp_path / "c")
    c = _hashes(tmp_path / "c")
    assert c[f"part-0000.{fmt}"] != a[f"part-0000.{fmt}"]


def test_raw_contract_and_realistic_motion(tmp_path: Path) -> None:
    cfg = SynthConfig(agents=9, points=900, files=3, seed=1, center_lat=-33.9, center_lon=151.2)
    summary = synthesize(cfg, tmp_path)
    assert summary.fixes == 9 * 900 and len(summary.files) == 3
    frames = [pd.read_parquet(p) for p in summary.files]
    assert all(list(f.columns) == list(RAW_COLUMNS) for f in frames)
    agents_per_file = [set(f["agent"]) for f in frames]
    assert sum(len(a) for a in agents_per_file) == 9  # each agent in exactly one file
    df = pd.concat(frames)
    stopped = turned = 0
    assert json.loads((tmp_path / NOISE_FILE).read_text()) == NoiseModel().model_dump()
    for agent, g in df.groupby("agent"):
        assert len(g) == 900
        dt = np.diff(g["timestamp"].to_numpy())
        assert (dt > 0).all() and 0.9 < np.median(dt) < 1.1  # 1 Hz, jittered
        assert not np.allclose(dt, np.round(dt))  # timing jitter is present
        e, n, _ = pymap3d.geodetic2enu(g["latitude"], g["longitude"], 0, -33.9, 151.2, 0)
        assert np.hypot(e, n).min() < 5000 + 900 * 40  # placed around the centre
        speed = np.hypot(np.diff(e), np.diff(n)) / dt
        mode = agent.split("_")[0]
        lo, hi = {"walk": (0.8, 2.5), "cycle": (2.5, 9.0), "drive": (5.0, 25.0)}[mode]
        assert lo < np.median(speed[speed > 0.1]) < hi, (agent, np.median(speed))
        stopped += int((speed < 0.2).sum())
        heading = np.unwrap(np.arctan2(np.diff(e), np.diff(n))[speed > 0.5])
        turned += int(np.abs(np.diff(heading)).max() > np.deg2rad(5))
    assert stopped > 0  # some agents wait at lights and crossings
    assert turned >= 8  # straight legs joined by turns, not straight lines
    # Missing fixes: some gaps of about 2 s exist somewhere.
    gaps = np.concatenate([np.diff(g["timestamp"].to_numpy()) for _, g in df.groupby("agent")])
    assert (gaps > 1.5).sum() > 0


def test_ou_matches_its_parameters() -> None:
    x = ou(400_000, 2.0, 10.0, np.random.default_rng(0))
    assert x.std() == pytest.approx(2.0, rel=0.03)
    rho = np.mean(x[:-10] * x[10:]) / np.mean(x * x)
    assert rho == pytest.approx(np.exp(-1.0), abs=0.03)
    starts = np.array([ou(3, 2.0, 10.0, np.random.default_rng(s))[0] for s in range(4000)])
    assert starts.std() == pytest.approx(2.0, rel=0.05)  # x_0 already stationary


def _cruise_stats(motion: str) -> tuple[float, float]:
    """Over many drive agents: median heading change over 20 s and median relative speed spread
    over 20 s, both in windows where the agent cruises (no stop, no turn)."""
    turns, spreads = [], []
    for seed in range(30):
        t = make_track(1200, np.random.default_rng([11, seed]), 0.0, 0.0, 0.0,
                       mode=MODES[2], motion=motion)  # fmt: skip
        v = np.diff(np.c_[t.east, t.north], axis=0)
        speed = np.hypot(*v.T)
        heading = np.unwrap(np.arctan2(v[:, 0], v[:, 1]))
        for i in range(0, len(v) - 20, 20):
            s, h = speed[i : i + 20], heading[i : i + 20]
            if s.min() > 3.0 and np.abs(np.diff(h)).max() < np.deg2rad(3.0):
                turns.append(abs(h[-1] - h[0]))
                spreads.append(s.std() / s.mean())
    return float(np.rad2deg(np.median(turns))), float(np.median(spreads))


def test_curvy_motion_bends_and_varies_speed_within_legs() -> None:
    legs_turn, legs_spread = _cruise_stats("legs")
    curvy_turn, curvy_spread = _cruise_stats("curvy")
    assert legs_turn < 3.0 and legs_spread < 0.01  # the old legs: ruler-straight, one speed
    assert curvy_turn > 2 * legs_turn and curvy_turn > 4.0  # curvy roads
    assert curvy_spread > 3 * legs_spread and curvy_spread > 0.02  # speed wanders


def test_unknown_motion_is_refused() -> None:
    with pytest.raises(ValueError, match="motion 'zigzag'"):
        make_track(10, np.random.default_rng(0), 0.0, 0.0, 0.0, motion="zigzag")
    assert typing.get_args(SynthConfig.model_fields["motion"].annotation) == MOTIONS


def test_ar1_drift_matches_its_parameters() -> None:
    times = np.arange(200_000, dtype=float)
    x = ar1_drift(times, 3.0, 30.0, np.random.default_rng(0))
    assert x.std() == pytest.approx(3.0, rel=0.05)
    lag = 30
    rho = np.mean(x[:-lag] * x[lag:]) / np.mean(x * x)
    assert rho == pytest.approx(np.exp(-1.0), abs=0.05)


def test_ar1_drift_survives_long_outages() -> None:
    times = np.concatenate([np.arange(100.0), 1e7 + np.arange(100.0)])
    x = ar1_drift(times, 2.0, 0.5, np.random.default_rng(0))
    assert np.isfinite(x).all()


def _enu_noise(df: pd.DataFrame) -> list[np.ndarray]:
    """Per agent: noisy minus clean position in metres (common origin: first clean fix)."""
    out = []
    for _, g in df.groupby("agent"):
        lat0, lon0 = g["latitude"].iloc[0], g["longitude"].iloc[0]
        e0, n0, _ = pymap3d.geodetic2enu(g["latitude"], g["longitude"], 0, lat0, lon0, 0)
        e1, n1, _ = pymap3d.geodetic2enu(g["latitude_n"], g["longitude_n"], 0, lat0, lon0, 0)
        out.append(np.stack([np.asarray(e1 - e0), np.asarray(n1 - n0)], axis=1))
    return out


def test_noise_statistics_match_noise_model(tmp_path: Path) -> None:
    model = NoiseModel(white_sigma=4.0, drift_sigma=3.0, drift_tau=30.0, outlier_rate=0.005,
                       outlier_min=40.0, outlier_max=80.0, outlier_max_fixes=3)
    cfg = SynthConfig(agents=8, points=3000, files=2, seed=7, missing_rate=0.0)
    synthesize(cfg, tmp_path, noise=model)
    df = pd.concat(pd.read_parquet(p) for p in sorted(tmp_path.glob("*.parquet")))
    events = fixes = 0
    cov = np.zeros(21)
    pairs = np.zeros(21)
    for noise in _enu_noise(df):
        # Outliers: far from a running median (white + drift stay within ~15 m of it).
        med = pd.DataFrame(noise).rolling(11, center=True, min_periods=1).median().to_numpy()
        flagged = np.hypot(*(noise - med).T) > 20.0
        events += int(flagged[0]) + int((flagged[1:] & ~flagged[:-1]).sum())
        fixes += len(noise)
        clean = noise.copy()
        clean[flagged] = np.nan
        for lag in range(21):
            prod = clean[: len(clean) - lag] * clean[lag:]
            ok = np.isfinite(prod)
            cov[lag] += prod[ok].sum()
            pairs[lag] += ok.sum()
    cov /= pairs
    # Autocovariance: C(0) = white^2 + drift^2, C(k) = drift^2 exp(-k / tau) for k >= 1.
    lags = np.arange(1, 21)
    slope, intercept = np.polyfit(lags, np.log(cov[1:]), 1)
    drift_var = np.exp(intercept)
    assert np.sqrt(drift_var) == pytest.approx(model.drift_sigma, rel=0.15)
    assert -1.0 / slope == pytest.approx(model.drift_tau, rel=0.25)
    assert np.sqrt(cov[0] - drift_var) == pytest.approx(model.white_sigma, rel=0.05)
    assert events / fixes == pytest.approx(model.outlier_rate, rel=0.3)


def test_no_noise_means_identical_pairs(tmp_path: Path) -> None:
    quiet = NoiseModel(white_sigma=0, drift_sigma=0, outlier_rate=0)
    synthesize(SynthConfig(agents=2, points=50, files=1), tmp_path, noise=quiet)
    df = pd.read_parquet(tmp_path / "part-0000.parquet")
    assert (df["latitude"] == df["latitude_n"]).all()
    assert (df["longitude"] == df["longitude_n"]).all()


def test_refuses_existing_raw_without_force_and_replaces_with_force(tmp_path: Path) -> None:
    synthesize(SynthConfig(agents=4, points=50, files=4), tmp_path)
    before = _hashes(tmp_path)
    with pytest.raises(ThetaError, match="already holds raw data"):
        synthesize(SynthConfig(agents=2, points=50, files=2), tmp_path)
    assert _hashes(tmp_path) == before
    (tmp_path / "notes.txt").write_text("mine")
    synthesize(SynthConfig(agents=2, points=50, files=2, format="csv"), tmp_path, force=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    # No stale parquet part survives beside the new CSV set; unrelated files are left alone.
    assert names == [NOISE_FILE, "notes.txt", "part-0000.csv", "part-0001.csv", SYNTH_FILE]


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="3 files must not exceed agents"):
        SynthConfig(agents=2, files=3)
    with pytest.raises(ValueError, match="smaller than outlier_min"):
        NoiseModel(outlier_min=10, outlier_max=5)
