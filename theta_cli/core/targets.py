"""What a write may land on (the same rules for every writer).

Never a device, FIFO, socket or directory, ``--force`` or not (``/dev/null`` stays a device); a
symbolic link is judged by what it points to: a link to one of those is refused, a link to a
regular file is an existing file, and a dangling link is a name in use. ``check_target`` applies
these rules (and the name-length and writable-directory checks) before any work is done.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from theta_cli.core.errors import ThetaError
from theta_cli.core.tempfiles import NAME_MAX

_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def refuse_non_regular(target: Path) -> None:
    try:
        mode = os.stat(target).st_mode  # follows a link: judged by what it points to
    except OSError:
        return  # nothing there (or a dangling link): the write itself says what is wrong
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in _KINDS if test(mode)), "special file")
        raise ThetaError(f"{target}: is a {kind}, not a regular file; theta writes only "
                         "regular files (give another name)")  # fmt: skip


def exists_error(target: Path, meanwhile: bool = False) -> ThetaError:
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
    refuse_non_regular(target)
    if os.path.lexists(target) and not force:
        raise exists_error(target)
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
