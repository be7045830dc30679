"""Crash-safe writes: temporary file in the same directory, fsync, rename, fsync the directory.

A reader (or a crash at any instant) sees either the old file or the new one, never a mix.
Every file that matters in a run goes through here: checkpoints, config.json, CSV logs, charts.

The rules for what a write may land on (never a device, FIFO, socket or directory) live in
``core.targets``; inside a ``no_replace()`` block a write also never lands on a file that exists,
not even one that appeared while it ran: the finished file is hard-linked into place, which fails
if the name is taken. Temporary names, their locks and the removal of killed writers' leftovers
live in ``core.tempfiles``.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import errno
import io
import json
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from theta_cli.core.errors import DiskFull, ThetaError
from theta_cli.core.targets import exists_error, refuse_non_regular
from theta_cli.core.tempfiles import new_temp, relock, remove_stale_temps
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


# ---- no-replace mode -------------------------------------------------------------------------

_NO_REPLACE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "theta_atomic_no_replace", default=False
)


@contextlib.contextmanager
def no_replace(enabled: bool = True) -> Iterator[None]:
    """Inside the block, atomic writes refuse a target that exists, also one that appears while
    they run (a concurrent writer's). A block rather than a parameter because the format
    writers (GPX, CSV, parquet, PNG) sit between the commands and this module."""
    token = _NO_REPLACE.set(enabled)
    try:
        yield
    finally:
        _NO_REPLACE.reset(token)


def _link_into_place(tmp: Path, target: Path) -> None:
    """Put the finished ``tmp`` at ``target`` only if no file is there at this instant."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise exists_error(target, meanwhile=True) from None
    except OSError:
        # No hard links on this filesystem (FAT, some network mounts): reserve the name with an
        # exclusive create, then rename onto the reservation (ours, so replacing it is fine).
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            raise exists_error(target, meanwhile=True) from None
        try:
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                target.unlink()
            raise
        return
    with contextlib.suppress(OSError):
        tmp.unlink()


# ---- the writes -----------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on clean exit it is fsynced and renamed onto it.

    Use this for writers that want a file name (torch.save, matplotlib savefig). On error the
    temporary file is removed and ``path`` is untouched. Temporary files that killed writers of
    ``path`` left are removed first; inside ``no_replace()`` an existing ``path`` is refused.
    """
    target = Path(path)
    keep = _NO_REPLACE.get()
    refuse_non_regular(target)
    if keep and os.path.lexists(target):
        raise exists_error(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp = new_temp(target)
    try:
        yield tmp
        fd = relock(fd, tmp)
        # After the writer: some (safetensors) replace the file, which would drop a mode set
        # before.
        os.chmod(tmp, _new_file_mode(target))
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        if keep:
            _link_into_place(tmp, target)
        else:
            os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise DiskFull(target) from None
        raise
    finally:
        if fd >= 0:
            os.close(fd)  # releases the lock, after the rename: never an unlocked live temp


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
