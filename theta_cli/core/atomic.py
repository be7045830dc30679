"""Crash-safe writes: temporary file in the same directory, fsync, rename, fsync the directory.

A reader (or a crash at any instant) sees either the old file or the new one, never a mix.
Every file that matters in a run goes through here: checkpoints, config.json, CSV logs, charts.

What a write may land on (the same rules for every writer):
- never a device, FIFO, socket or directory, ``--force`` or not (``/dev/null`` stays a device);
  a symbolic link is judged by what it points to: a link to one of those is refused, a link to
  a regular file is an existing file (the link itself is what a forced write replaces; the file
  it pointed to is left as it was), and a dangling link is a name in use;
- inside a ``no_replace()`` block, never a file that exists, not even one that appeared while
  the write ran: the finished file is hard-linked into place, which fails if the name is taken.

Each writer holds an advisory lock (flock) on its temporary file while it lives, so the next
write to a target can tell a killed writer's leftover (unlocked: removed) from a concurrent
writer's (locked: kept). Without fcntl (Windows) nothing is locked and nothing is removed here.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import errno
import hashlib
import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from theta_cli.core.errors import DiskFull, ThetaError
from theta_cli.core.textfile import read_text

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows: no advisory locks; stale temporary files are left alone
    fcntl = None

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


# ---- temporary names ------------------------------------------------------------------------

#: The temporary files ``atomic_path`` makes: ``.<target name>.<8 random chars>.tmp``; for a
#: name too long for that, ``<target name>`` is its head plus ``~`` and a hash of the whole.
TEMP_RE = re.compile(r"^\.(?P<target>.+)\.[A-Za-z0-9_]{8}\.tmp$")
#: The longest file name (bytes) of common filesystems (ext4, xfs, btrfs, APFS, NTFS).
NAME_MAX = 255
_TEMP_EXTRA = len("..") + 8 + len(".tmp")  # what a temporary name adds to its stem
_HASH_CHARS = 12


def temp_stem(name: str) -> str:
    """The ``<target name>`` of a target's temporary files: the name itself, or, when the
    temporary name would pass NAME_MAX, a head of it plus a hash of the whole (still unique per
    target, and still starting like the name)."""
    raw = os.fsencode(name)
    if len(raw) + _TEMP_EXTRA <= NAME_MAX:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:_HASH_CHARS]
    head = raw[: NAME_MAX - _TEMP_EXTRA - _HASH_CHARS - 1].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def _temp_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(temp_stem(target.name))}\.[A-Za-z0-9_]{{8}}\.tmp$")


def leftover_temps(root: Path, skip: Callable[[str], bool] = lambda target: False) -> list[Path]:
    """Temporary files under ``root`` left by writes that never finished (a killed process);
    ``skip(target_name)`` keeps some out (files another process may be writing right now)."""
    found = []
    for p in sorted(root.rglob("*.tmp")):
        m = TEMP_RE.match(p.name)
        if m and p.is_file() and not skip(m["target"]):
            found.append(p)
    return found


# ---- locks on temporary files ---------------------------------------------------------------


def _try_lock(fd: int) -> bool | None:
    """True: locked; False: another open file holds the lock; None: no locks on this
    filesystem (some network and FUSE mounts)."""
    assert fcntl is not None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        return False if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except OSError:
        return False


def _new_temp(target: Path) -> tuple[int, Path]:
    """Create a temporary file beside ``target`` and lock it; the lock lives with the returned
    descriptor (-1 without fcntl). A cleaner may take an unlocked new file for a dead one in the
    instant before it is locked: then it is gone (or about to be), so make another."""
    while True:
        fd, name = tempfile.mkstemp(
            prefix=f".{temp_stem(target.name)}.", suffix=".tmp", dir=target.parent
        )
        tmp = Path(name)
        if fcntl is None:
            os.close(fd)
            return -1, tmp
        locked = _try_lock(fd)
        if (locked or locked is None) and _same_file(fd, tmp):
            return fd, tmp  # unlocked where locks are unsupported: cleaners then skip it too
        os.close(fd)


def _relock(fd: int, tmp: Path) -> int:
    """The descriptor that holds the lock on ``tmp`` now: some writers (safetensors) put a new
    file in its place, so lock that one (it was unprotected only while the writer ran)."""
    if fd < 0 or _same_file(fd, tmp):
        return fd
    with contextlib.suppress(OSError):
        new = os.open(tmp, os.O_RDONLY)
        _try_lock(new)
        os.close(fd)
        return new
    return fd


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove the temporary files that killed writers of ``target`` left beside it.

    A writer that lives holds the lock on its file, so only dead writers' files can be locked
    here; the file is removed only if it is still the one locked (not renamed into place).
    """
    if fcntl is None:
        return []
    pattern = _temp_pattern(target)
    try:
        names = [e.name for e in os.scandir(target.parent) if pattern.match(e.name)]
    except OSError:
        return []
    removed = []
    for name in names:
        path = target.parent / name
        try:
            # O_NONBLOCK: a FIFO that happens to carry such a name must not hang the open.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode) and _try_lock(fd) is True and _same_file(
                fd, path
            ):
                path.unlink()
                removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    if removed:
        from theta_cli.core import logs

        logs.get_logger().info(
            f"removed {len(removed)} temporary file(s) an interrupted write of {target} left"
        )
    return removed


# ---- what a write may land on ---------------------------------------------------------------

_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def _refuse_non_regular(target: Path) -> None:
    try:
        mode = os.stat(target).st_mode  # follows a link: judged by what it points to
    except OSError:
        return  # nothing there (or a dangling link): the write itself says what is wrong
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in _KINDS if test(mode)), "special file")
        raise ThetaError(f"{target}: is a {kind}, not a regular file; theta writes only "
                         "regular files (give another name)")  # fmt: skip


def _exists_error(target: Path, meanwhile: bool = False) -> ThetaError:
    when = " (it appeared while theta was writing; another process?)" if meanwhile else ""
    return ThetaError(f"{target}: exists{when}; pass --force to replace it")


def _name_max(directory: Path) -> int:
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def check_target(path: str | os.PathLike[str], force: bool) -> None:
    """Refuse, before any work is done, an output path the write would refuse or fail on.

    Never a device, FIFO, socket or directory (links judged by what they point to); an existing
    name only with ``force``; the nearest existing directory on the way must be a writable
    directory (missing ones are made by the write); the name must fit the filesystem.
    """
    target = Path(path)
    _refuse_non_regular(target)
    if os.path.lexists(target) and not force:
        raise _exists_error(target)
    parent = Path(os.path.abspath(target)).parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ThetaError(f"{target}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ThetaError(f"{target}: directory {parent} is not writable")
    size, limit = len(os.fsencode(target.name)), _name_max(parent)
    if size > limit:
        raise ThetaError(f"{target}: file name too long ({size} bytes; the limit is {limit})")


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
        raise _exists_error(target, meanwhile=True) from None
    except OSError:
        # No hard links on this filesystem (FAT, some network mounts): reserve the name with an
        # exclusive create, then rename onto the reservation (ours, so replacing it is fine).
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            raise _exists_error(target, meanwhile=True) from None
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
    _refuse_non_regular(target)
    if keep and os.path.lexists(target):
        raise _exists_error(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp = _new_temp(target)
    try:
        yield tmp
        fd = _relock(fd, tmp)
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
