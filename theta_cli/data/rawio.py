"""Raw pair tables (CSV or parquet): the column contract, listing, reading and validation.

A raw table has one row per fix: ``agent, timestamp, longitude, latitude, longitude_n,
latitude_n``; the plain columns are clean, the ``_n`` columns noisy, rows pair by position.
``timestamp`` is seconds (any epoch) or a date-time; it is kept as float64 seconds.

``agent`` repeats on every row, so readers keep one string per distinct name (pandas
categorical, parquet dictionary) and theta caps the names it makes (``cap_agent_name``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from theta_cli.core.errors import ThetaError

RAW_COLUMNS = ("agent", "timestamp", "longitude", "latitude", "longitude_n", "latitude_n")
COORD_COLUMNS = ("longitude", "latitude", "longitude_n", "latitude_n")
RAW_SUFFIXES = (".parquet", ".csv")
#: Longest agent name theta writes. A name is stored on every row of a raw table: a 10 MB GPX
#: track name made a 50-point track a 500 MB CSV. Longer names are cut rather than refused: the
#: track itself is good data, and its name is only a label.
MAX_AGENT_CHARS = 200
_HASH_CHARS = 12


def cap_agent_name(name: str) -> str:
    """``name``, or for a longer one its start plus ``~`` and a hash of the whole name, in
    ``MAX_AGENT_CHARS`` characters: names that differ only past the cut stay distinct, and the
    same name always gives the same result (same input, same bytes)."""
    if len(name) <= MAX_AGENT_CHARS:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    return f"{name[: MAX_AGENT_CHARS - _HASH_CHARS - 1]}~{digest}"


@dataclass
class RawTable:
    """One raw file's rows with every coordinate and timestamp finite (others dropped)."""

    path: Path
    agent: np.ndarray  # str objects
    timestamp: np.ndarray  # float64 seconds
    lon: np.ndarray
    lat: np.ndarray
    lon_n: np.ndarray
    lat_n: np.ndarray
    dropped: int  # rows removed for a non-finite value

    def __len__(self) -> int:
        return len(self.agent)


def list_raw_files(source: str | Path) -> list[Path]:
    """The raw files of a directory (sorted *.parquet and *.csv), or a single raw file."""
    src = Path(source)
    if src.is_file():
        if src.suffix.lower() not in RAW_SUFFIXES:
            raise ThetaError(f"{src}: not a raw file (expected .parquet or .csv)")
        return [src]
    if not src.is_dir():
        raise ThetaError(f"{src}: raw data directory not found")
    files = sorted(
        p for p in src.iterdir() if p.is_file() and p.suffix.lower() in RAW_SUFFIXES
    )
    if not files:
        raise ThetaError(f"{src}: no raw files (*.parquet, *.csv) in the directory")
    return files


def _read_frame(path: Path):  # -> pandas.DataFrame
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix.lower() == ".parquet":
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowException, OSError) as e:
            raise ThetaError(f"{path}: not a readable parquet file ({_first_line(e)})") from None
        _require_columns(path, names)
        try:
            # Dictionary-read: one string per distinct agent, not one per row (a categorical).
            table = pq.read_table(path, columns=list(RAW_COLUMNS), read_dictionary=["agent"])
            return table.to_pandas()
        except (pa.ArrowException, OSError) as e:
            raise ThetaError(f"{path}: not a readable parquet file ({_first_line(e)})") from None
    try:
        head = pd.read_csv(path, nrows=0)
    except pd.errors.EmptyDataError:
        raise ThetaError(f"{path}: empty file (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as e:
        raise ThetaError(f"{path}: not a readable CSV file ({_first_line(e)})") from None
    _require_columns(path, [str(c).strip() for c in head.columns])
    try:
        frame = pd.read_csv(
            path,
            usecols=lambda c: str(c).strip() in RAW_COLUMNS,
            dtype={"agent": "category"},  # categories are text; one string per distinct name
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as e:
        raise ThetaError(f"{path}: not a readable CSV file ({_first_line(e)})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _first_line(err: BaseException) -> str:
    return ((str(err).strip().splitlines() or [type(err).__name__])[0])[:160]


def _require_columns(path: Path, names: list[str]) -> None:
    missing = [c for c in RAW_COLUMNS if c not in names]
    if missing:
        raise ThetaError(
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(a raw table needs {', '.join(RAW_COLUMNS)})"
        )


def _seconds(path: Path, col) -> np.ndarray:  # col: pandas.Series
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        if getattr(col.dt, "tz", None) is not None:
            col = col.dt.tz_convert("UTC").dt.tz_localize(None)  # naive times are taken as UTC
        ns = col.astype("datetime64[ns]").to_numpy()
        out = ns.astype("int64").astype(np.float64) / 1e9
        out[np.isnat(ns)] = np.nan
        return out
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    # Text in a CSV: date-time strings are accepted, anything else is an error.
    try:
        parsed = pd.to_datetime(col, utc=True, format="mixed")
    except (ValueError, TypeError):
        raise ThetaError(
            f"{path}: column 'timestamp' is neither numbers (seconds) nor date-times"
        ) from None
    return _seconds(path, parsed)


def _agent_names(col) -> np.ndarray:  # col: pandas.Series -> str objects
    """Agent names as text; a categorical's rows share its strings (memory: one per name)."""
    import pandas as pd

    if isinstance(col.dtype, pd.CategoricalDtype):
        names = np.array([str(c) for c in col.cat.categories] + [""], dtype=object)
        return names[col.cat.codes.to_numpy()]  # code -1 (missing) picks "": dropped later
    return col.astype(str).to_numpy(dtype=object)


def read_raw(path: str | Path) -> RawTable:
    """Read and validate one raw file; rows with a non-finite coordinate or time are dropped."""
    import pandas as pd

    p = Path(path)
    frame = _read_frame(p)
    if len(frame) == 0:
        raise ThetaError(f"{p}: no rows")
    cols: dict[str, np.ndarray] = {}
    for name in COORD_COLUMNS:
        col = frame[name]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise ThetaError(f"{p}: column {name!r} is not numeric")
        cols[name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    ts = _seconds(p, frame["timestamp"])
    agent_col = frame["agent"]
    ok = np.isfinite(ts) & agent_col.notna().to_numpy()
    for name in COORD_COLUMNS:
        ok &= np.isfinite(cols[name])
    for name, bound in (("latitude", 90.0), ("latitude_n", 90.0), ("longitude", 180.0),
                        ("longitude_n", 180.0)):
        bad = int((np.abs(cols[name][ok]) > bound).sum())
        if bad:
            raise ThetaError(
                f"{p}: column {name!r} has {bad} value(s) outside [-{bound:g}, {bound:g}] degrees"
            )
    agent = _agent_names(agent_col)
    return RawTable(
        path=p,
        agent=agent[ok],
        timestamp=ts[ok],
        lon=cols["longitude"][ok],
        lat=cols["latitude"][ok],
        lon_n=cols["longitude_n"][ok],
        lat_n=cols["latitude_n"][ok],
        dropped=int((~ok).sum()),
    )
