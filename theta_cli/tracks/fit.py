"""FIT activity files (read only, with fitdecode): the ``record`` messages as a table.

Each record becomes one row: ``timestamp``, ``latitude`` and ``longitude`` (degrees, from the
semicircles FIT stores), then every other field of the record (heart rate, cadence, power,
altitude, ...) under its FIT name, in the order first seen. Records without a position (before
the first GPS fix, indoors) stay as rows; their points pass through. There is no FIT writer, so
FIT input is written as CSV (default), parquet, GPX or GeoJSON.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from theta_cli.core import logs
from theta_cli.core.errors import ThetaError
from theta_cli.tracks.points import Denoised, Points, TrackFile, check_ranges

SEMICIRCLE_DEG = 180.0 / 2**31
FIXED = ("timestamp", "latitude", "longitude")


@dataclass
class FitSource:
    """The records as columns (name -> list of values, one per record)."""

    path: Path
    columns: dict[str, list[Any]]


def _degrees(value: Any) -> float:
    return float(value) * SEMICIRCLE_DEG if isinstance(value, (int, float)) else np.nan


def _scalar(value: Any) -> Any:
    # Array fields (e.g. per-pedal power) become text: one cell per record, any output format.
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    return np.nan


def read_fit(path: Path) -> TrackFile:
    import fitdecode

    rows: list[dict[str, Any]] = []
    names: dict[str, None] = dict.fromkeys(FIXED)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fitdecode.FitReader(str(path)) as reader:
                for frame in reader:
                    if not isinstance(frame, fitdecode.FitDataMessage) or frame.name != "record":
                        continue
                    row: dict[str, Any] = {}
                    for f in frame.fields:
                        if f.name in ("position_lat", "position_long"):
                            key = "latitude" if f.name == "position_lat" else "longitude"
                            row[key] = _degrees(f.value)
                        elif f.name and f.name not in row:
                            row[f.name] = _scalar(f.value)
                            names.setdefault(f.name)
                    rows.append(row)
    except fitdecode.FitError as e:
        raise ThetaError(f"{path}: not a readable FIT file ({e})") from None
    for w in caught:
        logs.get_logger().warning(f"{path}: {w.message}")
    if not rows:
        raise ThetaError(f"{path}: no record messages (not an activity with positions)")
    columns = {n: [r.get(n) for r in rows] for n in names}
    lat = np.array([np.nan if v is None else v for v in columns["latitude"]], dtype=np.float64)
    lon = np.array([np.nan if v is None else v for v in columns["longitude"]], dtype=np.float64)
    if not (np.isfinite(lat) & np.isfinite(lon)).any():
        raise ThetaError(f"{path}: no GPS positions in its {len(rows)} records")
    check_ranges(str(path), lat, lon, ("latitude", "longitude"))
    time = np.array([_seconds(v) for v in columns["timestamp"]], dtype=np.float64)
    columns["latitude"], columns["longitude"] = list(lat), list(lon)
    points = Points(lat, lon, time, np.zeros(len(rows), dtype=np.int64), 1)
    notes = [f"{len(rows)} records, fields: {', '.join(n for n in names if n not in FIXED)}"]
    return TrackFile(path, "fit", points, FitSource(path, columns), notes)


def table(source: FitSource, out: Denoised):  # -> pyarrow.Table
    """The records with the new coordinates, for CSV/parquet output."""
    import pandas as pd
    import pyarrow as pa

    data: dict[str, Any] = {}
    for name, values in source.columns.items():
        if name == "timestamp":
            data[name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True)
        elif name == "latitude":
            data[name] = out.lat
        elif name == "longitude":
            data[name] = out.lon
        else:
            data[name] = pd.Series(values, dtype=object).infer_objects()
    try:
        return pa.Table.from_pandas(pd.DataFrame(data), preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        # Mixed types in one field across records: keep them as text rather than fail.
        frame = pd.DataFrame(
            {k: (v if k in FIXED else pd.Series(v).astype(str)) for k, v in data.items()}
        )
        return pa.Table.from_pandas(frame, preserve_index=False)
