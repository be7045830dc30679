"""Crash-safe writes: temporary file in the same directory, fsync, rename, fsync the directory.

A reader (or a crash at any instant) sees either the old file or the new one, never a mix.
Every file that matters in a run goes through here: checkpoints, config.json, CSV logs, charts.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from theta_cli.core.errors import DiskFull, ThetaError
from theta_cli.core.textfile import read_text

# Read once at import (single-threaded then): os.umask can only be read by setting it.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _new_file_mode(target: Path) -> int:
    # mkstemp creates 0600 files; give the result the mode a plain open() would (or the mode of
    # the file it replaces), so runs on a shared machine stay readable by the group.
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_UMASK


def fsync_dir(directory: Path) -> None:
    """Make renames inside ``directory`` durable (a no-op where unsupported, e.g. Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: The temporary files ``atomic_path`` makes: ``.<target name>.<8 random chars>.tmp``.
TEMP_RE = re.compile(r"^\.(?P<target>.+)\.[A-Za-z0-9_]{8}\.tmp$")


def leftover_temps(root: Path, skip: Callable[[str], bool] = lambda target: False) -> list[Path]:
    """Temporary files under ``root`` left by writes that never finished (a killed process);
    ``skip(target_name)`` keeps some out (files another process may be writing right now)."""
    found = []
    for p in sorted(root.rglob("*.tmp")):
        m = TEMP_RE.match(p.name)
        if m and p.is_file() and not skip(m["target"]):
            found.append(p)
    return found


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on clean exit it is fsynced and renamed onto it.

    Use this for writers that want a file name (torch.save, matplotlib savefig). On error the
    temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # After the writer: some (safetensors) replace the file, which would drop a mode set
        # before.
        os.chmod(tmp, _new_file_mode(target))
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise DiskFull(target) from None
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it replaces ``path`` only if the block succeeds."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open supports only 'w' and 'wb'")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        fh.flush()


def write_bytes(path: str | os.PathLike[str], data: bytes | memoryview) -> None:
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and atomically move the result onto ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)


def csv_line(values: Sequence[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def append_csv_row(path: str | os.PathLike[str], header: Sequence[str], row: Sequence[Any]) -> None:
    """Append one row under ``header``; the whole file is rewritten atomically.

    Rewriting (rather than appending in place) means a crash can never leave half a row, and the
    logs are small (one row per checkpoint). An existing file with a different header is refused
    rather than silently mixed.
    """
    if len(row) != len(header):
        raise ValueError(f"row has {len(row)} values for {len(header)} columns")
    target = Path(path)
    head = csv_line(header)
    old = read_text(target) if target.exists() else ""
    if old:
        first = old.splitlines()[0] + "\n"
        if first != head:
            raise ThetaError(
                f"{target}: header is {first.strip()!r}, expected {head.strip()!r}; "
                "refusing to append to a file with other columns"
            )
        if not old.endswith("\n"):
            old += "\n"
    else:
        old = head
    write_text(target, old + csv_line(row))
