"""`theta data pairs`: raw pairs from a user's own tracks, noised with the synth noise model.

Synth motion is walking, cycling and driving on synthetic legs and turns; a user's own tracks
(GPX, FIT, CSV, parquet, read by the `theta denoise` readers) teach a model their own kind of
motion. Each input track becomes one agent: its fixes are the clean columns, and ``NoiseModel``
noise, added in ENU metres about the track's first fix, gives the noisy ``_n`` columns. Agent
``i`` draws from ``default_rng([seed, i])``, as in synth, so the same seed gives byte-identical
files.

Fixes with a non-finite coordinate or no time are dropped, tracks are sorted by time (stable)
and a repeated timestamp keeps its first fix; a track left with fewer than 2 fixes is skipped.
Everything is read and checked before anything is written; the files are built in a hidden
directory and swapped in (``staging``), like synth's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from theta_cli.core import atomic
from theta_cli.core.errors import ThetaError
from theta_cli.data import defaults as D
from theta_cli.data import staging
from theta_cli.data.noise import NOISE_FILE, NoiseModel
from theta_cli.data.rawio import RAW_COLUMNS, cap_agent_name
from theta_cli.data.rawout import PAIRS_FILE, SYNTH_FILE, OutDir, check_out, part_name
from theta_cli.data.synth import write_table as write_raw_table
from theta_cli.tracks.enu import from_enu, to_enu
from theta_cli.tracks.table import RAW_NOISY, ColumnNames, TableSource

#: Why a fix is dropped (the names `theta denoise` counts pass-through points by).
DROP_REASONS = ("non_finite", "no_time", "duplicate_time")


class PairsConfig(BaseModel):
    """How the pairs are written (recorded in pairs.json); the noise is a ``NoiseModel``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: int = Field(1, ge=1, description="raw files the agents are spread over")
    seed: int = D.SEED
    format: Literal["parquet", "csv"] = D.FORMAT


@dataclass
class Track:
    """One agent: its usable fixes in time order (Unix seconds, degrees)."""

    agent: str
    time: np.ndarray
    lat: np.ndarray
    lon: np.ndarray


@dataclass
class Source:
    """What one input file gave."""

    path: Path
    kind: str
    tracks: int = 0  # tracks kept as agents
    skipped: int = 0  # tracks with fewer than 2 usable fixes
    fixes: int = 0  # fixes kept


@dataclass
class PairsSummary:
    out: Path
    sources: list[Source]
    files: list[Path] = field(default_factory=list)
    agents: int = 0
    fixes: int = 0
    skipped_tracks: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    seconds: float = 0.0
    foreign: list[Path] = field(default_factory=list)  # tables in out theta did not write
    cut_names: int = 0  # track names over MAX_AGENT_CHARS, cut (cap_agent_name)


def usable_fixes(
    lat: np.ndarray, lon: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, dict[str, int]]:
    """Indices of the fixes kept, in time order, and how many were dropped for each reason."""
    finite = np.isfinite(lat) & np.isfinite(lon)
    has_time = np.isfinite(times)
    keep = np.flatnonzero(finite & has_time)
    keep = keep[np.argsort(times[keep], kind="stable")]  # stable: the file's first fix wins
    t = times[keep]
    dup = np.zeros(len(keep), dtype=bool)
    dup[1:] = t[1:] == t[:-1]
    dropped = {"non_finite": int((~finite).sum()), "no_time": int((finite & ~has_time).sum()),
               "duplicate_time": int(dup.sum())}  # fmt: skip
    return keep[~dup], dropped


def _clean_columns(src: object, columns: ColumnNames) -> ColumnNames | None:
    """For a raw-pairs table the readers pick the noisy ``_n`` columns (what denoise cleans);
    pairs wants the clean ones. The columns to read instead, or None when there is nothing to
    change (not a table, columns named by the user, or no clean columns beside the noisy)."""
    if not isinstance(src, TableSource) or columns.lat is not None or columns.lon is not None:
        return None
    if src.lat_col.strip().lower() != RAW_NOISY[0]:
        return None
    by_key: dict[str, str] = {}
    for name in src.table.column_names:
        by_key.setdefault(str(name).strip().lower(), str(name))
    if "latitude" not in by_key or "longitude" not in by_key:
        return None
    return ColumnNames(by_key["latitude"], by_key["longitude"], src.time_col, src.track_col)


