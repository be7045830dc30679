"""theta_cli.data.pairs and `theta data pairs`: a user's own tracks (GPX, FIT, CSV, parquet)
become raw pairs that `theta data prepare` takes as they are; bad input writes nothing."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_refused, invoke

from theta_cli.commands import data as data_commands
from theta_cli.core.errors import ThetaError
from theta_cli.data.noise import NOISE_FILE, NoiseModel
from theta_cli.data.pairs import (
    PAIRS_FILE,
    PairsConfig,
    Track,
    _wrap_lon,
    file_bounds,
    make_pairs,
    noisy_fixes,
    usable_fixes,
)
from theta_cli.data.rawio import RAW_COLUMNS, read_raw
from theta_cli.data.synth import SYNTH_FILE
from theta_cli.tracks.enu import from_enu, to_enu
from theta_cli.tracks.table import ColumnNames

CENTER = (48.137, 11.575)
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
QUIET = NoiseModel(white_sigma=0, drift_sigma=0, outlier_rate=0)


def _track(n: int, seed: int, speed: float = 5.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, unix seconds) of a smooth curving track at 1 Hz."""
    rng = np.random.default_rng(seed)
    heading = np.cumsum(rng.normal(0.0, 0.05, n)) + rng.uniform(0, 2 * np.pi)
    east = np.cumsum(speed * np.sin(heading)) + seed * 300.0
    north = np.cumsum(speed * np.cos(heading))
    lat, lon = from_enu(east, north, *CENTER)
    return lat, lon, T0 + 1000.0 * seed + np.arange(n, dtype=np.float64)


