"""Input files are sniffed before parsing: a file whose first bytes cannot be its format (NUL
bytes for a CSV, no PAR1 for parquet, no XML for GPX, no .FIT signature) is refused in one line
from a bounded prefix, without handing the whole file to pyarrow, gpxpy or fitdecode."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pytest
from _infer_fit import write_fit
from _infer_helpers import ZeroModel, fake_loader, gpx_text, invoke, track
from conftest import assert_refused

from theta_cli.core.errors import ThetaError
from theta_cli.tracks.formats import read_track_file

MB = 1 << 20


@pytest.fixture
def no_parsers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any parser (or whole-file read) reached fails the test: the prefix must decide."""
    import fitdecode
    import gpxpy
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    def reached(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the file reached a parser (or was read whole)")

    monkeypatch.setattr(pcsv, "read_csv", reached)
    monkeypatch.setattr(pq, "read_table", reached)
    monkeypatch.setattr(pq, "read_schema", reached)
    monkeypatch.setattr(pq, "ParquetFile", reached)
    monkeypatch.setattr(gpxpy, "parse", reached)
    monkeypatch.setattr(fitdecode, "FitReader", reached)
    monkeypatch.setattr(Path, "read_bytes", reached)
    monkeypatch.setattr(Path, "read_text", reached)


NUL = [("x.csv", "not a text table (binary content / NUL bytes)"),
       ("x.parquet", "not a readable parquet file"),
       ("x.pq", "not a readable parquet file"),
       ("x.gpx", "not a readable GPX file"),
       ("x.fit", "not a readable FIT file")]  # fmt: skip


@pytest.mark.parametrize(("name", "message"), NUL)
def test_nul_file_is_refused_from_its_prefix(tmp_path: Path, name: str, message: str,
                                             request: pytest.FixtureRequest) -> None:  # fmt: skip
    path = tmp_path / name
    path.write_bytes(b"\0" * MB)
    request.getfixturevalue("no_parsers")
    with pytest.raises(ThetaError, match="not a") as e:
        read_track_file(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [("x.csv", b"time,lat,lon\n1,2,3\n\0\0\0", "NUL bytes"),
     ("x.parquet", b"PAR0" + b"\1" * 100 + b"PAR1", "PAR1"),
     ("x.parquet", b"PAR1" + b"\1" * 100, "PAR1"),
     ("x.gpx", b"GPX? not xml", "not XML"),
     ("x.gpx", codecs.BOM_UTF8 + b"  \n{}", "not XML"),
     ("x.gpx", b"", "empty"),
     ("x.fit", b"\x0e\x10" + b"\1" * 6 + b".FTT" + b"\0" * 40, ".FIT"),
     ("x.fit", b"\x0e\x10", ".FIT")],
)  # fmt: skip
def test_wrong_magic_is_refused(tmp_path: Path, no_parsers: None, name: str, data: bytes,
                                message: str) -> None:  # fmt: skip
    path = tmp_path / name
    with open(path, "wb") as fh:  # Path.write_bytes is fine, but read_bytes is patched
        fh.write(data)
    with pytest.raises(ThetaError, match=message):
        read_track_file(path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-8"])
@pytest.mark.parametrize("declared", [True, False])
def test_xml_after_bom_and_whitespace_still_reads(tmp_path: Path, encoding: str,
                                                  declared: bool) -> None:  # fmt: skip
    text = gpx_text([track(12, seed=3)])
    if not declared:  # whitespace may only come before the root element, not a declaration
        text = "\n  \t" + text.split("\n", 1)[1]
    path = tmp_path / "ride.gpx"
    path.write_bytes(text.encode(encoding))
    assert len(read_track_file(path).points) == 12


def test_good_fit_parquet_csv_still_read(tmp_path: Path) -> None:
    import pandas as pd

    lat, lon, t = track(15, seed=4)
    frame = pd.DataFrame({"time": t, "lat": lat, "lon": lon})
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_parquet(tmp_path / "a.parquet")
    write_fit(tmp_path / "a.fit", t, lat, lon, np.full(15, 100))
    for name in ("a.csv", "a.parquet", "a.fit"):
        assert len(read_track_file(tmp_path / name).points) == 15


def test_cli_refuses_a_nul_csv_in_one_line(theta_env: Path, monkeypatch) -> None:
    fake_loader(monkeypatch, ZeroModel())
    Path("zeros.csv").write_bytes(b"\0" * MB)
    result = invoke("denoise", "zeros.csv", "--model", "m", "--out", "o.csv")
    assert_refused(result, "zeros.csv: not a text table (binary content / NUL bytes)")
    assert not Path("o.csv").exists()
