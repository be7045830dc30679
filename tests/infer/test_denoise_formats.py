"""Formats end to end through the engine: what must survive, survives; coordinates come back.

The stand-in models make the expected coordinates exact: zero returns the input (within 1 mm),
so every other byte and value can be compared with the input.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _infer_fit import write_fit
from _infer_helpers import MM, T0, ConstModel, ZeroModel, gpx_text, offsets_m, settings, track

from theta_cli.core.errors import ThetaError
from theta_cli.infer.engine import denoise_files
from theta_cli.infer.outputs import plan_jobs
from theta_cli.tracks.formats import read_track_file
from theta_cli.tracks.table import ColumnNames

GPX = "{http://www.topografix.com/GPX/1/1}"
TPX = "{http://www.garmin.com/xmlschemas/TrackPointExtension/v1}"


def denoise(src: Path, out: Path, model=None, fmt=None, columns=None, **changes):
    jobs = plan_jobs([src], out, fmt, False)
    return denoise_files(jobs, model or ZeroModel(), settings(**changes), columns)


def trkpts(path: Path, ns: str = GPX) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter(f"{ns}trkpt"))


# ---- GPX ------------------------------------------------------------------------------------


def test_gpx_keeps_every_byte_but_the_coordinates(tmp_path: Path) -> None:
    one_hz, five_s = track(70, seed=1), track(25, dt=5.0, seed=2)
    src = tmp_path / "ride.gpx"
    src.write_text(gpx_text([one_hz, five_s]))
    denoise(src, tmp_path / "out.gpx", ConstModel())
    before, after = src.read_bytes(), (tmp_path / "out.gpx").read_bytes()
    # Line by line, only <trkpt ...> lines differ, and only in their lat/lon values.
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True)
               if a != b]  # fmt: skip
    assert len(changed) == 95
    assert all(a.strip().startswith(b"<trkpt lat=") and b.strip().startswith(b"<trkpt lat=")
               for a, b in changed)  # fmt: skip
    # Element by element: elevation, times (as written, milliseconds included), extensions.
    old, new = trkpts(src), trkpts(tmp_path / "out.gpx")
    for o, n in zip(old, new, strict=True):
        assert [ET.tostring(c) for c in o] == [ET.tostring(c) for c in n]
    root_old, root_new = ET.parse(src).getroot(), ET.parse(tmp_path / "out.gpx").getroot()
    for tag in ("metadata", "wpt", "rte"):
        old_el, new_el = root_old.find(f"{GPX}{tag}"), root_new.find(f"{GPX}{tag}")
        assert ET.tostring(old_el) == ET.tostring(new_el)
    hr = new[3].find(f"{GPX}extensions/{TPX}TrackPointExtension/{TPX}hr")
    assert hr is not None and hr.text == "93"
    # And the coordinates moved by -V.
    lat0 = np.array([float(p.get("lat")) for p in old])
    lon0 = np.array([float(p.get("lon")) for p in old])
    lat1 = np.array([float(p.get("lat")) for p in new])
    lon1 = np.array([float(p.get("lon")) for p in new])
    assert np.abs(offsets_m(lat0, lon0, lat1, lon1) + [1.25, -0.75]).max() < MM


def test_gpx_1_0_and_zero_model(tmp_path: Path) -> None:
    src = tmp_path / "old.gpx"
    src.write_text(gpx_text([track(40, seed=4)], version="1.0"))
    denoise(src, tmp_path / "out.gpx")
    ns = "{http://www.topografix.com/GPX/1/0}"
    old, new = trkpts(src, ns), trkpts(tmp_path / "out.gpx", ns)
    lat0 = np.array([float(p.get("lat")) for p in old])
    lat1 = np.array([float(p.get("lat")) for p in new])
    lon0 = np.array([float(p.get("lon")) for p in old])
    lon1 = np.array([float(p.get("lon")) for p in new])
    assert np.abs(offsets_m(lat0, lon0, lat1, lon1)).max() < MM
    assert b'version="1.0"' in (tmp_path / "out.gpx").read_bytes()


def test_gpx_without_track_points_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "wpt.gpx"
    src.write_text('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
                   '<wpt lat="1" lon="2"/></gpx>')  # fmt: skip
    with pytest.raises(ThetaError, match="no track points"):
        read_track_file(src)
    (tmp_path / "bad.gpx").write_text("<gpx><trk>")
    with pytest.raises(ThetaError, match="not a readable GPX"):
        read_track_file(tmp_path / "bad.gpx")


def test_gpx_to_csv_and_geojson(tmp_path: Path) -> None:
    src = tmp_path / "ride.gpx"
    a, b = track(30, seed=1), track(12, seed=2)
    b = (b[0], b[1], b[2] + 1000)
    src.write_text(gpx_text([a, b]))
    denoise(src, tmp_path / "ride.csv")
    frame = pd.read_csv(tmp_path / "ride.csv")
    assert list(frame.columns[:6]) == ["track", "segment", "time", "latitude", "longitude",
                                       "elevation"]  # fmt: skip
    assert {"hr", "cad", "power"} <= set(frame.columns)
    assert len(frame) == 42 and frame["hr"].iloc[3] == 93
    denoise(src, tmp_path / "ride.geojson")
    doc = json.loads((tmp_path / "ride.geojson").read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    first = doc["features"][0]
    assert first["geometry"]["type"] == "LineString"
    assert len(first["geometry"]["coordinates"]) == 30
    assert first["properties"]["coordTimes"][0] == "2026-01-01T00:00:00.000Z"
    lon, lat = np.array(first["geometry"]["coordinates"]).T
    # The GPX holds 7 decimals; the zero model gives those back.
    assert np.abs(offsets_m(np.round(a[0], 7), np.round(a[1], 7), lat, lon)).max() < MM


# ---- FIT ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dt", [1.0, 5.0])
def test_fit_to_csv_keeps_records_and_their_fields(tmp_path: Path, dt: float) -> None:
    lat, lon, t = track(60, dt=dt, seed=6)
    lat = lat.copy()
    lat[7] = np.nan  # a record before the GPS fix
    src = write_fit(tmp_path / "ride.fit", t, lat, lon, 100 + np.arange(60) % 40)
    report = denoise(src, tmp_path / "out")
    out = tmp_path / "out" / "ride.csv"  # FIT input becomes CSV by default
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["timestamp", "latitude", "longitude", "heart_rate"]
    assert len(frame) == 60 and (frame["heart_rate"] == 100 + np.arange(60) % 40).all()
    assert pd.isna(frame["latitude"][7])
    assert report.files[0].passed_through == 1
    ok = np.arange(60) != 7
    src_lat = np.round(lat * 2**31 / 180) * 180 / 2**31  # FIT stores semicircles
    src_lon = np.round(lon * 2**31 / 180) * 180 / 2**31
    moved = offsets_m(src_lat[ok], src_lon[ok], frame["latitude"][ok], frame["longitude"][ok])
    assert np.abs(moved).max() < MM
    assert pd.to_datetime(frame["timestamp"]).iloc[2].timestamp() == T0 + 2 * dt


def test_fit_to_gpx_carries_heart_rate(tmp_path: Path) -> None:
    lat, lon, t = track(20, seed=7)
    src = write_fit(tmp_path / "ride.fit", t, lat, lon, np.full(20, 123))
    denoise(src, tmp_path / "ride.gpx")
    pts = trkpts(tmp_path / "ride.gpx")
    assert len(pts) == 20
    assert pts[0].find(f"{GPX}extensions/{TPX}TrackPointExtension/{TPX}hr").text == "123"
    assert pts[5].find(f"{GPX}time").text.startswith("2026-01-01T00:00:05")


def test_broken_fit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.fit").write_bytes(b"\x0e\x20garbage")
    with pytest.raises(ThetaError, match="not a readable FIT file"):
        read_track_file(tmp_path / "x.fit")


# ---- CSV and parquet ------------------------------------------------------------------------


def fleet_csv(path: Path, dt: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    a, b = track(40, dt=dt, seed=8), track(30, dt=dt, seed=9)
    lines = ["vehicle id,lat,lng,timestamp,speed,note,agent"]
    lat, lon = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
    for i, (la, lo, t) in enumerate(zip(lat, lon, np.concatenate([a[2], b[2]]), strict=True)):
        note = '"a, quoted note"' if i == 3 else ("1.50" if i == 4 else f" x{i}")
        agent = "A" if i < 40 else "B"
        lines.append(f"V{i % 3},{la:.8f},{lo:.8f},{t:.0f},{i * 0.5:.2f},{note},{agent}")
    lines[11] = lines[11].replace(lines[11].split(",")[1], "")  # an empty latitude
    path.write_text("\n".join(lines) + "\n")
    return lat, lon


def test_csv_keeps_other_columns_as_text_and_replaces_coordinates(tmp_path: Path) -> None:
    src = tmp_path / "fleet.csv"
    lat, lon = fleet_csv(src)
    report = denoise(src, tmp_path / "clean.csv")
    assert report.files[0].tracks == 2 and report.files[0].passed_through == 1
    old = [line.split(",") for line in src.read_text().splitlines()]
    new = [line.split(",") for line in (tmp_path / "clean.csv").read_text().splitlines()]
    assert old[0] == new[0] and len(old) == len(new)
    for o, n in zip(old[1:], new[1:], strict=True):
        assert o[0] == n[0] and o[3:] == n[3:]  # untouched columns, text for text
    assert new[11][1] == ""  # the row that passed through keeps its (empty) text
    frame = pd.read_csv(tmp_path / "clean.csv")
    ok = np.isfinite(frame["lat"].to_numpy())
    moved = offsets_m(np.round(lat, 8)[ok], np.round(lon, 8)[ok], frame["lat"][ok],
                      frame["lng"][ok])  # fmt: skip
    assert np.abs(moved).max() < MM


def test_parquet_keeps_schema_and_other_columns(tmp_path: Path) -> None:
    lat, lon, t = track(50, seed=10)
    table = pa.table({
        "track_id": pa.array(["a"] * 50),
        "time": pa.array((t * 1e6).astype("int64"), type=pa.timestamp("us", tz="UTC")),
        "latitude": lat, "longitude": lon, "hr": pa.array(np.arange(50), type=pa.int16()),
    })
    pq.write_table(table, tmp_path / "t.parquet")
    denoise(tmp_path / "t.parquet", tmp_path / "o.parquet", ConstModel())
    out = pq.read_table(tmp_path / "o.parquet")
    assert out.schema.names == table.schema.names
    assert out.column("hr").equals(table.column("hr"))
    assert out.column("time").equals(table.column("time"))
    moved = offsets_m(lat, lon, out.column("latitude").to_numpy(),
                      out.column("longitude").to_numpy())  # fmt: skip
    assert np.abs(moved + [1.25, -0.75]).max() < MM


def test_raw_pairs_denoise_the_noisy_columns(tmp_path: Path) -> None:
    lat, lon, t = track(40, seed=11)
    frame = pd.DataFrame({"agent": "w1", "timestamp": t, "longitude": lon + 1e-5,
                          "latitude": lat + 1e-5, "longitude_n": lon, "latitude_n": lat})
    frame.to_parquet(tmp_path / "pairs.parquet")
    denoise(tmp_path / "pairs.parquet", tmp_path / "out.parquet", ConstModel())
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == list(frame.columns)
    assert (out["latitude"] == frame["latitude"]).all()  # clean columns kept for scoring
    moved = offsets_m(lat, lon, out["latitude_n"], out["longitude_n"])
    assert np.abs(moved + [1.25, -0.75]).max() < MM


def test_date_time_strings_and_column_overrides(tmp_path: Path) -> None:
    lat, lon, t = track(30, seed=12)
    stamps = pd.to_datetime(t, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
    pd.DataFrame({"y": lat, "x": lon, "when": stamps}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ThetaError, match=r"no latitude/longitude/time column.*columns: y, x, when"):
        read_track_file(tmp_path / "a.csv")
    tf = read_track_file(tmp_path / "a.csv", ColumnNames("y", "x", "when"))
    assert np.array_equal(tf.points.time, t)
    with pytest.raises(ThetaError, match="--lat-col nope: no such column"):
        read_track_file(tmp_path / "a.csv", ColumnNames("nope", "x", "when"))


def test_out_of_range_latitude_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("lat,lon,time\n48.1,11.5,0\n91.0,11.5,1\n")
    with pytest.raises(ThetaError, match=r"bad.csv: 1 column 'lat' value\(s\) outside"):
        read_track_file(tmp_path / "bad.csv")


def test_gpx_in_utf16_is_rewritten_by_gpxpy_with_the_same_values(tmp_path: Path) -> None:
    lat, lon, t = track(20, seed=13)
    text = gpx_text([(lat, lon, t)]).replace('encoding="UTF-8"', 'encoding="UTF-16"')
    src = tmp_path / "wide.gpx"
    src.write_bytes(text.encode("utf-16"))
    denoise(src, tmp_path / "out.gpx", ConstModel())
    new = trkpts(tmp_path / "out.gpx")
    assert len(new) == 20
    assert new[4].find(f"{GPX}extensions/{TPX}TrackPointExtension/{TPX}cad").text == "74"
    lat1 = np.array([float(p.get("lat")) for p in new])
    lon1 = np.array([float(p.get("lon")) for p in new])
    moved = offsets_m(np.round(lat, 7), np.round(lon, 7), lat1, lon1)
    assert np.abs(moved + [1.25, -0.75]).max() < MM


def test_interleaved_tracks_with_zoned_times(tmp_path: Path) -> None:
    a, b = track(30, seed=14), track(30, seed=15)
    rows = ["track,latitude,longitude,datetime"]
    for i in range(30):  # the two tracks alternate row by row, times in +02:00
        for name, (la, lo, t) in (("a", a), ("b", b)):
            stamp = pd.Timestamp(t[i], unit="s", tz="UTC").tz_convert("Europe/Berlin")
            rows.append(f"{name},{la[i]:.8f},{lo[i]:.8f},{stamp.isoformat()}")
    (tmp_path / "mixed.csv").write_text("\n".join(rows) + "\n")
    tf = read_track_file(tmp_path / "mixed.csv")
    assert tf.points.n_tracks == 2 and np.array_equal(tf.points.time[::2], a[2])
    report = denoise(tmp_path / "mixed.csv", tmp_path / "out.csv", ConstModel())
    assert report.files[0].segments == 2
    out = pd.read_csv(tmp_path / "out.csv")
    moved = offsets_m(np.round(b[0], 8), np.round(b[1], 8), out["latitude"][1::2],
                      out["longitude"][1::2])  # fmt: skip
    assert np.abs(moved + [1.25, -0.75]).max() < MM
