"""What ``bench`` scores and tunes on: whole tracks read from raw pair tables, and the dataset a
model was trained on (its ``state/prepare.json``: raw files and the agents of each split).

A track is one agent's fixes, from every file that holds the agent, in time order (a stable sort,
so equal times keep the files' order). Rows with a non-finite coordinate or time are dropped by
``rawio.read_raw``. Each track is kept twice:

    lat/lon      noisy and clean WGS-84 degrees, all tracks end to end (what ``denoise`` reads
                 and what every method is scored against, with ``latlon_error``)
    ``Track``    local ENU metres about the track's first noisy fix (what the classic smoothers
                 and the tuning take)

A track's identity, for the rule that nothing scored was tuned or trained on, is its agent in
each raw file it came from (``keys``): two data sets that merely reuse agent names (two synth
runs with other seeds) do not collide, the same file read twice does.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from theta_cli.core import jsonfile
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import SPLITS, DatasetLayout
from theta_cli.data.rawio import list_raw_files, read_raw
from theta_cli.eval.trajectory import Track
from theta_cli.tracks.enu import from_enu, to_enu
from theta_cli.tracks.points import Points

#: Synthetic agents are ``<class>_<index>``; other names carry no class.
CLASS_RE = re.compile(r"^(walk|cycle|drive)_\d+$")
CLASSES = ("walk", "cycle", "drive")


def track_class(agent: str) -> str | None:
    m = CLASS_RE.match(agent)
    return m.group(1) if m else None


@dataclass
class BenchTracks:
    """Tracks end to end: track i is rows ``bounds[i]:bounds[i + 1]`` of the flat arrays."""

    label: str  # what they are, for messages and bench.csv ("test split of ...", a path)
    tracks: list[Track]  # ENU about each track's first noisy fix, with clean truth and class
    lat: np.ndarray  # noisy, degrees
    lon: np.ndarray
    clean_lat: np.ndarray
    clean_lon: np.ndarray
    time: np.ndarray  # seconds
    bounds: np.ndarray  # int64 [n_tracks + 1]
    origins: np.ndarray  # [n_tracks, 2]: (lat0, lon0) of each track's ENU frame
    sources: list[tuple[str, ...]]  # per track: the resolved raw files it came from
    dropped: int = 0  # rows read_raw dropped (non-finite values), over all files read
    enu_seconds: float = 0.0  # the to_enu of the noisy fixes (a baseline's share of the input)
    cls: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))  # per point

    @property
    def n_points(self) -> int:
        return len(self.lat)

    @property
    def ids(self) -> list[str]:
        return [tr.id for tr in self.tracks]

    def keys(self) -> list[str]:
        """``agent@file`` for every raw file of every track: what must not be shared."""
        return [f"{tr.id}@{src}" for tr, srcs in zip(self.tracks, self.sources, strict=True)
                for src in srcs]  # fmt: skip

    def points(self) -> Points:
        """The noisy fixes as ``denoise`` reads a file: one group per track."""
        group = np.repeat(np.arange(len(self.tracks), dtype=np.int64), np.diff(self.bounds))
        return Points(self.lat, self.lon, self.time, group, len(self.tracks))

    def to_latlon(self, estimates: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """ENU estimates (one [n, 2] per track, in its frame) back to flat lat/lon arrays."""
        if len(estimates) != len(self.tracks):
            raise ThetaError(f"bench: {len(estimates)} estimates for {len(self.tracks)} tracks")
        if not self.tracks:
            return np.empty(0), np.empty(0)
        xy = np.concatenate(estimates)
        counts = np.diff(self.bounds)
        lat0 = np.repeat(self.origins[:, 0], counts)
        lon0 = np.repeat(self.origins[:, 1], counts)
        return from_enu(xy[:, 0], xy[:, 1], lat0, lon0)

    def to_enu(self, lat: np.ndarray, lon: np.ndarray, i: int) -> np.ndarray:
        """Track i's part of flat lat/lon arrays, in the track's ENU frame."""
        a, b = self.bounds[i], self.bounds[i + 1]
        return to_enu(lat[a:b], lon[a:b], *self.origins[i])


def read_tracks(
    files: Sequence[Path], groups: dict[str, Collection[str]] | None = None, label: str = ""
) -> dict[str, BenchTracks]:
    """Read the raw ``files`` once and return the tracks of each group of agents (``groups``:
    name -> agents; None: every agent, as group "all"). Agents absent from the files are absent
    from the result; the caller decides whether that is an error."""
    want: dict[str, list[str]] | None = None  # agent -> the groups that ask for it
    if groups is not None:
        want = {}
        for g, agents in groups.items():
            for a in agents:
                want.setdefault(str(a), []).append(g)
    parts: dict[str, list[tuple[int, dict[str, np.ndarray]]]] = {}
    dropped = 0
    for fi, path in enumerate(files):
        table = read_raw(path)
        dropped += table.dropped
        for agent, rows in _by_agent(table.agent):
            if want is None or agent in want:
                cols = {k: getattr(table, k)[rows] for k in _COLS}
                parts.setdefault(agent, []).append((fi, cols))
    names = list(groups) if groups is not None else ["all"]
    by_group: dict[str, list[str]] = {g: [] for g in names}
    for agent in sorted(parts):
        for g in want[agent] if want is not None else ["all"]:
            by_group[g].append(agent)
    out = {}
    for g, agents in by_group.items():
        suffix = f" ({g} split)" if groups is not None and label else ""
        out[g] = _assemble(agents, parts, files, f"{label}{suffix}" if label else g, dropped)
    return out


_COLS = ("timestamp", "lat", "lon", "lat_n", "lon_n")


def _by_agent(agent: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(agent, its row indices in file order) for each agent of a file: one hash factorize and
    one stable sort, not a string comparison per agent."""
    import pandas as pd

    codes, uniques = pd.factorize(agent)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return [(str(a), order[bounds[j] : bounds[j + 1]]) for j, a in enumerate(uniques)]


