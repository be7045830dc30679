"""`theta data synth`: realistic raw pairs, so every command works on a machine with no data.

Each agent gets its own random stream ``default_rng([seed, index])`` (its track depends only on
the seed and its index), a travel mode, a clean track (``motion``) and noise (``noise``), in
metres around the centre; pymap3d converts both to latitude/longitude. Agents are spread over
``files`` raw files in contiguous blocks (each agent in exactly one file). Files carry no wall-clock
timestamps or varying metadata, so the same configuration gives byte-identical files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from theta_cli.core import atomic
from theta_cli.data import defaults as D
from theta_cli.data import staging
from theta_cli.data.motion import Track, make_track
from theta_cli.data.noise import NOISE_FILE, NoiseDraw, NoiseModel
from theta_cli.data.rawio import RAW_COLUMNS
from theta_cli.data.rawout import PAIRS_FILE, SYNTH_FILE, check_out, part_name
from theta_cli.tracks.enu import from_enu

#: 2026-01-01T00:00:00Z: agents start within the following day (Unix seconds).
BASE_EPOCH = 1_767_225_600.0
#: SynthConfig fields that synth.json records only when they are not at their default.
LATER_FIELDS = ("sampling", "first_agent")


class SynthConfig(BaseModel):
    """Everything that determines a synthetic dataset (written to synth.json beside it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    agents: int = Field(D.AGENTS, ge=1)
    points: int = Field(D.POINTS, ge=1, description="fixes per agent")
    files: int = Field(D.FILES, ge=1)
    seed: int = D.SEED
    format: Literal["parquet", "csv"] = D.FORMAT
    center_lat: float = Field(D.CENTER_LAT, ge=-89.0, le=89.0)
    center_lon: float = Field(D.CENTER_LON, ge=-180.0, le=180.0)
    radius: float = Field(D.RADIUS_M, ge=0.0, description="agents start within this many metres")
    jitter: float = Field(D.JITTER_S, ge=0.0, le=0.2, description="fix-time jitter std, seconds")
    missing_rate: float = Field(D.MISSING_RATE, ge=0.0, le=0.5, description="fraction lost")
    motion: Literal["curvy", "legs"] = Field(
        D.MOTION, description="curvy: smooth random curvature and speed wander within legs; "
        "legs: the older near-straight legs at constant speed"
    )
    sampling: Literal["regular", "smart", "filled"] = Field(
        "regular", description="regular: 1 Hz with jitter and lost fixes; smart: a fix every "
        "1-8 s (Garmin smart recording; --missing-rate does not apply); filled: smart, with "
        "each step filled to 1 s as theta denoise fills it (training data for uneven sampling)"
    )
    first_agent: int = Field(
        0, ge=0, description="index of the first agent: agents first_agent.. are drawn, so a "
        "second synth set with another first_agent adds new agents (names do not collide)"
    )

    @field_validator("files")
    @classmethod
    def _files_le_agents(cls, files: int, info: ValidationInfo) -> int:
        agents = info.data.get("agents")
        if agents is not None and files > agents:
            raise ValueError(f"{files} files must not exceed agents ({agents})")
        return files


@dataclass
class SynthSummary:
    out: Path
    files: list[Path]
    agents: int
    fixes: int
    modes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    foreign: list[Path] = field(default_factory=list)  # tables in out theta did not write


def agent_draws(
    cfg: SynthConfig, noise: NoiseModel, index: int
) -> tuple[Track, NoiseDraw, np.random.Generator]:
    """Agent ``index``'s clean track and noise, drawn in this order from its own stream, and
    the stream itself for what is drawn after them."""
    rng = np.random.default_rng([cfg.seed, index])
    track = make_track(
        cfg.points, rng, cfg.radius, cfg.jitter, cfg.missing_rate, motion=cfg.motion,
        sampling=cfg.sampling,
    )
    return track, noise.sample(track.times, rng), rng


def agent_frame(cfg: SynthConfig, noise: NoiseModel, index: int) -> tuple[str, dict]:
    """Rows of agent ``index``: its mode and the six raw columns as numpy arrays."""
    track, draw, rng = agent_draws(cfg, noise, index)
    noisy = draw.total
    start = BASE_EPOCH + float(rng.integers(0, 86_400))
    lat_n, lon_n = from_enu(
        track.east + noisy[:, 0], track.north + noisy[:, 1], cfg.center_lat, cfg.center_lon
    )
    if cfg.sampling == "filled":
        times, lat, lon, lat_n, lon_n = filled_rows(cfg, track, lat_n, lon_n)
    else:
        times = track.times
        lat, lon = from_enu(track.east, track.north, cfg.center_lat, cfg.center_lon)
    n = len(times)
    name = f"{track.mode}_{index:04d}"
    cols = {
        "agent": np.full(n, name, dtype=object),
        "timestamp": start + times,
        "longitude": lon,
        "latitude": lat,
        "longitude_n": lon_n,
        "latitude_n": lat_n,
    }
    return track.mode, cols


def filled_rows(
    cfg: SynthConfig, track: Track, lat_n: np.ndarray, lon_n: np.ndarray
) -> tuple[np.ndarray, ...]:
    """A smart-recorded agent as ``theta denoise`` hands it to a 1 s model: every step of n
    seconds gets n - 1 noisy points interpolated into it (``resample.fill_grid``, the very code
    denoise runs), and each row's clean position is the true path at that row's time, so the
    model learns what the straight lines between uneven fixes hide (a curve, a stop)."""
    from theta_cli.tracks.resample import fill_grid

    bounds = np.array([0, len(track.times)], dtype=np.int64)
    grid = fill_grid(lat_n, lon_n, track.times, bounds, 1.0)
    times = grid.key + track.times[0]  # one segment: its keys are its times from the start
    east, north = track.at(times)
    lat, lon = from_enu(east, north, cfg.center_lat, cfg.center_lon)
    return times, lat, lon, grid.lat, grid.lon


def write_table(path: Path, cols: dict[str, np.ndarray], fmt: str) -> None:
    import pandas as pd
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        # Agent names as a dictionary: each distinct name is held once in memory, not per row.
        codes, names = pd.factorize(cols["agent"])
        agent = pa.DictionaryArray.from_arrays(
            pa.array(codes, pa.int32()), pa.array(np.asarray(names, dtype=object), pa.string())
        )
        table = pa.table(
            {"agent": agent} | {c: pa.array(cols[c], type=pa.float64()) for c in RAW_COLUMNS[1:]}
        )
        # A bare table (no Arrow or pandas schema, nothing time-dependent in the footer): the
        # column reads back as plain text, as it always has, for every reader.
        atomic.write_with(
            path, lambda tmp: pq.write_table(table, tmp, compression="zstd", store_schema=False)
        )
    else:
        frame = pd.DataFrame({c: cols[c] for c in RAW_COLUMNS})
        # repr-precision floats: CSV round-trips exactly. Written straight to the file, not
        # built as one string first.
        atomic.write_with(path, lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n"))


def synthesize(
    cfg: SynthConfig,
    out: str | Path,
    noise: NoiseModel | None = None,
    force: bool = False,
    progress=None,  # callable(advance_agents) or None
) -> SynthSummary:
    """Write ``cfg.files`` raw files plus noise_model.json and synth.json into ``out``."""
    noise = noise or NoiseModel()
    dest = Path(out)
    found = check_out(dest, force)
    t0 = time.perf_counter()
    summary = SynthSummary(out=dest, files=[], agents=cfg.agents, fixes=0, foreign=found.foreign)
    bounds = np.linspace(0, cfg.agents, cfg.files + 1).round().astype(int)
    with staging.build_dir(dest) as build:
        for f in range(cfg.files):
            parts = []
            for i in range(cfg.first_agent + bounds[f], cfg.first_agent + bounds[f + 1]):
                mode, cols = agent_frame(cfg, noise, i)
                summary.modes[mode] = summary.modes.get(mode, 0) + 1
                parts.append(cols)
                if progress is not None:
                    progress(1)
            cols = {c: np.concatenate([p[c] for p in parts]) for c in RAW_COLUMNS}
            name = part_name(f, cfg.format)
            write_table(build / name, cols, cfg.format)
            summary.files.append(dest / name)
            summary.fixes += len(cols["agent"])
        atomic.write_json(build / NOISE_FILE, noise.model_dump())
        written = [p.name for p in summary.files]  # what a later --force may replace
        # Fields added after the first release are recorded only when not at their default, so
        # datasets that do not use them stay byte-identical.
        skip = {f for f in LATER_FIELDS if getattr(cfg, f) == SynthConfig.model_fields[f].default}
        record = cfg.model_dump(exclude=skip)
        atomic.write_json(build / SYNTH_FILE, record | {"written_files": written})
        # theta's old raw files go too (with --force), so no stale part is left beside new
        # ones, and a pairs.json that would describe them; tables it did not write stay.
        names = sorted({p.name for p in found.own} | set(written))
        staging.swap_in(build, dest, [*names, NOISE_FILE, SYNTH_FILE, PAIRS_FILE])
    summary.seconds = time.perf_counter() - t0
    return summary
