"""Geodesy, both ways, through pymap3d: WGS-84 latitude/longitude <-> local ENU metres.

Everything in theta that turns coordinates into metres goes through here. Heights are 0: theta
works on the horizontal track only, and a 0 m height on both sides makes the round trip exact to
well under a millimetre for the few-kilometre extents of a chunk.
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