def _gpx(path: Path, tracks: list[tuple[str, list[tuple[np.ndarray, ...]]]]) -> Path:
    """A GPX 1.1 file: ``tracks`` is [(name, [segment (lat, lon, time), ...]), ...]."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">']
    for name, segments in tracks:
        out.append(f"<trk><name>{name}</name>")
        for lat, lon, time in segments:
            out.append("<trkseg>")
            for la, lo, t in zip(lat, lon, time, strict=True):
                stamp = np.datetime_as_string(np.datetime64(int(round(t * 1000)), "ms"))
                out.append(f'<trkpt lat="{la:.7f}" lon="{lo:.7f}"><time>{stamp}Z</time></trkpt>')
            out.append("</trkseg>")
        out.append("</trk>")
    out.append("</gpx>")
    path.write_text("\n".join(out))
    return path


def _csv(path: Path, tracks: dict[str, tuple[np.ndarray, ...]]) -> Path:
    rows = [pd.DataFrame({"vehicle_id": name, "time": t, "lat": la, "lng": lo, "speed": 1.0})
            for name, (la, lo, t) in tracks.items()]  # fmt: skip
    pd.concat(rows).to_csv(path, index=False)
    return path


def _raw(out: Path) -> pd.DataFrame:
    return pd.concat(pd.read_parquet(p) for p in sorted(out.glob("part-*.parquet")))


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture
def inputs(theta_env: Path) -> Path:
    """tracks/: a GPX (track "Ride" with two segments, track "Walk") and a CSV of two vehicles,
    one with dirty rows, plus a one-fix track that is skipped."""
    d = theta_env / "tracks"
    d.mkdir()
    _gpx(d / "ride.gpx", [("Ride", [_track(300, 1), _track(200, 2)]), ("Walk", [_track(260, 3)])])
    lat, lon, t = _track(400, 4)
    lat[10], t[20], t[31] = np.nan, np.nan, t[30]  # non-finite, no time, duplicate time
    order = np.random.default_rng(0).permutation(400)  # rows out of time order
    _csv(d / "fleet.csv", {"van": (lat[order], lon[order], t[order]), "bike": _track(300, 5),
                           "lost": tuple(a[:1] for a in _track(5, 6))})  # fmt: skip
    return d


# ---- the engine -----------------------------------------------------------------------------


def test_usable_fixes_sorts_and_drops() -> None:
    lat = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0])
    lon = np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.inf])
    t = np.array([30.0, 10.0, 20.0, np.nan, 10.0, 40.0])
    keep, dropped = usable_fixes(lat, lon, t)
    # 10 s twice: the first in file order (index 1) stays.
    assert keep.tolist() == [1, 0]
    assert dropped == {"non_finite": 2, "no_time": 1, "duplicate_time": 1}


def test_file_bounds_balance_fixes_and_never_leave_a_file_empty() -> None:
    assert file_bounds(np.array([100, 100, 100, 100]), 2).tolist() == [0, 2, 4]
    assert file_bounds(np.array([1000, 10, 10, 10]), 2).tolist() == [0, 1, 4]
    assert file_bounds(np.array([10, 400, 10, 10, 400, 10]), 2).tolist() == [0, 3, 6]
    assert file_bounds(np.array([10, 10, 10, 1000]), 3).tolist() == [0, 2, 3, 4]
    assert file_bounds(np.array([7]), 1).tolist() == [0, 1]
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = rng.integers(2, 5000, size=int(rng.integers(1, 30)))
        files = int(rng.integers(1, len(sizes) + 1))
        b = file_bounds(sizes, files)
        assert b[0] == 0 and b[-1] == len(sizes) and len(b) == files + 1
        assert (np.diff(b) >= 1).all()  # contiguous, every file holds an agent


def test_noise_is_added_in_enu_metres_about_the_track() -> None:
    lat, lon, t = _track(4000, 1)
    track = Track("a", t, lat, lon)
    lat_n, lon_n = noisy_fixes(track, NoiseModel(white_sigma=5.0, drift_sigma=0, outlier_rate=0),
                               np.random.default_rng(0))
    d = to_enu(lat_n, lon_n, lat, lon)  # each noisy fix about its own clean fix
    assert d.std(axis=0) == pytest.approx([5.0, 5.0], rel=0.05)
    assert np.abs(d.mean(axis=0)).max() < 0.3
    quiet_lat, quiet_lon = noisy_fixes(track, QUIET, np.random.default_rng(0))
    assert np.array_equal(quiet_lat, lat) and np.array_equal(quiet_lon, lon)  # bit for bit


def test_noise_across_the_antimeridian_stays_in_range() -> None:
    east = np.linspace(-50.0, 50.0, 200)
    lat, lon = from_enu(east, np.zeros(200), -16.8, 179.9999)
    assert (lon < 0).any() and (lon > 0).any()  # the track crosses 180
    track = Track("a", T0 + np.arange(200.0), lat, lon)
    lat_n, lon_n = noisy_fixes(track, NoiseModel(drift_sigma=0, outlier_rate=0),
                               np.random.default_rng(1))
    assert (np.abs(lon_n) <= 180).all()
    d = to_enu(lat_n, lon_n, lat, lon)
    assert np.hypot(d[:, 0], d[:, 1]).max() < 30.0  # a few sigma, not a lap of the Earth
    crossed = np.sign(lon_n) != np.sign(lon)
    assert crossed.any()  # noise moved some fixes to the other side of 180
    wrapped = _wrap_lon(np.array([180.5, -180.25, 179.75, -180.0]))
    assert wrapped.tolist() == [-179.5, 179.75, 179.75, -180.0]


def test_pairs_from_gpx_and_csv(inputs: Path, theta_env: Path) -> None:
    summary = make_pairs([inputs], theta_env / "raw", PairsConfig(), noise=QUIET)
    df = _raw(theta_env / "raw")
    assert list(df.columns) == list(RAW_COLUMNS)
    sizes = df.groupby("agent", sort=False).size().to_dict()
    # Sources sorted by name; a GPX segment is a track, a repeated name gets "#2".
    assert sizes == {"fleet:van": 397, "fleet:bike": 300, "ride:Ride": 300, "ride:Ride#2": 200,
                     "ride:Walk": 260}  # fmt: skip
    assert summary.skipped_tracks == 1 and summary.agents == 5 and summary.fixes == len(df)
    assert summary.dropped == {"non_finite": 1, "no_time": 1, "duplicate_time": 1}
    for _, g in df.groupby("agent"):
        assert (np.diff(g["timestamp"].to_numpy()) > 0).all()
    # The clean columns are the input's own fixes, timestamps in seconds.
    lat, lon, t = _track(300, 5)
    bike = df[df["agent"] == "fleet:bike"]
    assert np.array_equal(bike["timestamp"], t)
    assert np.allclose(bike["latitude"], lat, atol=1e-12) and np.allclose(bike["longitude"], lon)
    walk = df[df["agent"] == "ride:Walk"]
    assert np.allclose(walk["latitude"], _track(260, 3)[0], atol=1e-7)  # 7 decimals in the GPX
    record = json.loads((theta_env / "raw" / PAIRS_FILE).read_text())
    assert [s["path"] for s in record["sources"]] == [str(inputs / "fleet.csv"),
                                                      str(inputs / "ride.gpx")]
    assert record["sources"][0]["skipped_tracks"] == 1 and record["agents"] == 5
    assert json.loads((theta_env / "raw" / NOISE_FILE).read_text()) == QUIET.model_dump()


def test_same_seed_same_bytes(inputs: Path, theta_env: Path) -> None:
    for fmt in ("parquet", "csv"):
        cfg = PairsConfig(seed=3, files=2, format=fmt)
        make_pairs([inputs], theta_env / f"a{fmt}", cfg)
        make_pairs([inputs], theta_env / f"b{fmt}", cfg)
        assert _tree(theta_env / f"a{fmt}") == _tree(theta_env / f"b{fmt}")
    make_pairs([inputs], theta_env / "c", PairsConfig(seed=4, files=2))
    a, c = _raw(theta_env / "aparquet"), _raw(theta_env / "c")
    clean = ["agent", "timestamp", "longitude", "latitude"]
    assert a[clean].equals(c[clean]) and not a["latitude_n"].equals(c["latitude_n"])


def test_raw_pairs_and_fit_inputs(theta_env: Path) -> None:
    spec = importlib.util.spec_from_file_location(  # the FIT encoder of the denoise tests
        "_infer_fit", Path(__file__).parents[1] / "infer" / "_infer_fit.py"
    )
    assert spec is not None and spec.loader is not None
    fit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit)
    lat, lon, t = _track(120, 1)
    fit.write_fit(theta_env / "morning.fit", t, lat, lon, np.full(120, 100))
    # A raw-pairs table: its clean columns are the track (denoise would read the _n ones).
    pd.DataFrame({"agent": "x", "timestamp": t, "longitude": lon, "latitude": lat,
                  "longitude_n": lon + 0.01, "latitude_n": lat + 0.01}).to_parquet(
        theta_env / "old.parquet")  # fmt: skip
    make_pairs([theta_env / "morning.fit", theta_env / "old.parquet"], theta_env / "raw",
               PairsConfig(), noise=QUIET)  # fmt: skip
    df = _raw(theta_env / "raw")
    assert sorted(df["agent"].unique()) == ["morning", "old:x"]
    old = df[df["agent"] == "old:x"]
    assert np.array_equal(old["latitude"], lat) and np.array_equal(old["latitude_n"], lat)
    assert np.allclose(df[df["agent"] == "morning"]["latitude"], lat, atol=1e-6)


def test_column_options(theta_env: Path) -> None:
    lat, lon, t = _track(50, 1)
    pd.DataFrame({"when": t, "y": lat, "x": lon, "who": "me"}).to_csv(theta_env / "a.csv")
    with pytest.raises(ThetaError, match="no latitude/longitude/time column"):
        make_pairs([theta_env / "a.csv"], theta_env / "raw", PairsConfig())
    make_pairs([theta_env / "a.csv"], theta_env / "raw", PairsConfig(),
               columns=ColumnNames(lat="y", lon="x", time="when", track="who"))  # fmt: skip
    assert _raw(theta_env / "raw")["agent"].unique().tolist() == ["a:me"]


# ---- the command ----------------------------------------------------------------------------


def test_pairs_prepare_check_end_to_end(inputs: Path, theta_env: Path) -> None:
    result = invoke("data", "pairs", "--from", inputs / "ride.gpx", inputs / "fleet.csv",
                    "--out", "raw", "--files", "2", "--seed", "1", "--vary-noise", "0.5")
    assert result.exit_code == 0, result.stderr
    out = result.stdout + result.stderr
    for needle in ("read 2 file(s): 6 track(s), 5 kept, 1 skipped", "wrote 1,457 fixes of 5",
                   "in 2 parquet file(s) to raw"):
        assert needle in out, out
    assert sorted(p.name for p in (theta_env / "raw").iterdir()) == [
        NOISE_FILE, PAIRS_FILE, "part-0000.parquet", "part-0001.parquet"]
    assert json.loads((theta_env / "raw" / NOISE_FILE).read_text())["vary_noise"] == 0.5
    assert sum(len(read_raw(p)) for p in (theta_env / "raw").glob("*.parquet")) == 1457
    prep = invoke("data", "prepare", "--raw", "raw", "--out", "dataset", "--k", "32",
                  "--quick-val", "32", "--split", "0.6,0.2,0.2")
    assert prep.exit_code == 0, prep.stderr
    check = invoke("data", "check", "dataset")
    assert check.exit_code == 0, check.stderr
    assert "ok:" in check.stdout


def test_force_replaces_raw_files_and_stale_synth_record(inputs: Path, theta_env: Path) -> None:
    assert invoke("data", "synth", "--out", "raw", "--agents", "3", "--points", "50",
                  "--files", "3").exit_code == 0
    (theta_env / "raw" / "notes.txt").write_text("mine")
    before = _tree(theta_env / "raw")
    assert_refused(invoke("data", "pairs", "--from", inputs, "--out", "raw"),
                   "already holds raw data", "--force")
    assert _tree(theta_env / "raw") == before
    result = invoke("data", "pairs", "--from", inputs, "--out", "raw", "--force")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (theta_env / "raw").iterdir()) == [
        NOISE_FILE, "notes.txt", PAIRS_FILE, "part-0000.parquet"]
    assert SYNTH_FILE not in {p.name for p in (theta_env / "raw").iterdir()}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


BAD = [
    ("no input", (), ("no input given",)),
    ("empty directory", ("--from", "empty"), ("empty", "no track files")),
    ("missing file", ("--from", "nope.gpx"), ("nope.gpx", "no such file")),
    ("unknown format", ("--from", "notes.txt"), ("notes.txt", "unknown format .txt")),
    ("no columns", ("--from", "cols.csv"), ("cols.csv", "no latitude/longitude/time column")),
    ("no usable track", ("--from", "short.csv"), ("no track with 2 or more usable fixes",)),
    ("negative sigma", ("--from", "tracks", "--white-sigma", "-1"), ("--white-sigma",)),
    ("negative vary", ("--from", "tracks", "--vary-noise", "-0.5"), ("--vary-noise",)),
    ("nan tau", ("--from", "tracks", "--drift-tau", "nan"), ("--drift-tau",)),
    ("jump range", ("--from", "tracks", "--outlier-min", "9", "--outlier-max", "5"),
     ("--outlier-max", "smaller than")),
    ("format", ("--from", "tracks", "--format", "xlsx"), ("--format",)),
    ("zero files", ("--from", "tracks", "--files", "0"), ("--files",)),
    ("too many files", ("--from", "tracks", "--files", "9"), ("--files 9", "tracks found (5)")),
    ("bad column", ("--from", "tracks", "--lat-col", "nope"), ("--lat-col nope",)),
]  # fmt: skip


@pytest.mark.parametrize(("label", "args", "needles"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_writes_nothing(inputs: Path, theta_env: Path, label, args, needles) -> None:
    (theta_env / "empty").mkdir()
    _write(theta_env / "notes.txt", "hello")
    _write(theta_env / "cols.csv", "a,b,c\n1,2,3\n")
    _write(theta_env / "short.csv", "lat,lon,time\n48.1,11.5,100\n48.1,11.5,\n")
    assert_refused(invoke("data", "pairs", *args, "--out", "raw"), *needles)
    assert not (theta_env / "raw").exists()


def test_out_is_a_file_or_holds_an_input(inputs: Path, theta_env: Path) -> None:
    _write(theta_env / "raw", "a file")
    assert_refused(invoke("data", "pairs", "--from", inputs, "--out", "raw"),
                   "raw", "not a directory")
    assert (theta_env / "raw").read_text() == "a file"
    made = invoke("data", "pairs", "--from", inputs, "--out", "r2", "--format", "csv")
    assert made.exit_code == 0, made.stderr
    before = _tree(theta_env / "r2")
    assert_refused(invoke("data", "pairs", "--from", "r2", "--out", "r2", "--force"),
                   "an input is a raw file in --out")
    assert _tree(theta_env / "r2") == before


def test_cli_defaults_equal_engine_defaults() -> None:
    params = inspect.signature(data_commands.pairs).parameters
    defaults = {name: p.default.default for name, p in params.items()}
    for name, fld in {**PairsConfig.model_fields, **NoiseModel.model_fields}.items():
        assert defaults[name] == fld.default, name
    assert str(defaults["out"]) == "dataset/raw"
    help_text = invoke("data", "pairs", "--help")
    assert help_text.exit_code == 0 and "--vary-noise" in help_text.stdout


def test_column_options_on_a_gpx_say_they_are_ignored(theta_env: Path) -> None:
    ride = _gpx(theta_env / "ride.gpx", [("ride", [_track(80, seed=1)])])
    result = invoke("data", "pairs", ride, "--out", "raw", "--lat-col", "la")
    assert result.exit_code == 0, result.output + result.stderr
    assert "--lat-col: applies to CSV/parquet inputs only; ignored for ride.gpx" in result.stderr
    assert "--lon-col" not in result.stderr
