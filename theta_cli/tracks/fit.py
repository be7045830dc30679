"""FIT activity files (read only, with fitdecode): the ``record`` messages as a table.

Each record becomes one row: ``timestamp``, ``latitude`` and ``longitude`` (degrees, from the
semicircles FIT stores), then every other field of the record (heart rate, cadence, power,
altitude, ...) under its FIT name, in the order first seen. Records without a position (before
the first GPS fix, indoors) stay as rows; their points pass through. There is no FIT writer, so
FIT input is written as CSV (default), parquet, GPX or GeoJSON.

As devices write them: record times in "system time" (seconds since power-on, below 0x10000000)
become UTC through the file's ``timestamp_correlation`` message (refused without one); fields
of size 0 are skipped; a file damaged part way keeps the records before the damage, with one
warning (``strict``: refused).
"""

from __future__ import annotations

import datetime as dt
import struct
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
FIT_EPOCH_UNIX = 631_065_600  # 1989-12-31T00:00:00Z
FIT_DATETIME_MIN = 0x10000000  # smaller date_time values are system time (FIT profile)
#: Row key (no FIT field name holds a NUL): index of the latest timestamp_correlation before it.
_CORRELATION = "\0correlation"


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


def _definition_fixer(fitdecode: Any) -> type:
    """fitdecode's reader, tolerant of field sizes that other readers accept: a field of size 0
    (fitdecode asks to read 0 bytes and fails with ``ValueError: size``) is skipped, and a
    developer field smaller than (or not a multiple of) its base type is read as bytes, as
    fitdecode already does for the profile's fields."""
    byte = fitdecode.types.BASE_TYPE_BYTE

    class Reader(fitdecode.FitReader):  # type: ignore[misc]
        def _read_definition_message(self, header_chunk: Any, record_header: Any) -> Any:
            mesg = super()._read_definition_message(header_chunk, record_header)
            for defs in (mesg.field_defs, mesg.dev_field_defs):
                defs[:] = [d for d in defs if d.size > 0]
                for d in defs:
                    if d.base_type.size and d.size % d.base_type.size:
                        d.base_type = byte
            return mesg

    return Reader


def _raw(frame: Any, name: str) -> float | None:
    value = frame.get_value(name, raw_value=True, fallback=None)
    return float(value) if isinstance(value, (int, float)) else None


def _system_offset(frame: Any) -> float | None:
    """Seconds to add to a system time (seconds since power-on) to make it Unix UTC, from a
    ``timestamp_correlation`` message (FIT profile: offset = timestamp - system_timestamp,
    each with its fractional / millisecond part)."""
    utc, system = _raw(frame, "timestamp"), _raw(frame, "system_timestamp")
    if utc is None or system is None or utc < FIT_DATETIME_MIN:
        return None
    utc += ((_raw(frame, "fractional_timestamp") or 0.0) / 32768
            + (_raw(frame, "timestamp_ms") or 0.0) / 1000)  # fmt: skip
    system += ((_raw(frame, "fractional_system_timestamp") or 0.0) / 32768
               + (_raw(frame, "system_timestamp_ms") or 0.0) / 1000)  # fmt: skip
    return FIT_EPOCH_UNIX + utc - system


def _damage(e: Exception, reader: Any, complete: bool) -> tuple[str, bool]:
    """Where (byte offset, if known) and what, as one phrase; and whether every record was read
    (the damage is in the CRC or after the end)."""
    import fitdecode

    offset = getattr(e, "offset", None)
    if offset is None:
        offset = getattr(reader, "_chunk_offset", None)
    body_read = complete or getattr(reader, "_body_bytes_left", None) == 0
    if isinstance(e, fitdecode.FitEOFError):
        reason = (
            "the file CRC is missing" if body_read else
            f"unexpected EOF, the file ends inside a message ({e.got} of {e.expected} bytes)"
        )  # fmt: skip
    elif isinstance(e, fitdecode.FitParseError):
        reason = str(e).split(": ", 1)[-1]
    elif isinstance(e, fitdecode.FitHeaderError) and complete:
        reason = "bytes after the end of the file that are not FIT data"
    else:
        reason = str(e) or type(e).__name__
    where = reason if offset is None else f"byte {offset}: {reason}"
    return where, body_read or isinstance(e, fitdecode.FitCRCError)


