"""A table with two columns of the same name is refused in one line naming the file and the
column, by `theta denoise` and `theta data pairs` alike (both read through tracks.table): which
of the two holds the coordinates cannot be told, and parquet written with them is unreadable."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _infer_helpers import ZeroModel, fake_loader, invoke, track
from conftest import assert_refused


def _csv(path: Path, header: str) -> Path:
    lat, lon, t = track(20, seed=9)
    n = header.count(",") + 1
    rows = [header]
    for la, lo, tt in zip(lat, lon, t, strict=True):
        values = {"time": f"{tt:.0f}", "lat": f"{la:.7f}", "lon": f"{lo:.7f}", "note": "x"}
        rows.append(",".join(values[h] for h in header.split(",")))
    assert all(r.count(",") + 1 == n for r in rows)
    path.write_text("\n".join(rows) + "\n")
    return path


def _parquet(path: Path) -> Path:
    lat, lon, t = track(20, seed=9)
    table = pa.table([pa.array(t), pa.array(lat), pa.array(lat), pa.array(lon)],
                     names=["time", "lat", "lat", "lon"])  # fmt: skip
    pq.write_table(table, path)
    return path


CASES = [
    ("coordinate", lambda d: _csv(d / "dup.csv", "time,lat,lat,lon"), "'lat'"),
    ("other", lambda d: _csv(d / "dup.csv", "time,lat,lon,note,note"), "'note'"),
    ("parquet", lambda d: _parquet(d / "dup.parquet"), "'lat'"),
]


@pytest.mark.parametrize(("label", "make", "column"), CASES, ids=[c[0] for c in CASES])
def test_denoise_refuses_duplicate_columns(
    theta_env: Path, monkeypatch: pytest.MonkeyPatch, label, make, column
) -> None:
    fake_loader(monkeypatch, ZeroModel())
    src = make(theta_env)
    before = src.read_bytes()
    result = invoke("denoise", src.name, "--model", "m", "--out", "out")
    assert_refused(result, src.name, "duplicate column", column)
    assert not Path("out").exists()
    assert src.read_bytes() == before


@pytest.mark.parametrize(("label", "make", "column"), CASES, ids=[c[0] for c in CASES])
def test_data_pairs_refuses_duplicate_columns(theta_env: Path, label, make, column) -> None:
    d = theta_env / "tracks"
    d.mkdir()
    src = make(d)
    result = invoke("data", "pairs", "--from", d, "--out", "raw")
    assert_refused(result, src.name, "duplicate column", column)
    assert not Path("raw").exists()
