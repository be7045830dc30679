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


def write_fit(
    path: Path, unix_times: np.ndarray, lat: np.ndarray, lon: np.ndarray, hr: np.ndarray
) -> Path:
    """Write ``record`` messages (whole-second times) to ``path``; returns ``path``."""
    fields = ((253, 4, 0x86), (0, 4, 0x85), (1, 4, 0x85), (3, 1, 0x02))
    body = bytearray()
    body += struct.pack("<BBBHB", 0x40, 0, 0, 20, len(fields))
    for num, size, base in fields:
        body += struct.pack("<BBB", num, size, base)
    for t, la, lo, h in zip(unix_times, lat, lon, hr, strict=True):
        body += struct.pack(
            "<BIiiB", 0x00, int(t) - FIT_EPOCH, semicircles(la), semicircles(lo), int(h)
        )
    header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(body), b".FIT")
    header += struct.pack("<H", fit_crc(header))
    data = header + bytes(body)
    path.write_bytes(data + struct.pack("<H", fit_crc(data)))
    return path
