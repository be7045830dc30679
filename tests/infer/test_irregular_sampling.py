"""Uneven time steps must not corrupt tracks (issue 20 §1).

The built-in model reads every step of a chunk as its own fix interval: a segment sent to it
with 7 s steps among 1 s ones came back moved metres along the road. These tests run the real
built-in model on noise-free tracks under the samplings real devices produce and check that
uneven sampling costs (almost) nothing beyond what the model does at its own rate.
(``benchmarks/irregular_sampling.py`` prints the full table.)
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from theta_cli.infer.pipeline import denoise_points
from theta_cli.infer.request import DenoiseSettings
from theta_cli.infer.runner import FlowRunner
from theta_cli.tracks.enu import from_enu, to_enu
from theta_cli.tracks.points import Points

CENTER = (48.137, 11.575)
T0 = 1_767_225_600.0
DURATION = 300.0
SAMPLINGS = ("1hz-dropouts", "alt-1-7", "smart", "fleet-5s", "10hz")
SPEEDS = {"walk": 1.4, "bike": 6.0, "car": 25.0}


def sample_times(name: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if name == "1hz-dropouts":  # 1 Hz, 10% of fixes lost
        t = np.arange(0.0, DURATION + 1)
        keep = rng.random(len(t)) >= 0.1
        keep[0] = keep[-1] = True
        return t[keep]
    if name == "alt-1-7":
        steps = np.resize([1.0, 7.0], int(DURATION / 4))
    elif name == "smart":  # Garmin smart recording: whole steps of 1-8 s
        steps = rng.integers(1, 9, int(DURATION)).astype(np.float64)
    else:
        dt = {"steady-1s": 1.0, "fleet-5s": 5.0, "10hz": 0.1}[name]
        return np.arange(0.0, DURATION + dt / 2, dt)
    t = np.concatenate([[0.0], np.cumsum(steps)])
    return t[t <= DURATION]


def true_path(t: np.ndarray, speed: float, curving: bool) -> np.ndarray:
    """ENU metres at times ``t``: a straight line, or a road curving gently both ways (turn
    rate up to 0.1 rad/s walking, 0.05 rad/s by car)."""
    h0 = 0.7
    if not curving:
        return np.stack([speed * t * np.sin(h0), speed * t * np.cos(h0)], axis=1)
    fine = np.arange(0.0, t.max() + 0.02, 0.01)
    rate = min(0.25, 1.0 / (8.0 * speed**0.3))
    heading = h0 + rate * (80.0 / (2 * np.pi)) * np.sin(2 * np.pi * fine / 80.0)
    e = np.concatenate([[0.0], np.cumsum(speed * 0.01 * np.sin(heading[:-1]))])
    n = np.concatenate([[0.0], np.cumsum(speed * 0.01 * np.cos(heading[:-1]))])
    return np.stack([np.interp(t, fine, e), np.interp(t, fine, n)], axis=1)


def smooth_allowance(speed: float) -> float:
    """m/s: how rough a noise-free track (p95 speed change 0) may come back. The model's own
    moves near the ends give ~0.3 m/s by car; the bug gave 4-40 m/s."""
    return 0.2 + 0.02 * speed


def p95_speed_change(xy: np.ndarray, t: np.ndarray) -> float:
    v = np.hypot(*np.diff(xy, axis=0).T) / np.diff(t)
    return float(np.quantile(np.abs(np.diff(v)), 0.95))


@pytest.fixture(scope="module")
def builtin():
    from theta_cli.artifact.load import load_model

    loaded = load_model(None)
    cfg = loaded.config
    s = DenoiseSettings(K=cfg.K, Q1=cfg.Q1, Q2=cfg.Q2,
                        fix_interval_s=float(loaded.fix_interval_s), steps=10)  # fmt: skip
    s.validate()
    return loaded.model, s


def denoise(builtin, t: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, int]:
    model, s = builtin
    lat, lon = from_enu(xy[:, 0], xy[:, 1], *CENTER)
    p = Points(lat, lon, T0 + t, np.zeros(len(t), dtype=np.int64), 1)
    (res,) = denoise_points([p], FlowRunner(model, s.steps, s.batch_size, s.device), s)
    assert res.out.changed.all()
    return to_enu(res.out.lat, res.out.lon, *CENTER), res.resampled


def moves(builtin, sampling: str | np.ndarray, speed: float, curving: bool):
    t = sample_times(sampling) if isinstance(sampling, str) else sampling
    xy = true_path(t, speed, curving)
    out, resampled = denoise(builtin, t, xy)
    m = np.hypot(*(out - xy).T)
    return float(np.median(m)), float(np.quantile(m, 0.95)), resampled, t, xy, out


@pytest.mark.parametrize("mode", list(SPEEDS))
@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_uneven_sampling_does_not_move_a_noise_free_line(builtin, sampling, mode) -> None:
    med, p95, resampled, t, xy, out = moves(builtin, sampling, SPEEDS[mode], False)
    steady = np.arange(0.0, t[-1] + 0.5)
    *_, ref_rs, t1, xy1, out1 = moves(builtin, steady, SPEEDS[mode], False)
    assert ref_rs == 0 and resampled == 1  # only the steady 1 Hz track goes as it is
    # The model's own floor at its rate, on the same span (the ends move most), at the same
    # times (0.22 / 0.28 m walking, 0.40 / 0.64 m by car on 600 s).
    ref = np.interp(t, t1, np.hypot(*(out1 - xy1).T))
    ref_med, ref_p95 = np.median(ref), np.quantile(ref, 0.95)
    assert med <= ref_med + 0.05 and p95 <= ref_p95 + 0.1, (med, p95, ref_med, ref_p95)
    # The issue's bounds (0.3 / 1 m) hold walking and cycling; by car the model's own floor at
    # 1 Hz is over them (its last fixes move ~1 m), so the car is held to that floor above.
    limit = (0.5, 1.2) if mode == "car" else (0.3, 1.0)
    assert med <= limit[0] and p95 <= limit[1], (med, p95)
    assert p95_speed_change(out, t) <= p95_speed_change(xy, t) + smooth_allowance(SPEEDS[mode])


@pytest.mark.parametrize("mode", ["walk", "bike"])
@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_uneven_sampling_keeps_a_curving_road(builtin, sampling, mode) -> None:
    # Linear interpolation cuts the corners between fixes 7-8 s apart, so curves under long
    # steps move more than lines (alternating 1/7 s before the fix: 2 / 2.8 m walking, 6.3 / 8 m
    # cycling; now up to 0.95 / 1.6 m); by car see the benchmark.
    med, p95, _, t, xy, out = moves(builtin, sampling, SPEEDS[mode], True)
    assert med <= 1.0 and p95 <= 2.0, (med, p95)
    assert p95_speed_change(out, t) <= p95_speed_change(xy, t) + smooth_allowance(SPEEDS[mode])


@pytest.mark.parametrize("mode", ["walk", "bike"])
@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_the_issue_bound_holds_at_the_models_default_steps(builtin, sampling, mode) -> None:
    # The tests above run 10 steps; `theta denoise` runs the model's best_steps unless told
    # otherwise. Issue 20's bound (walking and cycling lines: median 0.3 m, p95 1 m) must hold
    # on that default path too.
    from theta_cli.artifact.load import load_model
    from theta_cli.infer.request import DenoiseOptions

    model, s = builtin
    steps = DenoiseOptions().settings(load_model(None), "cpu").steps
    assert steps == 1  # the built-in model's best_steps: this test is about that path
    med, p95, _, t, xy, out = moves((model, replace(s, steps=steps)), sampling, SPEEDS[mode],
                                    False)  # fmt: skip
    assert med <= 0.3 and p95 <= 1.0, (med, p95)
    assert p95_speed_change(out, t) <= p95_speed_change(xy, t) + smooth_allowance(SPEEDS[mode])


@pytest.mark.parametrize("sampling", ["1hz-dropouts", "alt-1-7", "smart"])
def test_denoising_a_noisy_uneven_track_does_not_roughen_its_speed(builtin, sampling) -> None:
    t = sample_times(sampling)
    xy = true_path(t, SPEEDS["bike"], True)
    noisy = xy + np.random.default_rng(5).normal(0.0, 3.0, xy.shape)
    out, _ = denoise(builtin, t, noisy)
    assert p95_speed_change(out, t) <= p95_speed_change(noisy, t)
    assert np.median(np.hypot(*(out - xy).T)) < np.median(np.hypot(*(noisy - xy).T))


def test_a_smart_recording_gpx_keeps_its_speed_profile(theta_env, tmp_path) -> None:
    """End to end, as a Garmin Edge writes it: whole-second steps of 1-8 s, 3 m of noise, a
    steady 9.5 m/s road, most steps 1 s (so the old "half the steps are on the grid" rule sent
    it to the model as it was). The bug swung the output speeds 27 -> 6.7 -> 37 m/s."""
    from _infer_helpers import gpx_text, invoke

    from theta_cli.tracks.formats import read_track_file

    rng = np.random.default_rng(3)
    steps = np.where(rng.random(120) < 0.6, 1, rng.integers(2, 9, 120)).astype(np.float64)
    t = np.concatenate([[0.0], np.cumsum(steps)])
    xy = true_path(t, 9.5, False)
    noisy = xy + np.random.default_rng(7).normal(0.0, 3.0, xy.shape)
    lat, lon = from_enu(noisy[:, 0], noisy[:, 1], *CENTER)
    src = tmp_path / "edge800.gpx"
    src.write_text(gpx_text([(lat, lon, T0 + t)]))
    result = invoke("denoise", src, "--out", tmp_path / "clean.gpx", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads(result.stdout)["files"][0]["resampled_segments"] == 1
    out = read_track_file(tmp_path / "clean.gpx").points
    xy_out = to_enu(out.lat, out.lon, *CENTER)
    assert p95_speed_change(xy_out, t) < 0.5 * p95_speed_change(noisy, t)
    speeds = np.hypot(*np.diff(xy_out, axis=0).T) / np.diff(t)
    assert np.abs(speeds - 9.5).max() < 8.0, speeds  # no 27 / 37 m/s swings
    err_in, err_out = np.hypot(*(noisy - xy).T), np.hypot(*(xy_out - xy).T)
    assert np.median(err_out) < 0.8 * np.median(err_in)
