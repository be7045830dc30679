"""CSV and parquet tracks (pyarrow): column detection, reading, and writing back in place.

A CSV is read with every column as text, so the columns theta does not change are written back
exactly as they were (only quoting may be normalised); the latitude and longitude columns get
the new values, and rows that passed through keep their original text. A parquet table keeps
its types and schema; the coordinate columns become float64.

A raw-pairs table (``latitude_n``/``longitude_n`` beside clean ``latitude``/``longitude``) is
denoised from its noisy ``_n`` columns, which are the ones replaced; the clean columns stay, so
the output can be scored.

Exported CSVs are read as the tools they come from write them: "#" comment lines (and blank
lines) before the header are skipped and written back; a header ending in a comma the rows do
not have is read without it. The cells' dialects (hemisphere letters, FIT semicircles, a date
column beside a time of day) are ``table_dialects``'.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from theta_cli.core import atomic
from theta_cli.core.errors import ThetaError
from theta_cli.tracks.points import Denoised, Points, TrackFile, check_ranges
from theta_cli.tracks.table_dialects import (
    as_written,
    column_numbers,
    coordinate_text,
    date_column,
    date_time_seconds,
    from_semicircles,
    seconds,
)

LAT_NAMES = ("latitude", "lat", "latitude n/s", "lat n/s", "position_lat")
LON_NAMES = ("longitude", "lon", "lng", "long", "longitude e/w", "lon e/w", "position_long")
TIME_NAMES = ("timestamp", "time", "datetime", "date_time")
TRACK_NAMES = ("track_id", "track", "agent", "agent_id", "trip_id", "vehicle_id", "id")
RAW_NOISY = ("latitude_n", "longitude_n")


@dataclass(frozen=True)
class ColumnNames:
    """User overrides (``--lat-col`` ...); None means detect."""

    lat: str | None = None
    lon: str | None = None
    time: str | None = None
    track: str | None = None


@dataclass
class TableSource:
    """A table as read (CSV: all text; parquet: typed) and the columns theta uses."""

    path: Path
    kind: str  # csv | parquet
    table: Any  # pyarrow.Table
    lat_col: str
    lon_col: str
    time_col: str
    track_col: str | None
    track_names: list[str]  # per group: the track id as text (or the file name: one track)
    date_col: str | None = None  # a date column the time of day in time_col is joined to
    units: tuple[str, str] = ("degrees", "degrees")  # lat/lon as written: or hemisphere/semicircles
    preamble: bytes = b""  # "#" comment lines before the header, written back before it
    column_names: list[str] | None = None  # names given to Arrow (a header's trailing comma)


def _first_line(err: BaseException) -> str:
    return ((str(err).strip().splitlines() or [type(err).__name__])[0])[:160]


def _refuse_duplicates(path: Path, names: list[str]) -> None:
    """Two columns of one name: which holds the coordinates cannot be told, Arrow refuses to
    look either up, and parquet written with both cannot be read back."""
    dups = [n for n, count in Counter(names).items() if count > 1]
    if dups:
        listed = ", ".join(repr(n) for n in dups)
        raise ThetaError(f"{path}: duplicate column name(s) {listed}; rename them")


def _scan_csv(path: Path) -> tuple[int, list[str] | None, list[str] | None]:
    """(bytes of "#" comment and blank lines before the header, the header, the first data
    row); None where there is none."""
    offset = 0
    with open(path, "rb") as fh:
        while True:
            line = fh.readline()
            body = line.removeprefix(b"\xef\xbb\xbf") if offset == 0 else line
            if not line or not (body.strip() == b"" or body.lstrip().startswith(b"#")):
                break
            offset += len(line)
        fh.seek(offset)
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
        rows = csv.reader(text)
        header = next(rows, None)
        first = next((r for r in rows if r), None)
    return offset, header, first


def _csv_read_options(names: list[str] | None):
    import pyarrow.csv as pcsv

    if names is None:
        return pcsv.ReadOptions()
    return pcsv.ReadOptions(column_names=names, skip_rows=1)


def _read_csv(path: Path):  # -> (pyarrow.Table of strings, preamble, column names or None)
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        offset, header, first = _scan_csv(path)
    except (UnicodeDecodeError, csv.Error) as e:
        raise ThetaError(f"{path}: not a readable CSV file ({_first_line(e)})") from None
    if not header:
        raise ThetaError(f"{path}: empty file (no header, no rows)")
    names = None
    if len(header) > 1 and not header[-1].strip() and first is not None \
            and len(first) == len(header) - 1:  # "a,b,c," over "1,2,3": the comma ends the header
        header = names = header[:-1]
    _refuse_duplicates(path, header)
    if first is None:
        raise ThetaError(f"{path}: no rows")
    try:
        with open(path, "rb") as fh:
            preamble = fh.read(offset)
            table = pcsv.read_csv(
                fh,
                read_options=_csv_read_options(names),
                convert_options=pcsv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
    except (pa.ArrowException, OSError, UnicodeDecodeError) as e:
        raise ThetaError(f"{path}: not a readable CSV file ({_first_line(e)})") from None
    return table, preamble.removeprefix(b"\xef\xbb\xbf"), names


def _read_parquet(path: Path):  # -> pyarrow.Table
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        _refuse_duplicates(path, list(pq.read_schema(path).names))  # the footer only
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise ThetaError(f"{path}: not a readable parquet file ({_first_line(e)})") from None


def _pick(path: Path, names: list[str], override: str | None, option: str, wanted: tuple[str, ...]):
    if override is not None:
        if override in names:
            return override
        stripped = [n for n in names if n.strip() == override.strip()]
        if stripped:
            return stripped[0]
        raise ThetaError(
            f"{option} {override}: no such column in {path} (columns: {', '.join(names)})"
        )
    by_key = {}
    for n in names:
        by_key.setdefault(n.strip().lower(), n)
    for w in wanted:
        if w in by_key:
            return by_key[w]
    return None


def detect_columns(
    path: Path, names: list[str], cols: ColumnNames
) -> tuple[str, str, str, str | None]:
    """(lat, lon, time, track) column names; refuses a table without the first three."""
    lat_names, lon_names = LAT_NAMES, LON_NAMES
    keys = {n.strip().lower() for n in names}
    if cols.lat is None and cols.lon is None and set(RAW_NOISY) <= keys:
        lat_names, lon_names = (RAW_NOISY[0],), (RAW_NOISY[1],)
    lat = _pick(path, names, cols.lat, "--lat-col", lat_names)
    lon = _pick(path, names, cols.lon, "--lon-col", lon_names)
    tim = _pick(path, names, cols.time, "--time-col", TIME_NAMES)
    track = _pick(path, names, cols.track, "--track-col", TRACK_NAMES)
    found = (("latitude", lat), ("longitude", lon), ("time", tim))
    missing = [what for what, c in found if c is None]
    if missing:
        raise ThetaError(
            f"{path}: no {'/'.join(missing)} column recognised (columns: {', '.join(names)}); "
            "name them with --lat-col, --lon-col, --time-col"
        )
    return lat, lon, tim, track


def read_table(path: Path, kind: str, cols: ColumnNames) -> TrackFile:
    """Read a CSV or parquet track table."""
    import pandas as pd

    preamble, given_names = b"", None
    if kind == "csv":
        table, preamble, given_names = _read_csv(path)
    else:
        table = _read_parquet(path)
    names = [str(n) for n in table.column_names]
    lat_c, lon_c, time_c, track_c = detect_columns(path, names, cols)
    if table.num_rows == 0:
        raise ThetaError(f"{path}: no rows")
    lat, lat_units = column_numbers(path, table.column(lat_c), lat_c, "lat")
    lon, lon_units = column_numbers(path, table.column(lon_c), lon_c, "lon")
    lat, lon, units = from_semicircles(lat_c, lon_c, lat, lon, (lat_units, lon_units))
    check_ranges(str(path), lat, lon, (f"column {lat_c!r}", f"column {lon_c!r}"))
    date_c = date_column(names, time_c, table.column(time_c))
    if date_c is None:
        time = seconds(path, table.column(time_c), time_c)
    else:
        time = date_time_seconds(path, table.column(date_c), table.column(time_c), (date_c, time_c))
    if track_c is None:
        group = np.zeros(table.num_rows, dtype=np.int64)
        names_of_tracks = [path.stem]
    else:
        codes, uniques = pd.factorize(table.column(track_c).to_pandas(), use_na_sentinel=False)
        group = np.asarray(codes, dtype=np.int64)
        names_of_tracks = [str(u) for u in uniques]
    track_text = f"track {track_c!r}" if track_c else "no track column (one track)"
    time_text = f"time {time_c!r}" if date_c is None else f"time {date_c!r} + {time_c!r}"
    notes = [f"columns: latitude {lat_c!r}, longitude {lon_c!r}, {time_text}, {track_text}"]
    if units != ("degrees", "degrees"):
        notes.append(f"coordinates written as {units[0]}: read as degrees, written back as read")
    if preamble:
        notes.append("comment lines before the header: skipped, and written back")
    if given_names is not None:
        notes.append("the header ends in a comma the rows do not have: read without it")
    if lat_c.strip().lower() == RAW_NOISY[0]:
        notes.append("raw pairs: denoising the noisy _n columns; the clean columns are kept")
    source = TableSource(path, kind, table, lat_c, lon_c, time_c, track_c, names_of_tracks,
                         date_c, units, preamble, given_names)  # fmt: skip
    points = Points(lat, lon, time, group, len(names_of_tracks))
    return TrackFile(path, kind, points, source, notes)


# ---- writing --------------------------------------------------------------------------------


def replaced(source: TableSource, out: Denoised, typed: bool):  # -> pyarrow.Table
    """The source table with its coordinate columns replaced.

    ``typed``: for a CSV source, re-read it with inferred types (for parquet output); else a
    CSV stays text and its unchanged rows keep their original text.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    table = source.table
    text = source.kind == "csv" and not typed
    if source.kind == "csv" and typed:
        try:
            with open(source.path, "rb") as fh:
                fh.seek(len(source.preamble) + (3 if fh.read(3) == b"\xef\xbb\xbf" else 0)
                        if source.preamble else 0)  # fmt: skip
                table = pcsv.read_csv(fh, read_options=_csv_read_options(source.column_names))
        except (pa.ArrowException, OSError) as e:
            raise ThetaError(f"{source.path}: not a readable CSV file ({_first_line(e)})") from None
    coords = ((source.lat_col, out.lat, source.units[0], "NS"),
              (source.lon_col, out.lon, source.units[1], "EW"))  # fmt: skip
    for name, new, units, letters in coords:
        i = table.column_names.index(name)
        if text:
            column = coordinate_text(table.column(i).combine_chunks(), new, out.changed, units,
                                      letters)  # fmt: skip
        else:  # typed: hemisphere letters become signed degrees; semicircles stay semicircles
            column = pa.array(as_written(new, units), type=pa.float64())
        table = table.set_column(i, pa.field(name, column.type), column)
    return table


