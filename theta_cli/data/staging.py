"""Build outputs in a hidden directory beside their destination, then swap them in.

Readers never see a half-written dataset: every file is written (atomically, fsynced) into
``<parent>/.theta-build-*``; only then are the old entries renamed aside and the new ones
renamed into place (same filesystem, so each rename is atomic), and the old ones deleted. On
any error before the swap the build directory is removed and the destination is untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from theta_cli.core import atomic

BUILD_PREFIX = ".theta-build-"
OLD_PREFIX = ".theta-old-"


BUILD_LOCK = ".building"


def remove_stale_builds(parent: Path) -> list[Path]:
    """Remove the build directories in ``parent`` that no live process holds (a killed
    ``prepare`` leaves its build behind; a running one holds the OS lock inside its own)."""
    from filelock import FileLock, Timeout

    removed = []
    for d in sorted(parent.glob(BUILD_PREFIX + "*")):
        if not d.is_dir():
            continue
        flock = FileLock(str(d / BUILD_LOCK), timeout=0)
        try:
            flock.acquire()
        except (Timeout, OSError):  # live, or not ours to judge
            continue
        try:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
        finally:
            flock.release()
    return removed


@contextlib.contextmanager
def build_dir(parent: Path) -> Iterator[Path]:
    """A fresh hidden directory inside ``parent``; removed on exit whatever happens.

    It holds an OS lock while it lives, so the next build can tell a stale directory (left by a
    killed process, removed first) from a live one. Directories created for ``parent`` are
    removed again if the build fails and leaves them empty, so a refused run leaves no trace.
    """
    from filelock import FileLock

    created = [p for p in (parent, *parent.parents) if not p.exists()]
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(parent)
    tmp = Path(tempfile.mkdtemp(prefix=BUILD_PREFIX, dir=parent))
    flock = FileLock(str(tmp / BUILD_LOCK), timeout=0)
    flock.acquire()
    try:
        yield tmp
    except BaseException:
        flock.release()
        shutil.rmtree(tmp, ignore_errors=True)
        for p in created:  # innermost first
            with contextlib.suppress(OSError):
                p.rmdir()
        raise
    finally:
        flock.release()
        shutil.rmtree(tmp, ignore_errors=True)


def swap_in(built: Path, dest: Path, names: Sequence[str]) -> None:
    """Replace ``dest/<name>`` by ``built/<name>`` for every name, removing stale old entries.

    A name missing from ``built`` is still removed from ``dest`` (so a re-run that produces no
    quick_val.pt does not leave the previous one beside the new dataset). If a rename fails
    half way, what was moved is moved back.
    """
    dest.mkdir(parents=True, exist_ok=True)
    old = Path(tempfile.mkdtemp(prefix=OLD_PREFIX, dir=dest))
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        for name in names:
            if (dest / name).exists() or (dest / name).is_symlink():
                os.replace(dest / name, old / name)
                moved_old.append(name)
        for name in names:
            if (built / name).exists():
                os.replace(built / name, dest / name)
                moved_new.append(name)
        atomic.fsync_dir(dest)
    except BaseException:
        for name in moved_new:
            with contextlib.suppress(OSError):
                os.replace(dest / name, built / name)
        for name in moved_old:
            with contextlib.suppress(OSError):
                os.replace(old / name, dest / name)
        with contextlib.suppress(OSError):
            old.rmdir()
        raise
    shutil.rmtree(old, ignore_errors=True)

