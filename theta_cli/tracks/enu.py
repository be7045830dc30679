"""Geodesy, both ways, through pymap3d: WGS-84 latitude/longitude <-> local ENU metres.

Everything in theta that turns coordinates into metres goes through here. Heights are 0: theta
works on the horizontal track only, and a 0 m height on both sides makes the round trip exact to
well under a millimetre for the few-kilometre extents of a chunk.

For denoising, chunks go into metres about their first noisy point and move back. Every chunk's
origin is its first point (DOMAIN.md), so the model sees the chunk exactly as it saw training
chunks. The way back applies the model's displacement d (metres, in the chunk's frame) to the
input point p as a *difference* of two conversions about the same origin:

    new = p + (from_enu(x + d) - from_enu(x)),   x = p in the chunk's frame

rather than ``from_enu(x + d)`` alone. The conversions work on the horizontal plane (up = 0),
and that round trip is off by about s³/(3R²) at s metres from the origin (1 mm at 5 km,
centimetres on a long fast chunk); in the difference the offset cancels, so d = 0 returns p bit
for bit and any d moves p by d in the chunk's frame to within micrometres.
"""

from __future__ import annotations

import numpy as np


def to_enu(
    lat: np.ndarray, lon: np.ndarray, lat0: np.ndarray | float, lon0: np.ndarray | float
) -> np.ndarray:
    """East/north metres of (lat, lon) around the origin (lat0, lon0); shape (..., 2), float64.

    Origins broadcast against the points, so one call converts many chunks, each about its own
    origin (pass ``lat0`` of shape [C, 1] for points of shape [C, K]).
    """
    import pymap3d

    e, n, _ = pymap3d.geodetic2enu(lat, lon, 0.0, lat0, lon0, 0.0)
    return np.stack([np.asarray(e, dtype=np.float64), np.asarray(n, dtype=np.float64)], axis=-1)


def from_enu(
    east: np.ndarray, north: np.ndarray, lat0: np.ndarray | float, lon0: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) in degrees of ENU metres around (lat0, lon0); the inverse of ``to_enu``."""
    import pymap3d

    lat, lon, _ = pymap3d.enu2geodetic(east, north, 0.0, lat0, lon0, 0.0)
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def chunk_enu(
    lat: np.ndarray, lon: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chunks ``index`` [C, K] of the points as ENU metres [C, K, 2] (float64), with origins."""
    lat0, lon0 = lat[index[:, 0]], lon[index[:, 0]]
    x = to_enu(lat[index], lon[index], lat0[:, None], lon0[:, None])
    return x, lat0, lon0


def degree_deltas(
    x: np.ndarray, d: np.ndarray, lat0: np.ndarray, lon0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """How far (degrees of latitude, longitude) a move by ``d`` takes points at ENU ``x``.

    ``x`` and ``d`` are [..., 2] metres about origins (lat0, lon0) that broadcast against
    ``x[..., 0]``: pass [C, 1] origins for [C, K] chunks, so each origin is converted once.
    """
    east = np.stack([x[..., 0] + d[..., 0], x[..., 0]])
    north = np.stack([x[..., 1] + d[..., 1], x[..., 1]])
    lat, lon = from_enu(east, north, lat0, lon0)
    dlon = lon[0] - lon[1]
    return lat[0] - lat[1], (dlon + 180.0) % 360.0 - 180.0  # a chunk across the antimeridian


def shift(
    lat: np.ndarray, lon: np.ndarray, dlat: np.ndarray, dlon: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(lat + dlat, lon + dlon), longitudes kept in [-180, 180]."""
    new_lon = lon + dlon
    new_lon = np.where(new_lon > 180.0, new_lon - 360.0, new_lon)
    return lat + dlat, np.where(new_lon < -180.0, new_lon + 360.0, new_lon)
