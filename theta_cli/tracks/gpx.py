"""GPX 1.0/1.1 tracks: read with gpxpy, written back with only track-point coordinates changed.

Writing a GPX source edits the original bytes: the ``lat``/``lon`` attributes of each changed
``<trkpt>`` start tag are replaced, and every other byte (elevation, times with their original
precision and zone, extensions such as heart rate, cadence and power, names, waypoints, routes,
metadata, comments, formatting) is copied as it was. expat (the XML parser in the standard
library) gives each ``<trkpt>``'s byte offset, in the document order gpxpy reads them. Should
the two disagree, or the file use an encoding that is not ASCII-compatible, the document is
re-serialised by gpxpy instead, which keeps every value but not the exact formatting.

Other sources (FIT, tables) are written as a new GPX document: one track per track id, with
elevation, time and, where present, heart rate, cadence and temperature as Garmin
TrackPointExtension fields and power as a ``<power>`` extension.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from theta_cli.core import logs
from theta_cli.core.errors import ThetaError
from theta_cli.tracks.points import Denoised, Points, TrackFile, check_ranges

GPXTPX_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v1"
_START_TAG = re.compile(rb"<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*/?>")
_COORD_ATTR = re.compile(rb"(\s(lat|lon)\s*=\s*)([\"'])[^\"']*\3")


@dataclass
class GpxSource:
    """The file's bytes, the parsed document and its track points in document order."""

    path: Path
    data: bytes
    gpx: Any  # gpxpy.gpx.GPX
    points: list[Any]  # gpxpy.gpx.GPXTrackPoint, document order
    segment: np.ndarray  # int64 [N]: segment index within its track
    track_names: list[str]  # per group (one group per <trkseg>)


def _seconds(t: dt.datetime | None) -> float:
    if t is None:
        return np.nan
    if t.tzinfo is None:  # GPX times are UTC; a time without a zone is taken as UTC
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.timestamp()


