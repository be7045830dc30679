"""Tables as people export them: a header's trailing comma, comment lines before the header,
hemisphere letters, separate date and time columns, FIT semicircles, a header without rows.

Each is read with ``read_track_file`` and run through ``theta denoise`` with a stand-in model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infer"))
from _infer_helpers import T0, ConstModel, ZeroModel, fake_loader, invoke, offsets_m, track  # noqa: E402
from conftest import assert_refused  # noqa: E402

from theta_cli.core.errors import ThetaError  # noqa: E402
from theta_cli.tracks.formats import read_track_file  # noqa: E402

N = 60
SC = 2**31 / 180.0  # semicircles per degree


@pytest.fixture
def const_model(theta_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_loader(monkeypatch, ConstModel())
    return theta_env


def iso(t: float) -> str:
    return pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def denoise_ok(src: Path, out: Path) -> None:
    result = invoke("denoise", src, "--model", "m", "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output + result.stderr


def test_trailing_comma_in_the_header_is_read(const_model: Path) -> None:
    lat, lon, t = track(N, seed=1)
    rows = "".join(f"{iso(a)},{b:.7f},{c:.7f},500\n" for a, b, c in zip(t, lat, lon, strict=True))
    src = const_model / "garmin.csv"
    src.write_text("time,latitude,longitude,ele,\n" + rows)
    tf = read_track_file(src)
    assert len(tf.points) == N and np.allclose(tf.points.lat, lat, atol=1e-7)
    denoise_ok(src, const_model / "out.csv")
    out = pd.read_csv(const_model / "out.csv")
    assert list(out.columns) == ["time", "latitude", "longitude", "ele"] and len(out) == N
    moved = offsets_m(lat, lon, out["latitude"].to_numpy(), out["longitude"].to_numpy())
    assert np.abs(moved + [1.25, -0.75]).max() < 1e-2


def test_comment_lines_before_the_header_are_skipped_and_kept(const_model: Path) -> None:
    lat, lon, t = track(N, seed=2)
    head = '# Exported by "LoggerTool" 2.1\n#\n# datum: WGS84, units: degrees\n'
    rows = "".join(f"{a:.0f},{b:.7f},{c:.7f}\n" for a, b, c in zip(t, lat, lon, strict=True))
    src = const_model / "logger.csv"
    src.write_text(head + "timestamp,lat,lon\n" + rows)
    tf = read_track_file(src)
    assert len(tf.points) == N and np.array_equal(tf.points.time, t)
    denoise_ok(src, const_model / "out.csv")
    text = (const_model / "out.csv").read_text()
    assert text.startswith(head + "timestamp,lat,lon\n")
    # parquet output (typed re-read of the CSV) skips the comments too
    denoise_ok(src, const_model / "out.parquet")
    assert pd.read_parquet(const_model / "out.parquet").shape == (N, 3)


def columbus_csv(lat, lon, t, south_west: bool = False) -> str:
    """A Columbus V-990 style log: YYMMDD date, HHMMSS time, hemisphere letters."""
    out = ["INDEX,TAG,DATE,TIME,LATITUDE N/S,LONGITUDE E/W,HEIGHT,SPEED,HEADING\n"]
    for i, (a, b, c) in enumerate(zip(t, lat, lon, strict=True)):
        stamp = pd.Timestamp(a, unit="s", tz="UTC")
        ns, ew = ("S", "W") if south_west else ("N", "E")
        out.append(f"{i + 1},T,{stamp:%y%m%d},{stamp:%H%M%S},{abs(b):.6f}{ns},{abs(c):.6f}{ew},"
                   f"500,12,90\n")  # fmt: skip
    return "".join(out)


def test_hemisphere_letters_and_date_time_columns(const_model: Path) -> None:
    lat, lon, t = track(N, seed=3)
    t = t - 30  # from 2025-12-31T23:59:30Z: the track crosses midnight
    src = const_model / "columbus.csv"
    src.write_text(columbus_csv(lat, lon, t))
    tf = read_track_file(src)
    assert np.allclose(tf.points.lat, lat, atol=1e-6) and np.allclose(tf.points.lon, lon, atol=1e-6)
    assert np.array_equal(tf.points.time, t)  # one track over midnight, not two
    assert any("'DATE' + 'TIME'" in n for n in tf.notes)
    denoise_ok(src, const_model / "out.csv")
    out = pd.read_csv(const_model / "out.csv", dtype=str)
    assert out["LATITUDE N/S"].str.endswith("N").all()
    assert out["LONGITUDE E/W"].str.endswith("E").all()
    new_lat = out["LATITUDE N/S"].str[:-1].astype(float).to_numpy()
    new_lon = out["LONGITUDE E/W"].str[:-1].astype(float).to_numpy()
    moved = offsets_m(tf.points.lat, tf.points.lon, new_lat, new_lon)
    assert np.abs(moved + [1.25, -0.75]).max() < 1e-2
    assert list(out["DATE"]) == list(pd.read_csv(src, dtype=str)["DATE"])


def test_south_and_west_are_negative(tmp_path: Path) -> None:
    lat, lon, t = track(N, seed=4)
    lat, lon = -34.6 + (lat - lat[0]), -58.4 + (lon - lon[0])
    src = tmp_path / "south.csv"
    src.write_text(columbus_csv(lat, lon, t, south_west=True))
    tf = read_track_file(src)
    assert np.allclose(tf.points.lat, lat, atol=1e-6) and np.allclose(tf.points.lon, lon, atol=1e-6)


def test_separate_date_and_time_columns_cross_midnight(tmp_path: Path) -> None:
    lat, lon, t = track(N, seed=5)
    t = t - 30
    stamps = [pd.Timestamp(a, unit="s") for a in t]
    rows = "".join(f"{s:%Y-%m-%d},{s:%H:%M:%S},{b:.7f},{c:.7f}\n"
                   for s, b, c in zip(stamps, lat, lon, strict=True))  # fmt: skip
    src = tmp_path / "split.csv"
    src.write_text("Date,Time,Latitude,Longitude\n" + rows)
    tf = read_track_file(src)
    assert np.array_equal(tf.points.time, t)
    assert (np.diff(tf.points.time) == 1.0).all()


def test_fit_semicircles_are_converted_and_written_back(const_model: Path) -> None:
    lat, lon, t = track(N, seed=6)
    rows = "".join(f"{iso(a)},{round(b * SC)},{round(c * SC)},512.4\n"
                   for a, b, c in zip(t, lat, lon, strict=True))  # fmt: skip
    src = const_model / "activity.csv"
    src.write_text("timestamp,position_lat,position_long,altitude\n" + rows)
    tf = read_track_file(src)
    assert np.abs(tf.points.lat - lat).max() < 1e-6 and np.abs(tf.points.lon - lon).max() < 1e-6
    denoise_ok(src, const_model / "out.csv")
    out = pd.read_csv(const_model / "out.csv")
    assert out["position_lat"].dtype.kind == "i"  # still whole semicircles
    moved = offsets_m(tf.points.lat, tf.points.lon, out["position_lat"].to_numpy() / SC,
                      out["position_long"].to_numpy() / SC)  # fmt: skip
    assert np.abs(moved + [1.25, -0.75]).max() < 0.05  # a semicircle is ~5 mm


def test_out_of_range_message_has_no_numpy_repr(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(f"time,latitude,longitude\n{T0:.0f},456099128,100\n")
    with pytest.raises(ThetaError) as err:
        read_track_file(src)
    assert "456099128.0" in str(err.value) and "np." not in str(err.value)


def test_header_only_csv_says_no_rows(theta_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_loader(monkeypatch, ZeroModel())
    src = theta_env / "empty.csv"
    src.write_text("time,latitude,longitude\n")
    with pytest.raises(ThetaError, match="empty.csv: no rows$"):
        read_track_file(src)
    result = invoke("denoise", src, "--model", "m", "--out", "o.csv", "--device", "cpu")
    assert_refused(result, "empty.csv: no rows")
