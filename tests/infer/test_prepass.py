"""The outlier pre-pass (infer.prepass): bursts are replaced before the model sees a track."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _infer_helpers import CENTER, T0, ZeroModel, fake_loader, gpx_text, invoke, settings

from theta_cli.infer import prepass
from theta_cli.infer.pipeline import denoise_points
from theta_cli.infer.runner import FlowRunner
from theta_cli.infer.segments import plan_segments
from theta_cli.tracks.enu import from_enu, to_enu
from theta_cli.tracks.points import Points

N, BURST = 600, slice(300, 306)  # a 6-fix burst: longer than robust RTS's 3 rejects


def ride(seed: int = 0, burst_m: float = 50.0):
    """A 1 Hz ride at 8 m/s on a gentle curve with 3 m noise and one burst ``burst_m`` off."""
    rng = np.random.default_rng(seed)
    t = np.arange(N, dtype=np.float64)
    heading = 0.3 + 0.4 * np.sin(t / 120.0)
    clean = np.cumsum(8.0 * np.stack([np.sin(heading), np.cos(heading)], axis=1), axis=0)
    noisy = clean + rng.normal(0.0, 3.0, clean.shape)
    noisy[BURST] += burst_m * np.array([0.6, -0.8])
    lat, lon = from_enu(noisy[:, 0], noisy[:, 1], *CENTER)
    return Points(lat, lon, T0 + t, np.zeros(N, dtype=np.int64), 1), clean, noisy


def test_a_burst_is_replaced_and_the_rest_is_untouched() -> None:
    p, clean, noisy = ride()
    out, idx = prepass.replace_outliers(p, plan_segments(p, 10.0))
    marked = set(idx.tolist())
    assert set(range(300, 306)) <= marked  # the whole burst, its 4th to 6th fixes too
    assert len(marked) < 0.02 * N  # and hardly anything else
    keep = np.setdiff1d(np.arange(N), idx)
    assert np.array_equal(out.lat[keep], p.lat[keep]) and np.array_equal(out.lon[keep], p.lon[keep])
    xy = to_enu(out.lat, out.lon, *CENTER)
    assert np.hypot(*(xy[BURST] - clean[BURST]).T).max() < 10.0  # back near the road
    assert p.lat[300] != out.lat[300]  # the input points were not modified in place


def test_a_clean_track_goes_through_unchanged() -> None:
    p, *_ = ride(seed=1, burst_m=0.0)
    out, idx = prepass.replace_outliers(p, plan_segments(p, 10.0))
    assert len(idx) < 0.01 * N


def test_long_segments_are_smoothed_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepass, "PIECE", 128)
    p, clean, _ = ride()
    out, idx = prepass.replace_outliers(p, plan_segments(p, 10.0))
    assert set(range(300, 306)) <= set(idx.tolist())
    assert len(prepass._pieces(plan_segments(p, 10.0))) == 5  # 600 fixes in 5 pieces of 120


@pytest.mark.parametrize("on", [True, False])
def test_pipeline_reports_moves_from_the_files_own_fixes(on: bool) -> None:
    p, clean, noisy = ride()
    (res,) = denoise_points([p], FlowRunner(ZeroModel(), 1), settings(prepass=on, K=64))
    xy = to_enu(res.out.lat, res.out.lon, *CENTER)
    if on:
        assert res.outliers >= 6
        # the zero model returns its input: the burst comes out where the pre-pass put it, and
        # its move is measured from where the file had it (about 50 m), not from the stand-in
        assert np.hypot(*(xy[BURST] - clean[BURST]).T).max() < 10.0
        assert (res.moved[BURST] > 35.0).all()
    else:
        assert res.outliers == 0 and np.nanmax(res.moved) < 1e-3


def test_cli_no_outlier_prepass(theta_env, monkeypatch) -> None:
    fake_loader(monkeypatch, ZeroModel(), k=64)
    p, *_ = ride()
    (theta_env / "burst.gpx").write_text(gpx_text([(p.lat, p.lon, p.time)]))
    on = invoke("denoise", "burst.gpx", "--model", "m", "--out", "a.gpx", "--json")
    off = invoke("denoise", "burst.gpx", "--model", "m", "--out", "b.gpx", "--json",
                 "--no-outlier-prepass")  # fmt: skip
    assert on.exit_code == 0 and off.exit_code == 0, on.stderr + off.stderr
    assert json.loads(on.stdout)["files"][0]["outliers_replaced"] >= 6
    assert json.loads(off.stdout)["files"][0]["outliers_replaced"] == 0


def test_a_smoother_that_lost_the_track_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen with a loose gate on 1-8 s smart recording: a quarter of the fixes marked and put
    hundreds of metres off. Such a piece is redone at a stricter gate, then left as read."""
    from types import SimpleNamespace

    gates = []

    def lost(batch, r, gate):  # noqa: ANN001, ANN202
        gates.append(gate)
        pos = batch.z + 500.0
        accepted = np.ones(batch.mask.shape, dtype=bool)
        accepted[::3] = False
        return SimpleNamespace(pos=pos, accepted=accepted)

    monkeypatch.setattr(prepass, "adaptive_padded", lost)
    p, *_ = ride()
    out, idx = prepass.replace_outliers(p, plan_segments(p, 10.0))
    assert len(idx) == 0 and np.array_equal(out.lat, p.lat) and np.array_equal(out.lon, p.lon)
    assert len(gates) == len(prepass.GATES)  # every gate was tried


def test_smart_recording_with_a_burst() -> None:
    """Fixes 1-8 s apart (where a loose gate lost the track): the burst goes, nothing is put
    far off."""
    rng = np.random.default_rng(4)
    t = np.concatenate([[0.0], np.cumsum(rng.integers(1, 9, 400))]).astype(np.float64)
    heading = 0.3 + 0.4 * np.sin(t / 300.0)
    step = np.diff(t, prepend=0.0)[:, None] * 6.0 * np.stack([np.sin(heading), np.cos(heading)], 1)
    clean = np.cumsum(step, axis=0)
    noisy = clean + rng.normal(0.0, 3.0, clean.shape)
    noisy[200:205] += np.array([40.0, 30.0])
    lat, lon = from_enu(noisy[:, 0], noisy[:, 1], *CENTER)
    p = Points(lat, lon, T0 + t, np.zeros(len(t), dtype=np.int64), 1)
    out, idx = prepass.replace_outliers(p, plan_segments(p, 10.0))
    err = np.hypot(*(to_enu(out.lat, out.lon, *CENTER) - clean).T)
    assert set(range(200, 205)) <= set(idx.tolist()) and len(idx) < 0.03 * len(t)
    assert err.max() < 20.0
