"""A minimal FIT encoder for tests: nothing installed writes FIT files, so this hand-encodes one.

Layout (FIT protocol 2.0): a 14-byte header, one definition message for ``record`` (global
message 20) with timestamp, position_lat, position_long and heart_rate, one data message per
fix, and the file CRC. Invalid values (FIT's "no data") are written for NaN positions.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

FIT_EPOCH = 631_065_600  # 1989-12-31T00:00:00Z in Unix seconds
_CRC_TABLE = (
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
    0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
)  # fmt: skip
_SINT32_INVALID = 0x7FFFFFFF


def fit_crc(data: bytes, crc: int = 0) -> int:
    for byte in data:
        for nibble in (byte & 0xF, byte >> 4):
            tmp = _CRC_TABLE[crc & 0xF]
            crc = (crc >> 4) & 0x0FFF
            crc = crc ^ tmp ^ _CRC_TABLE[nibble]
    return crc


def semicircles(deg: float) -> int:
    if not np.isfinite(deg):
        return _SINT32_INVALID
    return int(round(deg * (2**31) / 180.0))


def fit_file(body: bytes) -> bytes:
    """``body`` (definition and data messages) with a 14-byte header and the file CRC."""
    header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(body), b".FIT")
    header += struct.pack("<H", fit_crc(header))
    data = header + body
    return data + struct.pack("<H", fit_crc(data))


def fit_body(
    unix_times: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    hr: np.ndarray,
    *,
    big_endian: bool = False,
    power_on: float | None = None,
    correlation_at: float | None = None,
    empty_field: bool = False,
    resync: tuple[int, float] | None = None,
) -> tuple[bytes, list[int]]:
    """The messages, and each ``record`` data message's offset in the body.

    ``big_endian``: architecture byte 1 (multi-byte fields most significant byte first).
    ``power_on``: record timestamps in device "system time", seconds since this Unix time (as
    a VIRB writes them); ``correlation_at``: then also a ``timestamp_correlation`` message
    (global 162) pairing that Unix time (fractions allowed) with its system time.
    ``empty_field``: the record definition also declares a field of size 0 (temperature),
    which some devices write and which takes no bytes in the data messages.
    ``resync``: (record index, new power_on): the device clock is re-synchronised there; from
    that record on, times are system time since the new power_on, after a second correlation
    (written at the first such record's Unix time).
    """
    e = ">" if big_endian else "<"
    fields = ((253, 4, 0x86), (0, 4, 0x85), (1, 4, 0x85), (3, 1, 0x02))
    fields += ((13, 0, 0x01),) if empty_field else ()
    body = bytearray()
    if power_on is not None and correlation_at is not None:
        # timestamp, fractional_timestamp, system_timestamp, fractional_system_timestamp
        corr = ((253, 4, 0x86), (0, 2, 0x84), (1, 4, 0x86), (2, 2, 0x84))
        body += struct.pack(f"{e}BBBHB", 0x41, 0, int(big_endian), 162, len(corr))
        for num, size, base in corr:
            body += struct.pack("<BBB", num, size, base)
        body += _correlation(e, correlation_at, power_on)
    body += struct.pack(f"{e}BBBHB", 0x40, 0, int(big_endian), 20, len(fields))
    for num, size, base in fields:
        body += struct.pack("<BBB", num, size, base)
    offsets = []
    for i, (t, la, lo, h) in enumerate(zip(unix_times, lat, lon, hr, strict=True)):
        if resync is not None and i == resync[0]:
            power_on = resync[1]
            body += _correlation(e, float(t), power_on)
        offsets.append(len(body))
        stamp = int(t) - FIT_EPOCH if power_on is None else int(t - power_on)
        body += struct.pack(f"{e}BIiiB", 0x00, stamp, semicircles(la), semicircles(lo), int(h))
    return bytes(body), offsets


def _correlation(e: str, unix: float, power_on: float) -> bytes:
    """A timestamp_correlation data message (local 1): ``unix`` and its system time."""
    utc, sys_s = unix - FIT_EPOCH, unix - power_on
    return struct.pack(f"{e}BIHIH", 0x01, int(utc), round((utc % 1) * 32768), int(sys_s),
                       round((sys_s % 1) * 32768))  # fmt: skip


def write_fit(
    path: Path,
    unix_times: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    hr: np.ndarray,
    **options: object,
) -> Path:
    """Write ``record`` messages (whole-second times) to ``path``; returns ``path``. Options
    as :func:`fit_body`."""
    body, _ = fit_body(unix_times, lat, lon, hr, **options)  # type: ignore[arg-type]
    path.write_bytes(fit_file(body))
    return path