def write_csv(path: Path, table: Any, preamble: bytes = b"") -> None:
    """Write a table as CSV atomically: minimal quoting, header first (after ``preamble``, the
    input's comment lines), "\\n" line ends."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(preamble)
            fh.write(atomic.csv_line(table.column_names).encode("utf-8"))
            try:
                # Fast path: nothing to quote. Arrow refuses (rather than mis-writes) otherwise.
                pcsv.write_csv(
                    table, fh,
                    write_options=pcsv.WriteOptions(include_header=False, quoting_style="none"),
                )
                return
            except pa.ArrowInvalid:
                fh.seek(0)
                fh.truncate()
        frame = table.to_pandas()
        with open(tmp, "wb") as fh:
            fh.write(preamble)
            frame.to_csv(fh, index=False, lineterminator="\n", encoding="utf-8")

    atomic.write_with(path, writer)


def write_parquet(path: Path, table: Any) -> None:
    import pyarrow.parquet as pq

    atomic.write_with(path, lambda tmp: pq.write_table(table, tmp))


def write_table(path: Path, table: Any, fmt: str, preamble: bytes = b"") -> None:
    if fmt == "csv":
        write_csv(path, table, preamble)
    elif fmt == "parquet":
        write_parquet(path, table)
    else:  # pragma: no cover - callers dispatch on the format
        raise ValueError(fmt)
