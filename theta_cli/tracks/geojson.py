"""GeoJSON output, for maps, and GeoJSON input.

Output from another format: a FeatureCollection with one LineString per segment.

Segments are cut like the denoiser cuts them (per track, in time order, at gaps longer than
``max_gap_s``), but every point with coordinates is drawn, passed-through ones included. A
segment of one point is a Point. Each feature's properties carry the track's name and the
points' times as ISO 8601 strings in ``coordTimes`` (the name GPX-to-GeoJSON tools use).
Points without finite coordinates are left out, as in GPX output (JSON has no NaN); a file with
none left is an empty FeatureCollection.

Input: the timed LineString / MultiLineString features (per-point times in ``coordTimes`` or
``times``; for a MultiLineString one list per line or one for all) and the Point features with a
``time`` / ``timestamp`` (together one track). Written back as GeoJSON, the document keeps
everything but the changed longitudes and latitudes; untimed features pass through untouched.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from theta_cli.core import logs
from theta_cli.core.errors import ThetaError
from theta_cli.tracks.points import Denoised, Points, TrackFile, check_ranges


def iso_times(seconds: np.ndarray) -> list[str | None]:
    """ISO 8601 UTC strings (millisecond precision); None where the time is missing."""
    ok = np.isfinite(seconds)
    ms = np.where(ok, np.round(seconds * 1e3), 0).astype(np.int64).astype("datetime64[ms]")
    text = np.datetime_as_string(ms, unit="ms", timezone="UTC")
    return [str(s) if k else None for s, k in zip(text, ok, strict=True)]


def feature_collection(
    points: Points, out: Denoised, track_names: list[str], max_gap_s: float, name: str
) -> dict:
    ok = np.isfinite(out.lat) & np.isfinite(out.lon)
    idx = np.flatnonzero(ok)
    if len(idx) < len(ok):
        logs.get_logger().info(
            f"{len(ok) - len(idx)} point(s) without coordinates are not written to GeoJSON"
        )
    order = idx[np.lexsort((points.time[idx], points.group[idx]))]  # NaN times sort last
    group, time = points.group[order], points.time[order]
    cut = np.ones(len(order), dtype=bool)
    # A step that is not a finite gap <= max_gap_s (NaN included) starts a new segment.
    cut[1:] = (group[1:] != group[:-1]) | ~(np.diff(time) <= max_gap_s)
    starts = np.flatnonzero(cut)
    ends = np.append(starts[1:], len(order)) if len(order) else starts  # no point: no segment
    lon, lat = out.lon[order], out.lat[order]
    times = iso_times(time)
    features = []
    segment_in_group: dict[int, int] = {}
    for a, b in zip(starts, ends, strict=True):
        g = int(group[a])
        k = segment_in_group[g] = segment_in_group.get(g, -1) + 1
        coords = np.stack([lon[a:b], lat[a:b]], axis=1).tolist()
        geometry = (
            {"type": "LineString", "coordinates": coords}
            if b - a > 1
            else {"type": "Point", "coordinates": coords[0]}
        )
        features.append({
            "type": "Feature",
            "geometry": geometry,
            "properties": {
                "source": name,
                "track": track_names[g] if g < len(track_names) else str(g),
                "segment": k,
                "coordTimes": times[a:b],
            },
        })
    return {"type": "FeatureCollection", "features": features}


def geojson_text(
    points: Points, out: Denoised, track_names: list[str], max_gap_s: float, name: str
) -> str:
    collection = feature_collection(points, out, track_names, max_gap_s, name)
    # allow_nan=False: a NaN that slipped through fails here instead of writing invalid JSON.
    return json.dumps(collection, separators=(",", ":"), allow_nan=False) + "\n"


# ---- reading ---------------------------------------------------------------------------------

TIMES_PROPERTIES = ("coordTimes", "times")  # per point, on LineString / MultiLineString features
POINT_TIME_PROPERTIES = ("time", "timestamp")  # on Point features
NAME_PROPERTIES = ("name", "title", "track")


@dataclass
class GeojsonSource:
    """A GeoJSON input as parsed: the document, and per point group a display name. Points are
    the positions of the timed features, in document order (see :func:`_timed_positions`)."""

    doc: dict
    track_names: list[str]
    elevation: np.ndarray  # float64 [N]: a position's third value, NaN where it has none


def _refuse(path: Path, why: str) -> NoReturn:
    raise ThetaError(f"{path}: {why}")


def _features(path: Path, doc: Any) -> list[dict]:
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "FeatureCollection" and isinstance(doc.get("features"), list):
        return [f for f in doc["features"] if isinstance(f, dict)]
    if kind == "Feature":
        return [doc]
    _refuse(path, "not a GeoJSON Feature or FeatureCollection")


def _props(feature: dict) -> dict:
    props = feature.get("properties")
    return props if isinstance(props, dict) else {}


def _line_times(feature: dict, parts: list[list]) -> list[list] | None:
    """The per-point times of a (Multi)LineString feature, one list per part; None if none."""
    props = _props(feature)
    times = next((props[k] for k in TIMES_PROPERTIES if isinstance(props.get(k), list)), None)
    if times is None:
        return None
    if len(parts) > 1 or (times and isinstance(times[0], list)):
        if times and all(isinstance(t, list) for t in times):
            return times
        flat, out = list(times), []
        for part in parts:  # one flat list for every part's points in turn
            out.append(flat[: len(part)])
            flat = flat[len(part):]
        return out if not flat else [*out, flat]
    return [times]


def _timed_positions(features: list[dict]):
    """(feature index, part index, positions, times) of every timed line part, then
    (feature index, None, [position], [time]) of every timed Point feature."""
    for i, f in enumerate(features):
        geom = f.get("geometry") if isinstance(f.get("geometry"), dict) else {}
        kind, coords = geom.get("type"), geom.get("coordinates")
        if kind in ("LineString", "MultiLineString") and isinstance(coords, list):
            parts = [coords] if kind == "LineString" else [p for p in coords if isinstance(p, list)]
            times = _line_times(f, parts)
            if times is not None:
                for j, part in enumerate(parts):
                    yield i, j, part, times[j] if j < len(times) else []
    for i, f in enumerate(features):
        geom = f.get("geometry") if isinstance(f.get("geometry"), dict) else {}
        if geom.get("type") == "Point" and isinstance(geom.get("coordinates"), list):
            props = _props(f)
            t = next((props[k] for k in POINT_TIME_PROPERTIES if props.get(k) is not None), None)
            if t is not None:
                yield i, None, [geom["coordinates"]], [t]


def _time_seconds(path: Path, where: str, values: list) -> np.ndarray:
    import pandas as pd

    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        out = np.asarray(values, dtype=np.float64)
        return np.where(np.abs(out) > 1e11, out / 1e3, out)  # epoch milliseconds
    text = pd.Series([None if v is None else str(v) for v in values], dtype=object)
    for fmt in ("ISO8601", "mixed"):
        try:
            stamps = pd.to_datetime(text, utc=True, format=fmt)
        except (ValueError, TypeError, OverflowError):
            continue
        ns = stamps.dt.tz_localize(None).astype("datetime64[ns]").to_numpy()
        out = ns.astype("int64").astype(np.float64) / 1e9
        out[np.isnat(ns)] = np.nan
        return out
    _refuse(path, f"{where}: times are neither date-times nor epoch numbers")


def read_geojson(path: Path) -> TrackFile:
    """Read the timed LineString / MultiLineString features (per-point ``coordTimes`` or
    ``times``) and timed Point features (``time`` / ``timestamp``) of a GeoJSON file."""
    def no_constant(name: str) -> Any:  # NaN / Infinity are not JSON
        raise ValueError(f"{name} is not a JSON number")

    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"), parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        _refuse(path, f"not a readable GeoJSON file ({first})")
    features = _features(path, doc)
    lat: list[float] = []
    lon: list[float] = []
    ele: list[float] = []
    time: list[np.ndarray] = []
    group: list[int] = []
    names: list[str] = []
    keys: dict[tuple[int, Any], int] = {}
    for i, j, part, times in _timed_positions(features):
        where = f"feature {i + 1}"
        if len(times) != len(part):
            _refuse(path, f"{where}: {len(part)} positions but {len(times)} times")
        key = (i, j) if j is not None else (-1, None)  # all timed Point features: one track
        if key not in keys:
            keys[key] = len(names)
            props = _props(features[i])
            label = next((str(props[k]) for k in NAME_PROPERTIES if props.get(k) is not None),
                         path.stem)  # fmt: skip
            names.append(label if j is None else label if j == 0 else f"{label} ({j + 1})")
        for pos in part:
            ok = isinstance(pos, list) and len(pos) >= 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos[:3])
            if not ok:
                _refuse(path, f"{where}: a position is not [longitude, latitude]")
            lon.append(float(pos[0]))
            lat.append(float(pos[1]))
            ele.append(float(pos[2]) if len(pos) > 2 else np.nan)
        time.append(_time_seconds(path, where, times))
        group.extend([keys[key]] * len(part))
    if not names:
        _refuse(path, "no timed positions (LineString / MultiLineString features with "
                      "coordTimes or times, or Point features with a time); denoising needs time")
    lat_a, lon_a = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    check_ranges(str(path), lat_a, lon_a, ("latitude", "longitude"))
    points = Points(lat_a, lon_a, np.concatenate(time), np.asarray(group, dtype=np.int64),
                    len(names))  # fmt: skip
    source = GeojsonSource(doc, names, np.asarray(ele, dtype=np.float64))
    n_lines = sum(1 for k in keys if k[0] >= 0)
    notes = [f"GeoJSON: {n_lines} timed line(s)" + (", timed Point features as one track"
                                                     if (-1, None) in keys else "")]  # fmt: skip
    return TrackFile(path, "geojson", points, source, notes)


def geojson_in_place(source: GeojsonSource, out: Denoised) -> str:
    """The input document with the changed positions' longitude and latitude replaced;
    everything else (properties, other features, elevations) as it was."""
    doc = copy.deepcopy(source.doc)
    k = 0
    for _i, _j, part, _times in _timed_positions(_features(Path("?"), doc)):
        for pos in part:
            if out.changed[k] and np.isfinite(out.lat[k]) and np.isfinite(out.lon[k]):
                pos[0], pos[1] = float(out.lon[k]), float(out.lat[k])
            k += 1
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n"


def flat_columns(source: GeojsonSource, points: Points, out: Denoised) -> dict[str, Any]:
    """Points as columns, for CSV/parquet output: track, time, latitude, longitude, elevation."""
    import pandas as pd

    cols: dict[str, Any] = {
        "track": [source.track_names[g] for g in points.group],
        "time": pd.to_datetime(points.time, unit="s", utc=True),
        "latitude": out.lat,
        "longitude": out.lon,
    }
    if np.isfinite(source.elevation).any():
        cols["elevation"] = source.elevation
    return cols