def _unique(label: str, seen: set[str]) -> str:
    name, k = label, 1
    while name in seen:
        k += 1
        name = f"{label}#{k}"
    seen.add(name)
    return name


def read_tracks(
    paths: Sequence[Path], columns: ColumnNames, summary: PairsSummary, strict: bool = False
) -> list[Track]:
    """Every track of every file with 2 or more usable fixes; counts go into ``summary``."""
    from theta_cli.tracks.formats import read_track_file, track_names

    tracks: list[Track] = []
    seen: set[str] = set()
    for path in paths:
        tf = read_track_file(path, columns, strict)
        clean = _clean_columns(tf.source, columns)
        if clean is not None:
            tf = read_track_file(path, clean, strict)
        source = Source(path, tf.kind)
        summary.sources.append(source)
        pts = tf.points
        names = track_names(tf)
        order = np.argsort(pts.group, kind="stable")
        counts = np.bincount(pts.group, minlength=len(names))
        for g, idx in enumerate(np.split(order, np.cumsum(counts)[:-1])):
            keep, dropped = usable_fixes(pts.lat[idx], pts.lon[idx], pts.time[idx])
            for reason, n in dropped.items():
                summary.dropped[reason] += n
            if len(keep) < 2:
                source.skipped += 1
                continue
            # A file with one unnamed track (FIT, a table without a track column) is its stem.
            label = path.stem if names[g] == path.stem else f"{path.stem}:{names[g]}"
            idx = idx[keep]
            # Unique first, then capped: equal long names stay apart by their #k suffix's hash.
            unique = _unique(label, seen)
            agent = cap_agent_name(unique)
            summary.cut_names += agent != unique
            tracks.append(Track(agent, pts.time[idx], pts.lat[idx], pts.lon[idx]))
            source.tracks += 1
            source.fixes += len(idx)
    summary.skipped_tracks = sum(s.skipped for s in summary.sources)
    return tracks


def _wrap_lon(lon: np.ndarray) -> np.ndarray:
    """Longitudes into [-180, 180]; values already there keep their bits."""
    out = lon.copy()
    far = np.abs(out) > 180.0
    out[far] = (out[far] + 180.0) % 360.0 - 180.0
    return out


