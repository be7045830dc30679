"""`theta data synth --sampling`: regular (the default, byte-identical to before the option)
and smart (a fix every 1-8 s, like a Garmin on smart recording)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import invoke

from theta_cli.data.motion import SMART_MAX_STEP, make_track
from theta_cli.data.synth import SYNTH_FILE, SynthConfig, synthesize


def _hashes(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_regular_sampling_is_the_default_byte_for_byte(tmp_path: Path) -> None:
    base = {"agents": 3, "points": 120, "files": 1, "seed": 5, "format": "csv"}
    synthesize(SynthConfig(**base), tmp_path / "a")
    synthesize(SynthConfig(**base, sampling="regular"), tmp_path / "b")
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    assert "sampling" not in json.loads((tmp_path / "a" / SYNTH_FILE).read_text())


def test_smart_tracks_keep_a_fix_every_one_to_eight_seconds() -> None:
    for i in range(5):
        track = make_track(600, np.random.default_rng([3, i]), 100.0, 0.05, 0.01,
                           sampling="smart")  # fmt: skip
        steps = np.diff(track.times)
        assert len(track.times) == 600
        assert steps.min() > 0.0 and steps.max() < SMART_MAX_STEP + 1.0
        assert 3.5 < steps.mean() < 5.5  # whole steps of 1..8 s: 4.5 on average
        assert len(np.unique(np.round(steps))) >= 6  # uneven, not one fixed rate


def test_the_cli_writes_smart_sampled_pairs(theta_env: Path) -> None:
    result = invoke("data", "synth", "--out", "raw", "--agents", "2", "--files", "1",
                    "--points", "200", "--format", "csv", "--sampling", "smart",
                    "--seed", "1")  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads((theta_env / "raw" / SYNTH_FILE).read_text())["sampling"] == "smart"
    frame = pd.concat(pd.read_csv(p) for p in sorted((theta_env / "raw").glob("*.csv")))
    for _, rows in frame.groupby("agent"):
        steps = np.diff(rows["timestamp"].to_numpy())
        assert len(rows) == 200 and steps.mean() > 3.0
    bad = invoke("data", "synth", "--out", "raw2", "--sampling", "sometimes")
    assert bad.exit_code == 2 and "--sampling" in bad.stderr, bad.stderr


def _enu(rows: pd.DataFrame, suffix: str = "") -> np.ndarray:
    from theta_cli.tracks.enu import to_enu

    return to_enu(rows[f"latitude{suffix}"].to_numpy(), rows[f"longitude{suffix}"].to_numpy(),
                  48.137, 11.575)  # fmt: skip


def test_filled_is_smart_with_each_step_filled_as_denoise_fills_it(tmp_path: Path) -> None:
    from theta_cli.tracks.resample import fill_grid

    base = {"agents": 3, "points": 150, "files": 1, "seed": 4, "format": "csv"}
    synthesize(SynthConfig(**base, sampling="smart"), tmp_path / "smart")
    synthesize(SynthConfig(**base, sampling="filled"), tmp_path / "filled")
    smart = pd.read_csv(tmp_path / "smart" / "part-0000.csv")
    filled = pd.read_csv(tmp_path / "filled" / "part-0000.csv")
    for agent, s in smart.groupby("agent"):
        f = filled[filled["agent"] == agent]
        t = s["timestamp"].to_numpy()
        # the same fixes (same draws), every one of them kept exactly, the steps now ~1 s
        assert len(f) > 3 * len(s)
        steps = np.diff(f["timestamp"].to_numpy())
        assert 0.5 < steps.min() and steps.max() < 1.5
        real = np.isin(f["timestamp"].to_numpy(), t)
        assert real.sum() == len(s)
        for col in ("latitude", "longitude", "latitude_n", "longitude_n"):
            np.testing.assert_array_equal(f[col].to_numpy()[real], s[col].to_numpy())
        # the noisy rows are exactly denoise's fill of the noisy fixes
        grid = fill_grid(s["latitude_n"].to_numpy(), s["longitude_n"].to_numpy(), t,
                         np.array([0, len(t)]), 1.0)  # fmt: skip
        np.testing.assert_allclose(f["latitude_n"].to_numpy(), grid.lat, rtol=0, atol=1e-12)
        np.testing.assert_allclose(f["timestamp"].to_numpy(), grid.key + t[0], atol=1e-6)
        # the clean rows follow the true path, not the chord between fixes: on a curving
        # road the inserted clean points leave the straight line between their fixes
        clean = _enu(f)
        chord = fill_grid(s["latitude"].to_numpy(), s["longitude"].to_numpy(), t,
                          np.array([0, len(t)]), 1.0)  # fmt: skip
        from theta_cli.tracks.enu import to_enu

        off = np.hypot(*(clean - to_enu(chord.lat, chord.lon, 48.137, 11.575)).T)
        assert off[real].max() < 1e-6 and off[~real].max() > 0.05


def test_first_agent_draws_new_agents_under_new_names(tmp_path: Path) -> None:
    base = {"points": 120, "files": 1, "seed": 5, "format": "csv"}
    synthesize(SynthConfig(**base, agents=4), tmp_path / "all")
    synthesize(SynthConfig(**base, agents=2, first_agent=2), tmp_path / "tail")
    every = pd.read_csv(tmp_path / "all" / "part-0000.csv")
    tail = pd.read_csv(tmp_path / "tail" / "part-0000.csv")
    # agents 2 and 3 of a 4-agent set, row for row: a second set extends the first
    names = sorted(tail["agent"].unique())
    assert sorted(n[-4:] for n in names) == ["0002", "0003"]
    pd.testing.assert_frame_equal(every[every["agent"].isin(names)].reset_index(drop=True), tail)
    assert json.loads((tmp_path / "tail" / SYNTH_FILE).read_text())["first_agent"] == 2
    assert "first_agent" not in json.loads((tmp_path / "all" / SYNTH_FILE).read_text())


def test_the_cli_writes_filled_pairs_and_refuses_a_negative_first_agent(theta_env: Path) -> None:
    result = invoke("data", "synth", "--out", "raw", "--agents", "2", "--files", "1",
                    "--points", "60", "--format", "csv", "--sampling", "filled",
                    "--first-agent", "7")  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    rec = json.loads((theta_env / "raw" / SYNTH_FILE).read_text())
    assert rec["sampling"] == "filled" and rec["first_agent"] == 7
    frame = pd.read_csv(theta_env / "raw" / "part-0000.csv")
    assert sorted(n[-4:] for n in frame["agent"].unique()) == ["0007", "0008"]
    assert np.median(np.diff(frame["timestamp"].to_numpy())) < 1.2
    bad = invoke("data", "synth", "--out", "raw2", "--first-agent", "-1")
    assert bad.exit_code == 2 and "--first-agent" in bad.stderr, bad.stderr
