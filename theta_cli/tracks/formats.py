"""Reading any supported track file, and writing a denoised one in any output format.

Input formats come from the file suffix: .gpx, .fit, .csv, .parquet (.pq), .geojson; a directory
given as input stands for its track files (:func:`expand_inputs`). Output formats are gpx, csv,
parquet and geojson. Writing in the input's own format keeps everything but the changed
coordinates (see the format modules); other combinations convert.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from theta_cli.core import atomic
from theta_cli.core.errors import ThetaError
from theta_cli.tracks import fit, geojson, gpx, sniff, table
from theta_cli.tracks.points import Denoised, TrackFile
from theta_cli.tracks.table import ColumnNames

INPUT_FORMATS = {".gpx": "gpx", ".fit": "fit", ".csv": "csv", ".parquet": "parquet",
                 ".pq": "parquet", ".geojson": "geojson"}  # fmt: skip
OUTPUT_FORMATS = ("gpx", "csv", "parquet", "geojson")
OUTPUT_SUFFIX = {"gpx": ".gpx", "csv": ".csv", "parquet": ".parquet", "geojson": ".geojson"}
OUTPUT_BY_SUFFIX = {**{v: k for k, v in OUTPUT_SUFFIX.items()}, ".pq": "parquet",
                    ".json": "geojson"}  # fmt: skip


def input_format(path: Path) -> str:
    fmt = INPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ThetaError(
            f"{path}: unknown format {path.suffix or '(no suffix)'} "
            f"(expected {', '.join(INPUT_FORMATS)})"
        )
    return fmt


def expand_inputs(paths: Sequence[Path]) -> tuple[list[Path], bool]:
    """Input files (a directory stands for its track files, sorted); and whether any input was
    a directory."""
    files: list[Path] = []
    any_dir = False
    for p in paths:
        if p.is_dir():
            any_dir = True
            found = sorted(
                c for c in p.iterdir() if c.is_file() and c.suffix.lower() in INPUT_FORMATS
            )
            if not found:
                raise ThetaError(f"{p}: no track files ({', '.join(INPUT_FORMATS)}) in directory")
            files.extend(found)
        elif not p.exists():
            raise ThetaError(f"{p}: no such file")
        else:
            input_format(p)
            files.append(p)
    if not files:
        raise ThetaError("no input files given")
    return files, any_dir


def default_output_format(in_format: str) -> str:
    """The input's own format; FIT (read only) becomes CSV."""
    return "csv" if in_format == "fit" else in_format


def read_track_file(
    path: Path, columns: ColumnNames | None = None, strict: bool = False
) -> TrackFile:
    """Parse one input file; bad input raises ThetaError naming the file."""
    kind = input_format(path)
    if not path.is_file():
        raise ThetaError(f"{path}: no such file")
    sniff.check(path, kind)  # a file that cannot be its format never reaches a parser
    if kind == "gpx":
        return gpx.read_gpx(path)
    if kind == "fit":
        return fit.read_fit(path, strict)
    if kind == "geojson":
        return geojson.read_geojson(path)
    return table.read_table(path, kind, columns or ColumnNames())


def track_names(tf: TrackFile) -> list[str]:
    """A display name per point group (GPX track name, table track id, file name)."""
    names = getattr(tf.source, "track_names", None)
    return list(names) if names is not None else [tf.path.stem]


def _numeric_columns(tf: TrackFile, wanted: set[str]) -> dict[str, np.ndarray]:
    """Columns named in ``wanted`` (lower case) as float arrays, for building a GPX."""
    import pandas as pd

    out: dict[str, np.ndarray] = {}
    if isinstance(tf.source, fit.FitSource):
        items: Any = tf.source.columns.items()
    elif isinstance(tf.source, table.TableSource):
        items = ((n, tf.source.table.column(n).to_pandas()) for n in tf.source.table.column_names
                 if n.strip().lower() in wanted)  # fmt: skip
    else:
        return out
    for name, values in items:
        if name.strip().lower() in wanted:
            series = pd.to_numeric(pd.Series(values), errors="coerce")
            out[name.strip()] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def output_table(tf: TrackFile, out: Denoised, typed: bool):  # -> pyarrow.Table
    import pandas as pd
    import pyarrow as pa

    if isinstance(tf.source, table.TableSource):
        return table.replaced(tf.source, out, typed=typed)
    if isinstance(tf.source, fit.FitSource):
        return fit.table(tf.source, out)
    if isinstance(tf.source, geojson.GeojsonSource):
        cols = geojson.flat_columns(tf.source, tf.points, out)
        return pa.Table.from_pandas(pd.DataFrame(cols), preserve_index=False)
    cols = gpx.flat_columns(tf.source, tf.points, out)
    return pa.Table.from_pandas(pd.DataFrame(cols), preserve_index=False)


def write_track_file(
    tf: TrackFile, out: Denoised, path: Path, fmt: str, max_gap_s: float
) -> None:
    """Write ``tf`` with the new coordinates to ``path`` as ``fmt``, atomically."""
    if fmt == "gpx":
        if isinstance(tf.source, gpx.GpxSource):
            data = gpx.gpx_bytes(tf.source, out)
        else:
            wanted = {n for names in gpx.TPX_FIELDS.values() for n in names}
            wanted |= set(gpx.ELEVATION_NAMES) | set(gpx.POWER_NAMES)
            data = gpx.build_gpx(tf.points, out, track_names(tf), _numeric_columns(tf, wanted))
        atomic.write_bytes(path, data)
    elif fmt in ("csv", "parquet"):
        preamble = getattr(tf.source, "preamble", b"") if fmt == "csv" else b""
        table.write_table(path, output_table(tf, out, typed=fmt == "parquet"), fmt, preamble)
    elif fmt == "geojson" and isinstance(tf.source, geojson.GeojsonSource):
        atomic.write_text(path, geojson.geojson_in_place(tf.source, out))
    elif fmt == "geojson":
        text = geojson.geojson_text(tf.points, out, track_names(tf), max_gap_s, tf.path.name)
        atomic.write_text(path, text)
    else:
        raise ThetaError(f"--format {fmt}: expected one of {', '.join(OUTPUT_FORMATS)}")
