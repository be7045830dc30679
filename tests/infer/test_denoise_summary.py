"""The summary says what happened: the median move is over every point (a point passed through
moved 0 m), how many points moved, and plainly when nothing was denoised because the fixes are
further apart than --max-gap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _infer_helpers import ConstModel, fake_loader, gpx_text, invoke, track


@pytest.fixture
def const(theta_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_loader(monkeypatch, ConstModel())  # moves every denoised point by about 1.46 m
    return theta_env


def test_median_is_over_all_points_and_moved_is_counted(const: Path) -> None:
    lat, lon, t = track(40, seed=4)
    # One 8-point segment that moves (the shortest denoised) and 32 fixes 60 s apart (each
    # alone: passed through).
    t = np.concatenate([t[:8], t[7] + 60.0 * np.arange(1, 33)])
    Path("few.gpx").write_text(gpx_text([(lat, lon, t)]))
    result = invoke("denoise", "few.gpx", "--model", "m", "--out", "o.gpx", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    f = json.loads(result.stdout)["files"][0]
    assert f["points"] == 40 and f["moved"] == 8 and f["passed_through"] == 32
    assert f["moved_median_m"] == pytest.approx(0.0, abs=1e-6)
    text = invoke("denoise", "few.gpx", "--model", "m", "--out", "o2.gpx")
    assert "40 points, 8 moved, median move 0.00 m" in " ".join(text.stdout.split())


def test_sparse_track_says_nothing_denoised(const: Path) -> None:
    lat, lon, t = track(50, dt=15.0, seed=5)  # IGC-like: a fix every 15 s
    Path("glide.gpx").write_text(gpx_text([(lat, lon, t)]))
    result = invoke("denoise", "glide.gpx", "--model", "m", "--out", "o.gpx")
    assert result.exit_code == 0, result.output + result.stderr
    out = " ".join(result.stdout.split())
    assert "nothing denoised: fixes 15 s apart, over --max-gap 10 s (see --max-gap)" in out
    assert "unchanged" in out
    report = json.loads(invoke("denoise", "glide.gpx", "--model", "m", "--out", "o2.gpx",
                               "--json").stdout)  # fmt: skip
    assert report["files"][0]["moved"] == 0
    assert "nothing denoised" in report["files"][0]["note"]