def noisy_fixes(
    track: Track, noise: NoiseModel, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(latitude_n, longitude_n) of ``track``: noise in ENU metres about its first fix."""
    lat0, lon0 = track.lat[0], track.lon[0]
    d = noise.sample(track.time - track.time[0], rng).total
    enu = to_enu(track.lat, track.lon, lat0, lon0)
    base_lat, base_lon = from_enu(enu[:, 0], enu[:, 1], lat0, lon0)
    moved_lat, moved_lon = from_enu(enu[:, 0] + d[:, 0], enu[:, 1] + d[:, 1], lat0, lon0)
    # Add the displacement of the round trip, not its end point: the clean columns stay the
    # user's own values and zero noise gives noisy == clean bit for bit. Across the
    # antimeridian the two longitudes differ by about 360 and their sum lands back near
    # ``moved_lon``; the wrap only catches a sum that rounding pushes past 180.
    lat_n = track.lat + (moved_lat - base_lat)
    lon_n = _wrap_lon(track.lon + (moved_lon - base_lon))
    return lat_n, lon_n


def file_bounds(sizes: np.ndarray, files: int) -> np.ndarray:
    """Contiguous agent blocks of about equal fixes (prepare reads one file at a time), at
    least one agent per file: block f is agents ``bounds[f]:bounds[f + 1]``."""
    n = len(sizes)
    cum = np.concatenate([[0], np.cumsum(sizes)])  # cum[b]: fixes of agents before b
    bounds = [0]
    for f in range(1, files):
        target = cum[-1] * f / files
        b = int(np.searchsorted(cum, target))  # first cut at or past the target
        if b > 0 and target - cum[b - 1] < cum[b] - target:
            b -= 1  # the cut before it is nearer
        bounds.append(min(max(b, bounds[-1] + 1), n - (files - f)))
    bounds.append(n)
    return np.asarray(bounds)


def _check_out(dest: Path, inputs: Sequence[Path], force: bool) -> OutDir:
    """The raw files ``dest`` holds now (theta's replaced with ``force``); refusals before any
    read."""
    found = check_out(dest, force)
    replaced = {p.resolve() for p in found.own}
    for p in inputs:
        if p.resolve() in replaced:
            raise ThetaError(f"{p}: an input is a raw file in --out, which this run replaces")
    return found


def _record(summary: PairsSummary, cfg: PairsConfig, columns: ColumnNames) -> dict:
    """pairs.json: where the pairs came from and what was kept (no clock time: same bytes)."""
    given = {k: v for k, v in vars(columns).items() if v is not None}
    return {
        "config": cfg.model_dump(),
        "columns": given,
        "sources": [{"path": str(s.path), "format": s.kind, "tracks": s.tracks,
                     "skipped_tracks": s.skipped, "fixes": s.fixes} for s in summary.sources],
        "agents": summary.agents,
        "fixes": summary.fixes,
        "skipped_tracks": summary.skipped_tracks,
        "dropped_fixes": summary.dropped,
        "files": [p.name for p in summary.files],
    }  # fmt: skip


def make_pairs(
    inputs: Sequence[Path],
    out: str | Path,
    cfg: PairsConfig,
    noise: NoiseModel | None = None,
    columns: ColumnNames | None = None,
    force: bool = False,
    strict: bool = False,
) -> PairsSummary:
    """Read track files or directories ``inputs``; write raw pairs, noise_model.json and
    pairs.json into ``out``. Bad input raises ThetaError before anything is written."""
    from theta_cli.tracks.formats import expand_inputs

    noise = noise or NoiseModel()
    columns = columns or ColumnNames()
    t0 = time.perf_counter()
    dest = Path(out)
    paths, _ = expand_inputs(list(inputs))
    found = _check_out(dest, paths, force)
    summary = PairsSummary(out=dest, sources=[], foreign=found.foreign)
    tracks = read_tracks(paths, columns, summary, strict)
    if not tracks:
        raise ThetaError(
            f"no track with 2 or more usable fixes in {len(paths)} file(s) "
            f"(dropped: {', '.join(f'{k} {v}' for k, v in summary.dropped.items())})"
        )
    if cfg.files > len(tracks):
        raise ThetaError(f"--files {cfg.files}: must not exceed the tracks found ({len(tracks)})")
    bounds = file_bounds(np.array([len(t.time) for t in tracks]), cfg.files)
    with staging.build_dir(dest) as build:
        for f in range(cfg.files):
            parts = []
            for i in range(bounds[f], bounds[f + 1]):
                tr = tracks[i]
                lat_n, lon_n = noisy_fixes(tr, noise, np.random.default_rng([cfg.seed, i]))
                parts.append({"agent": np.full(len(tr.time), tr.agent, dtype=object),
                              "timestamp": tr.time, "longitude": tr.lon, "latitude": tr.lat,
                              "longitude_n": lon_n, "latitude_n": lat_n})  # fmt: skip
            cols = {c: np.concatenate([p[c] for p in parts]) for c in RAW_COLUMNS}
            name = part_name(f, cfg.format)
            write_raw_table(build / name, cols, cfg.format)
            summary.files.append(dest / name)
            summary.fixes += len(cols["agent"])
        summary.agents = len(tracks)
        atomic.write_json(build / NOISE_FILE, noise.model_dump())
        atomic.write_json(build / PAIRS_FILE, _record(summary, cfg, columns))
        # theta's old raw files go too (with --force), and a synth.json that would describe
        # them; tables it did not write stay. pairs.json lists what this run wrote.
        names = sorted({p.name for p in found.own} | {p.name for p in summary.files})
        staging.swap_in(build, dest, [*names, NOISE_FILE, PAIRS_FILE, SYNTH_FILE])
    summary.seconds = time.perf_counter() - t0
    return summary