_DECLARED = re.compile(rb"<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


def _decode(data: bytes) -> str:
    """The document as text, in the encoding its BOM or XML declaration names (else UTF-8);
    gpxpy itself would take any bytes for UTF-8."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    declared = _DECLARED.match(data)
    return data.decode(declared.group(1).decode("ascii") if declared else "utf-8")


def read_gpx(path: Path) -> TrackFile:
    import gpxpy
    import gpxpy.gpx

    data = path.read_bytes()
    try:
        doc = gpxpy.parse(_decode(data))
    except (gpxpy.gpx.GPXException, ValueError, LookupError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise ThetaError(f"{path}: not a readable GPX file ({first})") from None
    points: list[Any] = []
    group: list[int] = []
    segment: list[int] = []
    names: list[str] = []
    tracks = 0
    for ti, trk in enumerate(doc.tracks):
        counted = False
        for si, seg in enumerate(trk.segments):
            if not seg.points:
                continue
            counted = True
            names.append(trk.name or f"track {ti + 1}")
            points.extend(seg.points)
            group.extend([len(names) - 1] * len(seg.points))
            segment.extend([si] * len(seg.points))
        tracks += counted
    if not points:
        raise ThetaError(f"{path}: no track points (waypoints and routes are not denoised)")
    lat = np.array([p.latitude for p in points], dtype=np.float64)
    lon = np.array([p.longitude for p in points], dtype=np.float64)
    check_ranges(str(path), lat, lon, ("latitude", "longitude"))
    time = np.array([_seconds(p.time) for p in points], dtype=np.float64)
    source = GpxSource(path, data, doc, points, np.array(segment, dtype=np.int64), names)
    pts = Points(lat, lon, time, np.array(group, dtype=np.int64), tracks)
    notes = [f"GPX {doc.version or '1.1'}: {tracks} track(s), {len(names)} segment(s)"]
    return TrackFile(path, "gpx", pts, source, notes)


# ---- writing a GPX source back --------------------------------------------------------------


def _trkpt_offsets(data: bytes) -> list[int]:
    """Byte offset of every ``<trkpt`` inside ``<trk><trkseg>``, in document order."""
    import xml.parsers.expat

    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    stack: list[str] = []
    offsets: list[int] = []

    def start(name: str, _attrs: object) -> None:
        local = name.rsplit(" ", 1)[-1]
        if local == "trkpt" and stack[-2:] == ["trk", "trkseg"]:
            offsets.append(parser.CurrentByteIndex)
        stack.append(local)

    def end(_name: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(data, True)
    return offsets


def coord_text(value: float) -> str:
    """Nine decimals (0.1 mm), without trailing zeros."""
    text = f"{value:.9f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _swap_coords(tag: bytes, values: dict[bytes, bytes]) -> tuple[bytes, set[bytes]]:
    """The start tag with its lat/lon attribute values replaced; and which ones it had."""
    seen: set[bytes] = set()
    parts: list[bytes] = []
    pos = 0
    for m in _COORD_ATTR.finditer(tag):
        name = m.group(2)
        if name in seen:  # a repeated attribute is not well-formed XML; leave the tag alone
            return tag, set()
        seen.add(name)
        parts += [tag[pos : m.start()], m.group(1), m.group(3), values[name], m.group(3)]
        pos = m.end()
    parts.append(tag[pos:])
    return b"".join(parts), seen


def _patched(source: GpxSource, out: Denoised) -> bytes | None:
    """The original bytes with changed points' coordinates replaced, or None if not possible."""
    data = source.data
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # no byte-level edits
        return None
    offsets = _trkpt_offsets(data)
    if len(offsets) != len(source.points):
        return None
    pieces: list[bytes] = []
    pos = 0
    for i in np.flatnonzero(out.changed):
        start = offsets[i]
        tag = _START_TAG.match(data, start)
        if tag is None:
            return None
        values = {b"lat": coord_text(out.lat[i]).encode(), b"lon": coord_text(out.lon[i]).encode()}
        new_tag, seen = _swap_coords(tag.group(0), values)
        if seen != {b"lat", b"lon"}:
            return None
        pieces += [data[pos:start], new_tag]
        pos = tag.end()
    pieces.append(data[pos:])
    return b"".join(pieces)


def gpx_bytes(source: GpxSource, out: Denoised) -> bytes:
    """The source document with the new coordinates of the changed track points."""
    patched = _patched(source, out)
    if patched is not None:
        return patched
    logs.get_logger().warning(
        f"{source.path}: could not edit the file in place; re-serialising it with gpxpy "
        "(values are kept, formatting may change)"
    )
    for i, p in enumerate(source.points):
        if out.changed[i]:
            p.latitude, p.longitude = float(out.lat[i]), float(out.lon[i])
    return source.gpx.to_xml(version=source.gpx.version).encode("utf-8")


def flat_columns(source: GpxSource, points: Points, out: Denoised) -> dict[str, Any]:
    """Track points as columns, for CSV/parquet output: track, segment, time, latitude,
    longitude, elevation, then the extensions' leaf values (hr, cad, power, ...)."""
    import pandas as pd

    cols: dict[str, Any] = {
        "track": [source.track_names[g] for g in points.group],
        "segment": source.segment,
        "time": pd.to_datetime(points.time, unit="s", utc=True),
        "latitude": out.lat,
        "longitude": out.lon,
        "elevation": np.array(
            [np.nan if p.elevation is None else p.elevation for p in source.points], dtype=float
        ),
    }
    extra: dict[str, list[Any]] = {}
    for i, p in enumerate(source.points):
        for ext in p.extensions:
            for leaf in ext.iter():
                if len(leaf) or leaf.text is None or not leaf.text.strip():
                    continue
                name = leaf.tag.rsplit("}", 1)[-1]
                name = f"ext_{name}" if name in cols else name
                extra.setdefault(name, [None] * len(source.points))[i] = leaf.text.strip()
    for name, values in extra.items():
        numeric = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
        cols[name] = numeric if numeric.notna().sum() == pd.Series(values).notna().sum() else values
    return cols


# ---- building a GPX document from other sources ---------------------------------------------

ELEVATION_NAMES = ("enhanced_altitude", "altitude", "elevation", "ele", "alt")
TPX_FIELDS = {"hr": ("heart_rate", "hr"), "cad": ("cadence", "cad"),
              "atemp": ("temperature", "atemp")}  # fmt: skip
POWER_NAMES = ("power",)


def _column(columns: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray | None:
    lower = {k.lower(): k for k in columns}
    for n in names:
        if n in lower:
            return columns[lower[n]]
    return None


def build_gpx(
    points: Points,
    out: Denoised,
    track_names: list[str],
    numeric: dict[str, np.ndarray],
    creator: str = "theta denoise",
) -> bytes:
    """A new GPX 1.1 document: one track per group, points in file order (those without
    coordinates are left out: GPX cannot hold them)."""
    import xml.etree.ElementTree as ET

    import gpxpy.gpx

    doc = gpxpy.gpx.GPX()
    doc.creator = creator
    ele = _column(numeric, ELEVATION_NAMES)
    tpx = {tag: _column(numeric, names) for tag, names in TPX_FIELDS.items()}
    tpx = {tag: v for tag, v in tpx.items() if v is not None}
    power = _column(numeric, POWER_NAMES)
    if tpx:
        doc.nsmap["gpxtpx"] = GPXTPX_NS
    segments = []
    for name in track_names:
        trk = gpxpy.gpx.GPXTrack(name=name)
        seg = gpxpy.gpx.GPXTrackSegment()
        trk.segments.append(seg)
        doc.tracks.append(trk)
        segments.append(seg)
    ok = np.isfinite(out.lat) & np.isfinite(out.lon)
    for i in np.flatnonzero(ok):
        t = points.time[i]
        when = dt.datetime.fromtimestamp(t, tz=dt.timezone.utc) if np.isfinite(t) else None
        e = None if ele is None or not np.isfinite(ele[i]) else float(ele[i])
        p = gpxpy.gpx.GPXTrackPoint(float(out.lat[i]), float(out.lon[i]), elevation=e, time=when)
        values = {tag: v[i] for tag, v in tpx.items() if np.isfinite(v[i])}
        if values:
            ext = ET.Element(f"{{{GPXTPX_NS}}}TrackPointExtension")
            for tag, v in values.items():
                ET.SubElement(ext, f"{{{GPXTPX_NS}}}{tag}").text = f"{v:g}"
            p.extensions.append(ext)
        if power is not None and np.isfinite(power[i]):
            pw = ET.Element("power")
            pw.text = f"{power[i]:g}"
            p.extensions.append(pw)
        segments[points.group[i]].points.append(p)
    skipped = int((~ok).sum())
    if skipped:
        logs.get_logger().info(f"{skipped} point(s) without coordinates are not written to GPX")
    doc.tracks = [t for t in doc.tracks if t.segments[0].points]
    return doc.to_xml().encode("utf-8")
