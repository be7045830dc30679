"""`theta denoise` on the command line: refusals (one line, exit 2, nothing written), naming of
outputs, --json, and one run with a real trained model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _infer_fit import write_fit
from _infer_helpers import MM, ZeroModel, fake_loader, gpx_text, invoke, offsets_m, track
from conftest import assert_refused


@pytest.fixture
def rides(theta_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two GPX rides in ./rides and a stand-in zero model behind --model."""
    fake_loader(monkeypatch, ZeroModel())
    d = theta_env / "rides"
    d.mkdir()
    (d / "a.gpx").write_text(gpx_text([track(60, seed=1)]))
    (d / "b.gpx").write_text(gpx_text([track(30, dt=5.0, seed=2)]))
    return d


def outputs(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_several_inputs_go_to_a_directory_with_json_on_stdout(rides: Path) -> None:
    result = invoke("denoise", rides / "a.gpx", rides / "b.gpx", "--model", "m", "--out",
                    "cleaned", "--json", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert [Path(f["output"]).name for f in report["files"]] == ["a.gpx", "b.gpx"]
    assert report["files"][1]["resampled_segments"] == 1
    assert report["files"][0]["points"] == 60 and report["files"][0]["passed_through"] == 0
    assert "segments split at gaps over 10 s" in result.stderr
    assert outputs(Path("cleaned")) == ["a.gpx", "b.gpx"]


def test_directory_input_format_change_and_summary_table(rides: Path) -> None:
    result = invoke("denoise", rides, "--model", "m", "--out", "maps", "--format", "geojson")
    assert result.exit_code == 0, result.output + result.stderr
    assert outputs(Path("maps")) == ["a.geojson", "b.geojson"]
    assert "p50 (m)" in result.stdout and "a.gpx" in result.stdout
    doc = json.loads(Path("maps/a.geojson").read_text())
    assert doc["features"][0]["geometry"]["type"] == "LineString"


def test_fit_defaults_to_csv_and_says_so(theta_env: Path, monkeypatch) -> None:
    fake_loader(monkeypatch, ZeroModel())
    lat, lon, t = track(40, seed=3)
    write_fit(theta_env / "ride.fit", t, lat, lon, np.full(40, 120))
    result = invoke("denoise", "ride.fit", "--model", "m", "--out", "out", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    assert "FIT input is written as CSV" in result.stderr
    assert json.loads(result.stdout)["files"][0]["format"] == "csv"
    frame = pd.read_csv("out/ride.csv")
    fit_lat = np.round(lat * 2**31 / 180) * 180 / 2**31
    fit_lon = np.round(lon * 2**31 / 180) * 180 / 2**31
    assert np.abs(offsets_m(fit_lat, fit_lon, frame["latitude"], frame["longitude"])).max() < MM


def test_force_replaces_an_existing_output(rides: Path) -> None:
    Path("out.gpx").write_text("old")
    result = invoke("denoise", rides / "a.gpx", "--model", "m", "--out", "out.gpx", "--force")
    assert result.exit_code == 0, result.output + result.stderr
    assert Path("out.gpx").read_text().startswith("<?xml")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["rides/a.gpx"], ["--out", "never overwrites"]),
        (["rides/a.gpx", "--out", "rides/a.gpx"], ["rides/a.gpx", "input"]),
        (["rides", "--out", "rides"], ["rides/a.gpx", "input"]),
        (["rides/a.gpx", "--out", "exists.gpx"], ["exists.gpx", "--force"]),
        (["notes.txt", "--out", "o"], ["notes.txt", "unknown format"]),
        (["missing.gpx", "--out", "o"], ["missing.gpx", "no such file"]),
        (["broken.gpx", "--out", "o"], ["broken.gpx", "not a readable GPX"]),
        (["empty.gpx", "--out", "o"], ["empty.gpx", "no track points"]),
        (["cols.csv", "--out", "o"], ["cols.csv", "columns: a, b, c"]),
        (["range.csv", "--out", "o"], ["range.csv", "outside [-90, 90]"]),
        (["rides/a.gpx", "--out", "o", "--steps", "0"], ["--steps 0"]),
        (["rides/a.gpx", "--out", "o", "--q1", "2", "--q2", "2"], ["--q1/--q2", "no payload"]),
        (["rides/a.gpx", "--out", "o.gpx", "--format", "csv"], ["--out o.gpx", "--format"]),
        (["rides/a.gpx", "--out", "o", "--format", "kml"], ["--format kml"]),
        (["rides/a.gpx", "--out", "o", "--device", "tpu"], ["--device"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    rides: Path, args: list[str], needles: list[str]
) -> None:
    Path("exists.gpx").write_text("keep me")
    Path("notes.txt").write_text("hello")
    Path("broken.gpx").write_text("<gpx><trk><trkseg><trkpt lat=")
    Path("empty.gpx").write_text('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"/>')
    Path("cols.csv").write_text("a,b,c\n1,2,3\n")
    Path("range.csv").write_text("lat,lon,time\n95.0,11.0,0\n48.0,11.0,1\n")
    before = outputs(Path("."))
    result = invoke("denoise", *args, "--model", "m")
    assert_refused(result, *needles)
    assert outputs(Path(".")) == before
    assert Path("exists.gpx").read_text() == "keep me"


def test_with_a_trained_run(tiny_run, tiny_data: Path, theta_env: Path) -> None:
    """The real loader: a run directory picks its best checkpoint; raw pairs keep clean columns."""
    raw = sorted((tiny_data.parent / "raw").glob("*.parquet"))[0]
    result = invoke("denoise", raw, "--model", tiny_run.root, "--out", "clean.parquet",
                    "--device", "cpu", "--steps", "2", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)
    assert report["K"] == 32 and report["files"][0]["passed_through"] == 0
    src, out = pd.read_parquet(raw), pd.read_parquet("clean.parquet")
    assert list(out.columns) == list(src.columns) and len(out) == len(src)
    assert (out["latitude"] == src["latitude"]).all()
    assert not (out["latitude_n"] == src["latitude_n"]).all()


def test_progress_bar_and_max_gap_warning(rides: Path, monkeypatch) -> None:
    from theta_cli.commands import denoise

    monkeypatch.setattr(denoise, "PROGRESS_MIN_CHUNKS", 1)  # draw it even for tiny inputs
    result = invoke("denoise", rides, "--model", "m", "--out", "o", "--max-gap", "2")
    assert result.exit_code == 0, result.output + result.stderr
    assert "segments split at gaps over 2 s (--max-gap)" in result.stdout
    # b.gpx has a fix every 5 s: with --max-gap 2 every fix is alone and passes through.
    said = "b.gpx: 30 point(s) in 30 segment(s) shorter than 8 fixes passed through"
    assert said in result.stderr
    assert outputs(Path("o")) == ["a.gpx", "b.gpx"]
