"""`theta data check`: validate epoch files (and quick_val.pt) before training on them.

The format checks themselves live in :mod:`theta_cli.data.epochfile` (keys, shapes, dtypes, finite
values, K a multiple of 8, t in [0, 1)); this module adds what only a set of files can say
(the same K everywhere) and that an ``is_start`` channel holds only 0 and 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from theta_cli.core.errors import ThetaError
from theta_cli.data.epochfile import XT_CHANNELS


@dataclass(frozen=True)
class KeyStats:
    key: str
    shape: tuple[int, ...]
    dtype: str
    min: float
    max: float
    mean: float


@dataclass(frozen=True)
class FileReport:
    path: Path
    n: int
    k: int
    channels: int
    keys: list[KeyStats]


def epoch_files(target: str | Path) -> list[Path]:
    """``target`` itself if it is a file, else every *.pt below it (recursively, sorted),
    skipping hidden directories (e.g. the build directory of a prepare in progress)."""
    p = Path(target)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise ThetaError(f"{p}: no such file or directory")
    files = sorted(
        f for f in p.rglob("*.pt")
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts[:-1])
    )
    if not files:
        raise ThetaError(f"{p}: no epoch files (*.pt) found")
    return files


_CHANNELS = {("X_t", 4): XT_CHANNELS, ("X_t", 2): ("e", "n"), ("V", 2): ("e", "n")}


def _stats(tensor) -> tuple[float, float, float]:
    return float(tensor.min()), float(tensor.max()), float(tensor.double().mean())


def check_file(path: Path) -> FileReport:
    from theta_cli.data import epochfile

    data, info = epochfile.load(path)
    if info.channels == 4:
        flags = data["X_t"][..., 3]
        if not bool(((flags == 0) | (flags == 1)).all()):
            raise ThetaError(f"{path}: key 'X_t' channel 3 (is_start) holds values other than 0/1")
    keys: list[KeyStats] = []
    for key in epochfile.KEYS:
        tensor = data[key]
        dtype = str(tensor.dtype).replace("torch.", "")
        keys.append(KeyStats(key, tuple(tensor.shape), dtype, *_stats(tensor)))
        # One row per channel: e, n, timestamp and is_start have nothing in common.
        names = _CHANNELS.get((key, int(tensor.shape[-1])), ())
        for c, channel in enumerate(names):
            keys.append(KeyStats(f"  {channel}", (), "", *_stats(tensor[..., c])))
    return FileReport(path, info.n, info.k, info.channels, keys)


def check(
    target: str | Path, on_file: Callable[[FileReport], None] | None = None
) -> list[FileReport]:
    """Validate every epoch file of ``target``; ``on_file`` sees each report as it is made."""
    reports: list[FileReport] = []
    for path in epoch_files(target):
        rep = check_file(path)
        if reports and rep.k != reports[0].k:
            raise ThetaError(
                f"{path}: key 'X_t' has K={rep.k} but {reports[0].path} has K={reports[0].k}"
            )
        reports.append(rep)
        if on_file is not None:
            on_file(rep)
    return reports
