"""A track cut by time gaps into many tiny pieces: pieces under MIN_SEGMENT_FIXES fixes pass
through unchanged (``short_segment``), are counted, and cost no model chunk; a long segment
beside them is still denoised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _infer_helpers import ConstModel, fake_loader, gpx_text, invoke, points, settings, track

from theta_cli.infer.pipeline import denoise_points
from theta_cli.infer.runner import FlowRunner
from theta_cli.infer.segments import MIN_SEGMENT_FIXES, plan_segments


def fragments(n_pieces: int, piece: int, long: int) -> tuple[np.ndarray, ...]:
    """``n_pieces`` pieces of ``piece`` 1 Hz fixes, 60 s apart, then one 1 Hz segment of
    ``long`` fixes after another 60 s gap."""
    n = n_pieces * piece + long
    lat, lon, _ = track(n, seed=7)
    t = np.arange(n, dtype=np.float64)
    t[: n_pieces * piece] += 60.0 * (np.arange(n_pieces * piece) // piece)
    t[n_pieces * piece :] += 60.0 * n_pieces
    return lat, lon, 1.7e9 + t


def test_minimum_is_eight_fixes() -> None:
    assert MIN_SEGMENT_FIXES == 8
    for piece, passed in ((7, 7), (8, 0)):
        plan = plan_segments(points(fragments(1, piece, 0)), 10.0)
        assert plan.passed["short_segment"] == passed
        assert plan.short_segments == (1 if passed else 0)


def test_short_pieces_pass_through_and_long_one_is_denoised() -> None:
    lat, lon, t = fragments(100, 2, 50)
    s = settings()
    runner = FlowRunner(ConstModel(), s.steps, s.batch_size, s.device)
    res = denoise_points([points((lat, lon, t))], runner, s)[0]
    assert res.plan.passed["short_segment"] == 200 and res.plan.short_segments == 100
    assert res.plan.n_segments == 1
    assert not res.out.changed[:200].any() and res.out.changed[200:].all()
    assert (res.out.lat[:200] == lat[:200]).all() and (res.out.lon[:200] == lon[:200]).all()
    assert (res.out.lat[200:] != np.round(lat[200:], 9)).any()
    # Only the long segment costs chunks: 50 points at K=32 with 16 payload points is 3 chunks.
    assert runner.chunks == 3


@pytest.fixture
def const(theta_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_loader(monkeypatch, ConstModel())
    return theta_env


def test_cli_counts_and_says_so(const: Path) -> None:
    Path("frag.gpx").write_text(gpx_text([fragments(40, 2, 30)]))
    result = invoke("denoise", "frag.gpx", "--model", "m", "--out", "o.gpx", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    f = json.loads(result.stdout)["files"][0]
    assert f["points"] == 110 and f["moved"] == 30 and f["passed_through"] == 80
    assert f["passed_by_reason"]["short_segment"] == 80 and f["short_segments"] == 40
    assert f["note"] is None  # the long segment was denoised: the file is "written"
    assert "80 point(s) in 40 segment(s) shorter than 8 fixes passed through" in " ".join(
        result.stderr.split()
    )


def test_all_short_says_nothing_denoised(const: Path) -> None:
    Path("bits.gpx").write_text(gpx_text([fragments(10, 3, 0)]))
    result = invoke("denoise", "bits.gpx", "--model", "m", "--out", "o.gpx")
    assert result.exit_code == 0, result.output + result.stderr
    out = " ".join(result.stdout.split())
    assert "nothing denoised: every segment is shorter than 8 fixes" in out
