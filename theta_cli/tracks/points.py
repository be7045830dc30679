"""One input file in memory: its points in file order, and a handle back to the source.

Every reader (GPX, FIT, CSV/parquet) produces a :class:`TrackFile`. The engine only looks at
``points``; the writers use ``source`` (the parsed GPX document, the FIT records, the table as
read) to put new latitudes and longitudes in place and keep everything else as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from theta_cli.core.errors import ThetaError


@dataclass
class Points:
    """Every point of a file, in file order. Missing values are NaN."""

    lat: np.ndarray  # float64 [N], degrees
    lon: np.ndarray  # float64 [N], degrees
    time: np.ndarray  # float64 [N], Unix seconds
    group: np.ndarray  # int64 [N]: one id per track (a GPX trkseg, a table's track id)
    n_tracks: int  # tracks as the user counts them (GPX <trk>, table track ids)

    def __len__(self) -> int:
        return len(self.lat)


@dataclass
class TrackFile:
    """A parsed input: ``kind`` is its format (gpx, fit, csv, parquet, geojson)."""

    path: Path
    kind: str
    points: Points
    source: Any  # the format module's own handle (GpxSource, FitSource, TableSource, ...)
    notes: list[str] = field(default_factory=list)  # what the reader decided, for the log
    read_seconds: float = 0.0


@dataclass
class Denoised:
    """New coordinates for every point of a file; ``changed`` is False where a point passed
    through (its coordinates are then the input's, bit for bit)."""

    lat: np.ndarray
    lon: np.ndarray
    changed: np.ndarray  # bool [N]


def check_ranges(where: str, lat: np.ndarray, lon: np.ndarray, names: tuple[str, str]) -> None:
    """Refuse latitudes outside [-90, 90] and longitudes outside [-180, 180] (NaN is allowed:
    such points pass through)."""
    for values, name, bound in ((lat, names[0], 90.0), (lon, names[1], 180.0)):
        bad = np.flatnonzero(np.abs(values) > bound)  # NaN compares False
        if bad.size:
            raise ThetaError(
                f"{where}: {bad.size} {name} value(s) outside [-{bound:g}, {bound:g}] degrees "
                f"(first at point {int(bad[0]) + 1}: {float(values[bad[0]])!r})"
            )
