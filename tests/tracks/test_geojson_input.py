"""GeoJSON input: timed LineString / MultiLineString features (``coordTimes`` / ``times``) and
timed Point features; written back as GeoJSON by default with everything else kept; a GeoJSON
without times is refused in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infer"))
from _infer_helpers import ConstModel, ZeroModel, fake_loader, invoke, offsets_m, track  # noqa: E402
from conftest import assert_refused  # noqa: E402

from theta_cli.core.errors import ThetaError  # noqa: E402
from theta_cli.tracks.formats import read_track_file  # noqa: E402

N = 60


def iso(t: float) -> str:
    return pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.000Z")


def line_feature(lat, lon, t, **props) -> dict:
    coords = [[round(b, 7), round(a, 7), 500.5] for a, b in zip(lat, lon, strict=True)]
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
            "properties": {"name": "Ride", "coordTimes": [iso(x) for x in t], **props}}  # fmt: skip


def write(path: Path, *features: dict, **top) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", **top, "features": list(features)}))
    return path


def test_linestring_round_trip_keeps_properties(
    theta_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_loader(monkeypatch, ConstModel())
    lat, lon, t = track(N, seed=1)
    poi = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [11.5, 48.1]},
           "properties": {"name": "Cafe"}}  # fmt: skip
    src = write(theta_env / "ride.geojson", line_feature(lat, lon, t, heartRates=[90] * N), poi,
                bbox=[11.0, 48.0, 12.0, 49.0])  # fmt: skip
    tf = read_track_file(src)
    assert len(tf.points) == N and np.allclose(tf.points.lat, lat, atol=1e-7)
    result = invoke("denoise", src, "--model", "m", "--out", "cleaned", "--device", "cpu")
    assert result.exit_code == 0, result.output + result.stderr
    out = json.loads((theta_env / "cleaned" / "ride.geojson").read_text())  # GeoJSON by default
    before = json.loads(src.read_text())
    assert out["bbox"] == before["bbox"] and out["features"][1] == poi
    assert out["features"][0]["properties"] == before["features"][0]["properties"]
    coords = np.array(out["features"][0]["geometry"]["coordinates"])
    assert (coords[:, 2] == 500.5).all()  # elevation kept
    moved = offsets_m(tf.points.lat, tf.points.lon, coords[:, 1], coords[:, 0])
    assert np.abs(moved + [1.25, -0.75]).max() < 1e-2


def test_multilinestring_with_a_list_of_time_lists(tmp_path: Path) -> None:
    a, b = track(N, seed=2), track(40, seed=3)
    parts = [[[x, y] for y, x in zip(p[0], p[1], strict=True)] for p in (a, b)]
    feature = {"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": parts},
               "properties": {"coordTimes": [[iso(x) for x in p[2]] for p in (a, b)]}}  # fmt: skip
    tf = read_track_file(write(tmp_path / "multi.geojson", feature))
    assert len(tf.points) == N + 40 and tf.points.n_tracks == 2
    assert np.array_equal(tf.points.group, np.repeat([0, 1], [N, 40]))
    assert np.array_equal(tf.points.time, np.concatenate([a[2], b[2]]))


def test_point_features_with_times_are_one_track(
    theta_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_loader(monkeypatch, ZeroModel())
    lat, lon, t = track(N, seed=4)
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [y, x]},
              "properties": {"timestamp": int(s * 1000), "speed": 3}}  # epoch milliseconds
             for x, y, s in zip(lat, lon, t, strict=True)]  # fmt: skip
    src = write(theta_env / "fixes.geojson", *feats)
    tf = read_track_file(src)
    assert tf.points.n_tracks == 1 and np.array_equal(tf.points.time, t)
    result = invoke("denoise", src, "--model", "m", "--out", "fixes.csv", "--device", "cpu")
    assert result.exit_code == 0, result.output + result.stderr
    out = pd.read_csv(theta_env / "fixes.csv")
    assert {"time", "latitude", "longitude"} <= set(out.columns) and len(out) == N


def test_geojson_without_times_is_refused_in_one_line(
    theta_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_loader(monkeypatch, ZeroModel())
    lat, lon, t = track(N, seed=5)
    feature = line_feature(lat, lon, t)
    del feature["properties"]["coordTimes"]
    src = write(theta_env / "untimed.geojson", feature)
    result = invoke("denoise", src, "--model", "m", "--out", "o.geojson", "--device", "cpu")
    assert_refused(result, "untimed.geojson", "denoising needs time")
    assert not (theta_env / "o.geojson").exists()


@pytest.mark.parametrize(("text", "message"), [
    ("[1, 2]", "does not start with '{'"),
    ('{"type": "FeatureCollection", "features": [', "not a readable GeoJSON file"),
    ('{"type": "Polygon", "coordinates": []}', "not a GeoJSON Feature or FeatureCollection"),
    ('{"type": "Feature", "geometry": {"type": "Point", "coordinates": [NaN, 1]}}',
     "NaN is not a JSON number"),
])  # fmt: skip
def test_bad_geojson_is_refused(tmp_path: Path, text: str, message: str) -> None:
    src = tmp_path / "bad.geojson"
    src.write_text(text)
    with pytest.raises(ThetaError, match="bad.geojson") as err:
        read_track_file(src)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_times_that_do_not_match_the_positions_are_refused(tmp_path: Path) -> None:
    lat, lon, t = track(N, seed=6)
    feature = line_feature(lat, lon, t)
    feature["properties"]["coordTimes"].pop()
    with pytest.raises(ThetaError, match="feature 1: 60 positions but 59 times"):
        read_track_file(write(tmp_path / "short.geojson", feature))
