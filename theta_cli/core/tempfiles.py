"""Temporary files of crash-safe writes: their names, the locks writers hold on them, and the
removal of those a killed writer left.

``atomic_path`` writes to ``.<target name>.<8 random chars>.tmp`` beside its target and holds an
advisory lock (flock) on it while it lives, so the next write to that target can tell a killed
writer's leftover (unlocked: removed) from a concurrent writer's (locked: kept). Without fcntl
(Windows) nothing is locked and nothing is removed here.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows: no advisory locks; stale temporary files are left alone
    fcntl = None


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


def new_temp(target: Path) -> tuple[int, Path]:
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


def relock(fd: int, tmp: Path) -> int:
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
            if (
                stat.S_ISREG(os.fstat(fd).st_mode)
                and _try_lock(fd) is True
                and _same_file(fd, path)
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
