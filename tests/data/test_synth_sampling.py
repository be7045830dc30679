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
