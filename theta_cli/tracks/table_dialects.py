"""How exported tables write their cells, read as degrees and Unix seconds and written back.

The tools tracks come from do not agree on units: hemisphere letters (``49.07N``, ``8.41W``; S
and W negative), FIT semicircles (``position_lat``/``position_long``), epoch seconds or
date-time text, and a date column beside a time-of-day column (read together, so a track that
crosses midnight stays one track). ``table`` finds the columns; this module turns their text
into numbers, and changed coordinates back into the column's own units.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from theta_cli.core.errors import ThetaError

DATE_NAMES = ("date", "utc date", "utc_date", "gps date")  # a date column beside a time of day
SEMICIRCLE_NAMES = ("position_lat", "position_long")  # FIT units: deg = sc * 180 / 2**31
SEMICIRCLE_DEG = 180.0 / 2**31
_HEMISPHERE = {"lat": "NS", "lon": "EW"}
_TIME_OF_DAY = re.compile(r"^\s*(\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?|\d{6}([.]\d+)?)\s*Z?\s*$", re.I)


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


def _hemisphere(column: Any, letters: str) -> np.ndarray | None:
    """``49.07N`` / ``N 49.07`` / ``8.41W`` as signed degrees (S and W negative); None unless
    every non-blank cell is a number with one of ``letters``."""
    import pandas as pd

    text = pd.Series(column.to_pandas(), dtype=object).astype(str).str.strip()
    pattern = rf"^(?:([{letters}])\s*)?([+-]?\d+(?:\.\d*)?)\s*([{letters}])?$"
    parts = text.str.extract(pattern, flags=re.IGNORECASE)
    blank = (text == "").to_numpy()
    letter = parts[0].fillna(parts[2]).str.upper()
    if not (letter.notna().to_numpy() | blank).all() or letter.isna().all():
        return None
    if (parts[0].notna() & parts[2].notna()).any():
        return None
    values = pd.to_numeric(parts[1], errors="coerce").to_numpy(np.float64)
    return np.where((letter == letters[1]).to_numpy(), -values, values)


def column_numbers(path: Path, column: Any, name: str, axis: str | None = None):
    """A column as float64 (text that is not a number becomes NaN: that row passes through),
    and its units: degrees, or hemisphere (letters N/S, E/W) for an ``axis`` (lat, lon)."""
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64), "degrees"
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        values = _parse_floats(column)
        if values is None and axis is not None:
            values = _hemisphere(column, _HEMISPHERE[axis])
            if values is not None:
                return values, "hemisphere"
        if values is None:  # some cells are not numbers: those rows pass through
            values = pd.to_numeric(column.to_pandas(), errors="coerce").to_numpy(np.float64)
        if len(values) and not np.isfinite(values).any():
            raise ThetaError(f"{path}: column {name!r} holds no numbers")
        return values, "degrees"
    raise ThetaError(f"{path}: column {name!r} is not numeric ({column.type})")


def from_semicircles(
    lat_c: str, lon_c: str, lat: np.ndarray, lon: np.ndarray, units: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """Degrees from FIT semicircle columns: only when the columns are FIT's and hold values no
    degree can have, since a FIT export converted to degrees keeps the names."""
    if (lat_c.strip().lower(), lon_c.strip().lower()) == SEMICIRCLE_NAMES:
        finite = np.concatenate([lat[np.isfinite(lat)], lon[np.isfinite(lon)]])
        if finite.size and np.abs(finite).max() > 180.0:  # FIT semicircles, not degrees
            lat, lon = lat * SEMICIRCLE_DEG, lon * SEMICIRCLE_DEG
            units = ("semicircles", "semicircles")
    return lat, lon, units


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
    seconds = _parse_datetimes(text.mask(blank), ("ISO8601", "mixed"))
    if seconds is not None:
        return seconds
    raise ThetaError(f"{path}: column {name!r} is neither numbers (seconds) nor date-times")


def _parse_datetimes(text: Any, formats: tuple[str, ...]) -> np.ndarray | None:
    """Unix seconds of ``text`` (a pandas Series, blanks as NA) in the first of ``formats``
    that parses it whole, or None when none does."""
    import pandas as pd

    for fmt in formats:
        try:
            return _datetime_seconds(pd.to_datetime(text, utc=True, format=fmt))
        except (ValueError, TypeError, OverflowError):
            continue
    return None


def date_column(names: list[str], time_c: str, column: Any) -> str | None:
    """A date column to join ``time_c`` to, when that holds times of day only."""
    import pyarrow as pa

    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    keys = {n.strip().lower(): n for n in reversed(names)}
    date_c = next((keys[d] for d in DATE_NAMES if d in keys and keys[d] != time_c), None)
    if date_c is None:
        return None
    sample = [v for v in column.slice(0, 50).to_pylist() if v and v.strip()]
    return date_c if sample and all(_TIME_OF_DAY.match(v) for v in sample) else None


def date_time_seconds(path: Path, date: Any, time: Any, names: tuple[str, str]) -> np.ndarray:
    """Unix seconds from a date column and a time-of-day column (text), read together: a track
    that crosses midnight stays one track."""
    import pandas as pd

    d = pd.Series(date.to_pandas(), dtype=object).astype(str).str.strip()
    t = pd.Series(time.to_pandas(), dtype=object).astype(str).str.strip().str.rstrip("Zz")
    blank = ((d == "") | (t == "")).to_numpy()
    compact = d.str.fullmatch(r"\d{6}|\d{8}") & t.str.fullmatch(r"\d{6}(\.\d+)?")
    if bool(compact[~blank].all()) and (~blank).any():  # YYMMDD / YYYYMMDD and HHMMSS
        date_fmt = "%y%m%d" if (d[~blank].str.len() == 6).all() else "%Y%m%d"
        seconds = _parse_datetimes(
            (d + t).mask(blank), (f"{date_fmt}%H%M%S", f"{date_fmt}%H%M%S.%f")
        )
        if seconds is not None:
            return seconds
    seconds = _parse_datetimes((d + " " + t).mask(blank), ("ISO8601", "mixed"))
    if seconds is not None:
        return seconds
    raise ThetaError(f"{path}: columns {names[0]!r} and {names[1]!r} are not a date and a time")


# ---- writing back ----------------------------------------------------------------------


def as_written(new: np.ndarray, units: str) -> np.ndarray:
    """Degrees back in the column's own units (semicircles: whole numbers)."""
    if units == "semicircles":
        return np.round(new / SEMICIRCLE_DEG)
    return new


def coordinate_text(
    original: Any, new: np.ndarray, changed: np.ndarray, units: str = "degrees", letters: str = ""
):
    """New values as text where changed, the original text elsewhere (pyarrow string array)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if units == "hemisphere":
        text = pa.array([f"{abs(v)!r}{letters[1] if v < 0 else letters[0]}" if np.isfinite(v)
                         else "" for v in new.tolist()], type=pa.string())  # fmt: skip
        return pc.if_else(pa.array(changed), text, original)
    text = pc.cast(pa.array(as_written(new, units), type=pa.float64()), pa.string())
    return pc.if_else(pa.array(changed), text, original)
