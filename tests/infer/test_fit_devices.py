"""FIT files as devices write them (issue 20 §2): record times in device "system time" with a
timestamp_correlation message (VIRB), big-endian definitions with a zero-size field (Lezyne),
and files damaged part way (a device that lost power), kept up to the damage unless --strict.
Every fixture is hand-encoded here (``_infer_fit``)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _infer_fit import FIT_EPOCH, fit_body, fit_file, semicircles, write_fit
from _infer_helpers import ZeroModel, fake_loader, invoke, track
from conftest import assert_refused

from theta_cli.core.errors import ThetaError
from theta_cli.tracks.formats import read_track_file

N, CUT = 300, 237  # fixes in a ride; the damage comes at this record


def ride(n: int = N) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lat, lon, t = track(n, seed=5)
    return t, lat, lon, np.full(n, 130)


# ---- system time --------------------------------------------------------------------------


def test_system_time_records_become_utc_through_the_correlation(tmp_path: Path) -> None:
    t, lat, lon, hr = ride(40)
    # powered on 1000 s before the first fix; correlated 12.375 s after it (fractions included)
    src = write_fit(tmp_path / "virb.fit", t, lat, lon, hr, power_on=t[0] - 1000.0,
                    correlation_at=t[0] + 12.375)  # fmt: skip
    tf = read_track_file(src)
    np.testing.assert_allclose(tf.points.time, t, atol=1e-6)
    stamps = pd.to_datetime(pd.Series(tf.source.columns["timestamp"]), utc=True)
    assert stamps.iloc[0] == pd.Timestamp(t[0], unit="s", tz="UTC")
    assert (stamps.dt.year > 2000).all()


def test_each_record_takes_the_latest_correlation_before_it(tmp_path: Path) -> None:
    """A clock re-synchronised mid-recording (VIRB after regaining GPS): the second correlation
    holds from its record on; the first one still holds before it."""
    t, lat, lon, hr = ride(40)
    src = write_fit(tmp_path / "virb.fit", t, lat, lon, hr, power_on=t[0] - 1000.0,
                    correlation_at=t[0] + 3.0, resync=(25, t[0] - 4000.0))  # fmt: skip
    tf = read_track_file(src)
    np.testing.assert_allclose(tf.points.time, t, atol=1e-6)  # both halves on the UTC clock


def test_system_time_without_a_correlation_is_refused(tmp_path: Path) -> None:
    t, lat, lon, hr = ride(20)
    src = write_fit(tmp_path / "virb.fit", t, lat, lon, hr, power_on=t[0] - 1000.0)
    with pytest.raises(ThetaError, match="virb.fit: record times are device system time") as e:
        read_track_file(src)
    assert "\n" not in str(e.value)


def test_system_time_ride_denoises_to_utc_times_never_1970(theta_env: Path, monkeypatch) -> None:
    fake_loader(monkeypatch, ZeroModel())
    t, lat, lon, hr = ride(40)
    write_fit(theta_env / "virb.fit", t, lat, lon, hr, power_on=t[0] - 50.0,
              correlation_at=t[0])  # fmt: skip
    result = invoke("denoise", "virb.fit", "--model", "m", "--out", "out.csv")
    assert result.exit_code == 0, result.output + result.stderr
    times = pd.to_datetime(pd.read_csv("out.csv")["timestamp"], utc=True)
    expected = pd.to_datetime(pd.Series(t), unit="s", utc=True)
    assert (times == expected).all()


# ---- big-endian ---------------------------------------------------------------------------


@pytest.mark.parametrize("empty_field", [False, True])
def test_big_endian_reads_as_its_little_endian_twin(tmp_path: Path, empty_field: bool) -> None:
    t, lat, lon, hr = ride(50)
    little = read_track_file(write_fit(tmp_path / "le.fit", t, lat, lon, hr))
    # A zero-size field (as a Lezyne writes) made fitdecode fail with "ValueError: size".
    big = read_track_file(write_fit(tmp_path / "be.fit", t, lat, lon, hr, big_endian=True,
                                    empty_field=empty_field))  # fmt: skip
    np.testing.assert_array_equal(big.points.lat, little.points.lat)
    np.testing.assert_array_equal(big.points.lon, little.points.lon)
    np.testing.assert_array_equal(big.points.time, little.points.time)
    assert big.source.columns["heart_rate"] == little.source.columns["heart_rate"]


def developer_field_fit(path: Path, t, lat, lon, hr, size: int) -> Path:
    """Records with one developer field ("power2", declared uint32) of ``size`` bytes, as
    Connect IQ apps write them: developer_data_id, field_description, then records whose
    definition carries the developer field."""
    body = bytearray()
    body += struct.pack("<BBBHB", 0x42, 0, 0, 207, 1) + bytes([3, 1, 0x02])  # developer_data_id
    body += bytes([0x02, 0])  # developer_data_index 0
    desc = ((0, 1, 0x02), (1, 1, 0x02), (2, 1, 0x02), (3, 8, 0x07))  # field_description
    body += struct.pack("<BBBHB", 0x43, 0, 0, 206, len(desc))
    for f in desc:
        body += bytes(f)
    body += bytes([0x03, 0, 0, 0x86]) + b"power2\0\0"
    fields = ((253, 4, 0x86), (0, 4, 0x85), (1, 4, 0x85), (3, 1, 0x02))
    body += struct.pack("<BBBHB", 0x60, 0, 0, 20, len(fields))  # 0x20: developer data follows
    for f in fields:
        body += bytes(f)
    body += bytes([1, 0, size, 0])  # one developer field: number 0, size, developer index 0
    for i, (ti, la, lo, h) in enumerate(zip(t, lat, lon, hr, strict=True)):
        body += struct.pack("<BIiiB", 0x00, int(ti) - FIT_EPOCH, semicircles(la),
                            semicircles(lo), int(h))  # fmt: skip
        body += (200 + i).to_bytes(4, "little")[:size]
    path.write_bytes(fit_file(bytes(body)))
    return path


@pytest.mark.parametrize("size", [4, 2, 3])
def test_a_developer_field_smaller_than_its_base_type_is_read(tmp_path: Path, size: int) -> None:
    """A developer field declared uint32 but 2 or 3 bytes long (seen in Connect IQ files): the
    fixes are read as from the same file without it, and the field is kept (as its bytes)."""
    t, lat, lon, hr = ride(30)
    plain = read_track_file(write_fit(tmp_path / "plain.fit", t, lat, lon, hr))
    dev = read_track_file(developer_field_fit(tmp_path / "dev.fit", t, lat, lon, hr, size))
    np.testing.assert_array_equal(dev.points.lat, plain.points.lat)
    np.testing.assert_array_equal(dev.points.time, plain.points.time)
    assert dev.source.columns["heart_rate"] == plain.source.columns["heart_rate"]
    values = dev.source.columns["power2"]
    assert len(values) == 30 and all(v is not None for v in values)
    if size == 4:
        assert values[:3] == [200, 201, 202]


# ---- damaged files ------------------------------------------------------------------------


def damaged(path: Path, how: str) -> Path:
    t, lat, lon, hr = ride()
    body, offsets = fit_body(t, lat, lon, hr)
    data = fit_file(body)
    if how == "truncated":  # cut in the middle of record CUT
        data = data[: 14 + offsets[CUT] + 6]
    elif how == "no-crc":
        data = data[:-2]
    elif how == "garbage-tail":  # the CRC and what follows are garbage
        data = data[:-2] + b"\xde\xad" + b"\x00garbage"
    elif how == "undefined-local":  # record CUT's header names local message 11, never defined
        broken = bytearray(body)
        broken[offsets[CUT]] = 0x0B
        data = fit_file(bytes(broken))
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("how", "kept", "needle"),
    [("truncated", CUT, "unexpected EOF"), ("undefined-local", CUT, "local message 11 not defined"),
     ("no-crc", N, "CRC is missing"), ("garbage-tail", N, "not FIT data")],
)  # fmt: skip
def test_damaged_fit_keeps_the_fixes_before_the_damage(
    theta_env: Path, monkeypatch, how: str, kept: int, needle: str
) -> None:
    fake_loader(monkeypatch, ZeroModel())
    damaged(theta_env / "ride.fit", how)
    result = invoke("denoise", "ride.fit", "--model", "m", "--out", "out.csv")
    assert result.exit_code == 0, result.output + result.stderr
    assert len(pd.read_csv("out.csv")) == kept
    lines = [ln for ln in result.stderr.splitlines() if "damaged" in ln]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0] and "ride.fit" in lines[0]
    if kept == N:
        assert f"damaged after its last record, {N}" in lines[0]
        assert f"all {N} fixes read" in lines[0]
    else:
        assert f"damaged after record {CUT} of the file (byte " in lines[0]
        assert f"{CUT} fixes read, the rest lost" in lines[0]


@pytest.mark.parametrize("how", ["truncated", "undefined-local", "no-crc", "garbage-tail"])
def test_strict_refuses_a_damaged_fit(theta_env: Path, monkeypatch, how: str) -> None:
    fake_loader(monkeypatch, ZeroModel())
    damaged(theta_env / "ride.fit", how)
    result = invoke("denoise", "ride.fit", "--model", "m", "--out", "out.csv", "--strict")
    assert_refused(result, "ride.fit: damaged", "--strict")
    assert not Path("out.csv").exists()


def test_strict_reads_an_undamaged_fit(theta_env: Path, monkeypatch) -> None:
    fake_loader(monkeypatch, ZeroModel())
    t, lat, lon, hr = ride(30)
    write_fit(theta_env / "ride.fit", t, lat, lon, hr)
    result = invoke("denoise", "ride.fit", "--model", "m", "--out", "out.csv", "--strict")
    assert result.exit_code == 0, result.output + result.stderr
    assert "damaged" not in result.stderr


def test_data_pairs_keeps_a_damaged_fit_unless_strict(theta_env: Path) -> None:
    damaged(theta_env / "ride.fit", "undefined-local")
    result = invoke("data", "pairs", "--from", "ride.fit", "--out", "raw", "--strict")
    assert_refused(result, "ride.fit: damaged after record", "--strict")
    result = invoke("data", "pairs", "--from", "ride.fit", "--out", "raw")
    assert result.exit_code == 0, result.output + result.stderr
    assert f"{CUT} fixes read, the rest lost" in result.stderr