def read_fit(path: Path, strict: bool = False) -> TrackFile:
    """The records of ``path``. A file damaged part way (a device that lost power: truncated,
    no CRC, garbage) keeps the records read before the damage, with one warning, unless
    ``strict``: then it is refused."""
    import fitdecode

    rows: list[dict[str, Any]] = []
    names: dict[str, None] = dict.fromkeys(FIXED)
    offsets: list[float] = []
    damage: tuple[str, bool] | None = None
    complete = False  # the last record was followed by the file's CRC
    crc = fitdecode.CrcCheck.RAISE if strict else fitdecode.CrcCheck.WARN
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reader = _definition_fixer(fitdecode)(str(path), check_crc=crc)
        except (fitdecode.FitError, ValueError, OSError) as e:
            raise ThetaError(f"{path}: not a readable FIT file ({e})") from None
        with reader:
            try:
                for frame in reader:
                    complete = isinstance(frame, fitdecode.FitCRC)
                    if not isinstance(frame, fitdecode.FitDataMessage):
                        continue
                    if frame.name == "timestamp_correlation":
                        found = _system_offset(frame)
                        if found is not None:
                            offsets.append(found)
                    if frame.name != "record":
                        continue
                    row: dict[str, Any] = {}
                    for f in frame.fields:
                        if f.name in ("position_lat", "position_long"):
                            key = "latitude" if f.name == "position_lat" else "longitude"
                            row[key] = _degrees(f.value)
                        elif f.name and f.name not in row:
                            row[f.name] = _scalar(f.value)
                            names.setdefault(f.name)
                    row[_CORRELATION] = len(offsets) - 1  # the latest one so far (-1: none yet)
                    rows.append(row)
            except (fitdecode.FitError, ValueError, struct.error) as e:
                # fitdecode's state, read before the reader closes, says where the damage is
                if not rows:
                    raise ThetaError(f"{path}: not a readable FIT file ({e})") from None
                damage = _damage(e, reader, complete)
    if damage is None:  # else the damage line says it all (a garbage CRC, say), in one line
        for w in caught:
            logs.get_logger().warning(f"{path}: {w.message}")
    if not rows:
        raise ThetaError(f"{path}: no record messages (not an activity with positions)")
    _system_time_to_utc(path, rows, offsets)
    columns = {n: [r.get(n) for r in rows] for n in names}
    lat = np.array([np.nan if v is None else v for v in columns["latitude"]], dtype=np.float64)
    lon = np.array([np.nan if v is None else v for v in columns["longitude"]], dtype=np.float64)
    if damage is not None:
        _report_damage(path, damage, len(rows), strict, lat, lon)
    if not (np.isfinite(lat) & np.isfinite(lon)).any():
        raise ThetaError(f"{path}: no GPS positions in its {len(rows)} records")
    check_ranges(str(path), lat, lon, ("latitude", "longitude"))
    time = np.array([_seconds(v) for v in columns["timestamp"]], dtype=np.float64)
    columns["latitude"], columns["longitude"] = list(lat), list(lon)
    points = Points(lat, lon, time, np.zeros(len(rows), dtype=np.int64), 1)
    notes = [f"{len(rows)} records, fields: {', '.join(n for n in names if n not in FIXED)}"]
    return TrackFile(path, "fit", points, FitSource(path, columns), notes)


def _report_damage(
    path: Path, damage: tuple[str, bool], n: int, strict: bool, lat: np.ndarray, lon: np.ndarray
) -> None:
    where, all_read = damage
    fixes = int((np.isfinite(lat) & np.isfinite(lon)).sum())
    if all_read:
        line = f"{path}: damaged after its last record, {n} ({where})"
        kept = f"all {fixes} fixes read"
    else:
        line = f"{path}: damaged after record {n} of the file ({where})"
        kept = f"{fixes} fixes read, the rest lost"
    if strict:
        raise ThetaError(f"{line}; refused (--strict)")
    logs.get_logger().warning(f"{line}; {kept}")


def _system_time_to_utc(path: Path, rows: list[dict[str, Any]], offsets: list[float]) -> None:
    """Record timestamps below 0x10000000 are device "system time" (seconds since power-on;
    fitdecode leaves them as ints): UTC through the file's ``timestamp_correlation``.

    A device re-sends the correlation when its clock is re-synchronised (a long recording, a
    GPS fix regained), so each record takes the latest correlation before it in the file; records
    before the first one take the first."""
    relative = [r for r in rows if isinstance(r.get("timestamp"), (int, float))]
    if relative and not offsets:
        raise ThetaError(
            f"{path}: record times are device system time (seconds since power-on) and the file "
            "has no timestamp_correlation message to turn them into UTC"
        )
    for r in relative:
        offset = offsets[max(r[_CORRELATION], 0)]
        r["timestamp"] = dt.datetime.fromtimestamp(offset + r["timestamp"], dt.timezone.utc)
    for r in rows:
        del r[_CORRELATION]


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