def _assemble(
    agents: list[str],
    parts: dict[str, list[tuple[int, dict[str, np.ndarray]]]],
    files: Sequence[Path],
    label: str,
    dropped: int,
) -> BenchTracks:
    flat_parts: dict[str, list[np.ndarray]] = {k: [] for k in _COLS}
    lengths, sources = [], []
    for agent in agents:
        got = parts[agent]
        t = np.concatenate([c["timestamp"] for _, c in got])
        order = np.argsort(t, kind="stable")
        for k in _COLS:
            flat_parts[k].append(np.concatenate([c[k] for _, c in got])[order])
        lengths.append(len(t))
        sources.append(tuple(sorted({str(Path(files[fi]).resolve()) for fi, _ in got})))
    flat = {k: np.concatenate(v) if v else np.empty(0) for k, v in flat_parts.items()}
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    origins = np.stack([flat["lat_n"][bounds[:-1]], flat["lon_n"][bounds[:-1]]], axis=-1)
    counts = np.diff(bounds)
    lat0 = np.repeat(origins[:, 0], counts)
    lon0 = np.repeat(origins[:, 1], counts)
    start = time.perf_counter()
    noisy = to_enu(flat["lat_n"], flat["lon_n"], lat0, lon0) if agents else np.empty((0, 2))
    enu_s = time.perf_counter() - start
    clean = to_enu(flat["lat"], flat["lon"], lat0, lon0) if agents else np.empty((0, 2))
    tracks = []
    classes = []
    for i, agent in enumerate(agents):
        a, b = bounds[i], bounds[i + 1]
        cls = track_class(agent)
        tracks.append(Track(agent, flat["timestamp"][a:b], noisy[a:b], clean[a:b], cls))
        classes.append(cls)
    cls_pt = np.repeat(np.array(classes, dtype=object), counts)
    return BenchTracks(
        label=label, tracks=tracks, lat=flat["lat_n"], lon=flat["lon_n"], clean_lat=flat["lat"],
        clean_lon=flat["lon"], time=flat["timestamp"], bounds=bounds, origins=origins,
        sources=sources, dropped=dropped, enu_seconds=enu_s, cls=cls_pt,
    )


def read_pairs(path: Path, option: str) -> BenchTracks:
    """Every track of a raw-pairs file or directory (``option`` names it in errors)."""
    if not path.exists():
        raise ThetaError(f"{option} {path}: no such file or directory")
    files = list_raw_files(path)
    got = read_tracks(files, None, str(path))["all"]
    got.label = str(path)
    if not got.tracks:
        raise ThetaError(f"{option} {path}: no usable rows (every row has a non-finite value)")
    return got


# ---- the dataset a model was trained on -------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A prepared dataset as bench needs it: its raw files and the agents of each split."""

    root: Path
    raw_files: tuple[Path, ...]
    splits: dict[str, tuple[str, ...]]

    @property
    def manifest_path(self) -> Path:
        return DatasetLayout(self.root).manifest_path

    def split_label(self, split: str) -> str:
        return f"{split} split of {self.root}"

    def keys(self, splits: Sequence[str]) -> set[str]:
        """``agent@file`` for every agent of ``splits`` in every raw file (a superset of the
        keys of their tracks: an agent's key only counts where a scored track has it too)."""
        files = [str(p.resolve()) for p in self.raw_files]
        return {f"{a}@{f}" for s in splits for a in self.splits.get(s, ()) for f in files}


def _candidates(path: str, bases: Sequence[Path]) -> list[Path]:
    p = Path(path)
    if p.is_absolute():
        return [p]
    return [p] + [b / p for b in bases]


def read_dataset(root: Path) -> Dataset:
    """The dataset at ``root`` from its ``state/prepare.json``; raw file paths are taken as
    written, else relative to the dataset's parent or the dataset itself (a dataset moved
    together with its raw files still works)."""
    manifest = DatasetLayout(root).manifest_path
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ThetaError(f"{manifest}: not a readable prepare manifest ({e})") from None
    data = jsonfile.loads(text, manifest)
    if not isinstance(data, dict) or not isinstance(data.get("splits"), dict):
        raise ThetaError(f"{manifest}: no 'splits' in the prepare manifest")
    raw = data.get("raw_files")
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise ThetaError(f"{manifest}: no 'raw_files' list in the prepare manifest")
    files = []
    for p in raw:
        found = next((c for c in _candidates(p, [root.parent, root]) if c.is_file()), None)
        if found is None:
            raise ThetaError(
                f"{manifest}: raw file {p} not found (moved or deleted?); bench reads the "
                "dataset's tracks from it: give --pairs PATH instead"
            )
        files.append(found)
    splits = {}
    for s in SPLITS:
        agents = (data["splits"].get(s) or {}).get("agents", [])
        if not isinstance(agents, list):
            raise ThetaError(f"{manifest}: splits.{s}.agents is not a list")
        splits[s] = tuple(str(a) for a in agents)
    return Dataset(root, tuple(files), splits)


def find_dataset(train_dir: str, bases: Sequence[Path] = ()) -> Dataset | None:
    """The dataset whose ``processed/train`` is ``train_dir`` (a model config's), looked up as
    written (relative to the working directory) and then relative to each of ``bases``; None
    when none of them has a prepare manifest."""
    for cand in _candidates(os.fspath(train_dir), bases):
        layout = DatasetLayout.of_split_dir(cand)
        if layout.manifest_path.is_file():
            return read_dataset(layout.root.resolve())
    return None
