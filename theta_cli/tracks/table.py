"""CSV and parquet tracks (pyarrow): column detection, reading, and writing back in place.

A CSV is read with every column as text, so the columns theta does not change are written back
exactly as they were (only quoting may be normalised); the latitude and longitude columns get
the new values, and rows that passed through keep their original text. A parquet table keeps
its types and schema; the coordinate columns become float64.

A raw-pairs table (``latitude_n``/``longitude_n`` beside clean ``latitude``/``longitude``) is
denoised from its noisy ``_n`` columns, which are the ones replaced; the clean columns stay, so
the output can be scored.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from theta_cli.core import atomic
from theta_cli.core.errors import ThetaError
from theta_cli.tracks.points import Denoised, Points, TrackFile, check_ranges

LAT_NAMES = ("latitude", "lat")
LON_NAMES = ("longitude", "lon", "lng", "long")
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


def _first_line(err: BaseException) -> str:
    return ((str(err).strip().splitlines() or [type(err).__name__])[0])[:160]


def _refuse_duplicates(path: Path, names: list[str]) -> None:
    """Two columns of one name: which holds the coordinates cannot be told, Arrow refuses to
    look either up, and parquet written with both cannot be read back."""
    dups = [n for n, count in Counter(names).items() if count > 1]
    if dups:
        listed = ", ".join(repr(n) for n in dups)
        raise ThetaError(f"{path}: duplicate column name(s) {listed}; rename them")


def _read_csv(path: Path):  # -> pyarrow.Table of strings
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except (UnicodeDecodeError, csv.Error) as e:
        raise ThetaError(f"{path}: not a readable CSV file ({_first_line(e)})") from None
    if not header:
        raise ThetaError(f"{path}: empty file (no header, no rows)")
    _refuse_duplicates(path, header)
    try:
        return pcsv.read_csv(
            path,
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, OSError, UnicodeDecodeError) as e:
        raise ThetaError(f"{path}: not a readable CSV file ({_first_line(e)})") from None


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


def _parse_floats(column: Any) -> np.ndarray | None:
    """Text as float64 with Arrow's parser (blank cells become NaN); None if any other cell is
    not a number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(column)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        values = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def _numbers(path: Path, column: Any, name: str) -> np.ndarray:
    """A column as float64 (text that is not a number becomes NaN: that row passes through)."""
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        values = _parse_floats(column)
        if values is None:  # some cells are not numbers: those rows pass through
            values = pd.to_numeric(column.to_pandas(), errors="coerce").to_numpy(np.float64)
        if len(values) and not np.isfinite(values).any():
            raise ThetaError(f"{path}: column {name!r} holds no numbers")
        return values
    raise ThetaError(f"{path}: column {name!r} is not numeric ({column.type})")


def _datetime_seconds(values: Any) -> np.ndarray:  # values: pandas datetime Series (UTC)
    ns = values.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").to_numpy()
    out = ns.astype("int64").astype(np.float64) / 1e9
    out[np.isnat(ns)] = np.nan
    return out


def seconds(path: Path, column: Any, name: str) -> np.ndarray:
    """Unix seconds from epoch-second numbers, date-time text or a timestamp column."""
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        series = pd.Series(column.to_pandas())
        series = pd.to_datetime(series, utc=True)  # naive times are taken as UTC
        return _datetime_seconds(series)
    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        return column.to_numpy(zero_copy_only=False).astype(np.float64)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise ThetaError(f"{path}: column {name!r} is neither seconds nor date-times")
    numbers = _parse_floats(column)
    if numbers is not None:
        return numbers
    text = column.to_pandas()
    blank = (text.str.strip() == "").to_numpy()
    text = text.mask(blank)
    for fmt in ("ISO8601", "mixed"):
        try:
            return _datetime_seconds(pd.to_datetime(text, utc=True, format=fmt))
        except (ValueError, TypeError, OverflowError):
            continue
    raise ThetaError(f"{path}: column {name!r} is neither numbers (seconds) nor date-times")


def read_table(path: Path, kind: str, cols: ColumnNames) -> TrackFile:
    """Read a CSV or parquet track table."""
    import pandas as pd

    table = _read_csv(path) if kind == "csv" else _read_parquet(path)
    names = [str(n) for n in table.column_names]
    lat_c, lon_c, time_c, track_c = detect_columns(path, names, cols)
    if table.num_rows == 0:
        raise ThetaError(f"{path}: no rows")
    lat = _numbers(path, table.column(lat_c), lat_c)
    lon = _numbers(path, table.column(lon_c), lon_c)
    check_ranges(str(path), lat, lon, (f"column {lat_c!r}", f"column {lon_c!r}"))
    time = seconds(path, table.column(time_c), time_c)
    if track_c is None:
        group = np.zeros(table.num_rows, dtype=np.int64)
        names_of_tracks = [path.stem]
    else:
        codes, uniques = pd.factorize(table.column(track_c).to_pandas(), use_na_sentinel=False)
        group = np.asarray(codes, dtype=np.int64)
        names_of_tracks = [str(u) for u in uniques]
    track_text = f"track {track_c!r}" if track_c else "no track column (one track)"
    notes = [f"columns: latitude {lat_c!r}, longitude {lon_c!r}, time {time_c!r}, {track_text}"]
    if lat_c.strip().lower() == RAW_NOISY[0]:
        notes.append("raw pairs: denoising the noisy _n columns; the clean columns are kept")
    source = TableSource(path, kind, table, lat_c, lon_c, time_c, track_c, names_of_tracks)
    points = Points(lat, lon, time, group, len(names_of_tracks))
    return TrackFile(path, kind, points, source, notes)


# ---- writing --------------------------------------------------------------------------------


def _coordinate_text(original: Any, new: np.ndarray, changed: np.ndarray):
    """New values as text where changed, the original text elsewhere (pyarrow string array)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(new, type=pa.float64()), pa.string())
    return pc.if_else(pa.array(changed), text, original)


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
            table = pcsv.read_csv(source.path)
        except (pa.ArrowException, OSError) as e:
            raise ThetaError(f"{source.path}: not a readable CSV file ({_first_line(e)})") from None
    for name, new in ((source.lat_col, out.lat), (source.lon_col, out.lon)):
        i = table.column_names.index(name)
        if text:
            column = _coordinate_text(table.column(i).combine_chunks(), new, out.changed)
        else:
            column = pa.array(new, type=pa.float64())
        table = table.set_column(i, pa.field(name, column.type), column)
    return table


def write_csv(path: Path, table: Any) -> None:
    """Write a table as CSV atomically: minimal quoting, header first, "\\n" line ends."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
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
        frame.to_csv(tmp, index=False, lineterminator="\n")

    atomic.write_with(path, writer)


def write_parquet(path: Path, table: Any) -> None:
    import pyarrow.parquet as pq

    atomic.write_with(path, lambda tmp: pq.write_table(table, tmp))


def write_table(path: Path, table: Any, fmt: str) -> None:
    if fmt == "csv":
        write_csv(path, table)
    elif fmt == "parquet":
        write_parquet(path, table)
    else:  # pragma: no cover - callers dispatch on the format
        raise ValueError(fmt)
