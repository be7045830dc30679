"""GeoJSON output, for maps: a FeatureCollection with one LineString per segment.

Segments are cut like the denoiser cuts them (per track, in time order, at gaps longer than
``max_gap_s``), but every point with coordinates is drawn, passed-through ones included. A
segment of one point is a Point. Each feature's properties carry the track's name and the
points' times as ISO 8601 strings in ``coordTimes`` (the name GPX-to-GeoJSON tools use).
Points without finite coordinates are left out, as in GPX output (JSON has no NaN); a file with
none left is an empty FeatureCollection.
"""

from __future__ import annotations

import json

import numpy as np

from theta_cli.core import logs
from theta_cli.tracks.points import Denoised, Points


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
