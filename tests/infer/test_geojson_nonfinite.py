"""GeoJSON output of tracks whose points lack finite coordinates: like the GPX writer, such
points are left out (never written as NaN), and a track with none left is an empty
FeatureCollection rather than a crash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _infer_helpers import T0, ZeroModel, fake_loader, invoke, track

from theta_cli.tracks.geojson import geojson_text
from theta_cli.tracks.points import Denoised, Points


def strict_json(text: str) -> dict:
    """Parse as JSON proper: NaN / Infinity tokens are refused."""

    def refuse(token: str) -> None:
        raise AssertionError(f"non-JSON constant {token} in GeoJSON")

    return json.loads(text, parse_constant=refuse)


def test_no_finite_point_gives_an_empty_collection() -> None:
    n = 4
    nan = np.full(n, np.nan)
    pts = Points(nan, nan, T0 + np.arange(n, dtype=float), np.zeros(n, dtype=np.int64), 1)
    out = Denoised(nan.copy(), nan.copy(), np.zeros(n, dtype=bool))
    doc = strict_json(geojson_text(pts, out, ["ride"], 10.0, "ride.csv"))
    assert doc == {"type": "FeatureCollection", "features": []}


def test_empty_track_gives_an_empty_collection() -> None:
    empty = np.array([], dtype=float)
    pts = Points(empty, empty, empty, np.array([], dtype=np.int64), 1)
    out = Denoised(empty, empty, np.array([], dtype=bool))
    assert strict_json(geojson_text(pts, out, ["ride"], 10.0, "x"))["features"] == []


@pytest.mark.parametrize("text", ["time,lat,lon\n1,48.1,\n2,,11.5\n",
                                  "time,lat,lon\n1,48.1,nan\n2,nan,11.5\n"])  # fmt: skip
def test_cli_table_without_a_finite_point(theta_env: Path, monkeypatch, text: str) -> None:
    fake_loader(monkeypatch, ZeroModel())
    Path("t.csv").write_text(text)
    result = invoke("denoise", "t.csv", "--model", "m", "--out", "t.geojson")
    assert result.exit_code == 0, result.output + result.stderr
    assert strict_json(Path("t.geojson").read_text())["features"] == []
    assert Path("t.csv").read_text() == text


def test_cli_partly_finite_track_drops_only_the_bad_points(theta_env: Path, monkeypatch) -> None:
    fake_loader(monkeypatch, ZeroModel())
    lat, lon, t = track(30, seed=5)
    rows = ["time,lat,lon"]
    for i in range(30):
        la = "" if i in (3, 17) else f"{lat[i]:.7f}"
        lo = "nan" if i in (8, 29) else f"{lon[i]:.7f}"
        tt = "" if i == 12 else f"{t[i]:.0f}"  # a point without a time: drawn, time null
        rows.append(f"{tt},{la},{lo}")
    Path("t.csv").write_text("\n".join(rows) + "\n")
    result = invoke("denoise", "t.csv", "--model", "m", "--out", "t.geojson", "--max-gap", "5")
    assert result.exit_code == 0, result.output + result.stderr
    doc = strict_json(Path("t.geojson").read_text())
    coords = []
    for f in doc["features"]:
        g = f["geometry"]
        coords += g["coordinates"] if g["type"] == "LineString" else [g["coordinates"]]
        assert len(f["properties"]["coordTimes"]) == (
            len(g["coordinates"]) if g["type"] == "LineString" else 1
        )
    assert len(coords) == 26
    assert all(np.isfinite(c).all() for c in coords)
