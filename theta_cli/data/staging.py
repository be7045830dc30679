"""Build outputs in a hidden directory beside their destination, then swap them in.

Readers never see a half-written file: every file is written (atomically, fsynced) into
``<parent>/.theta-build-*``; only then are the old entries renamed aside into
``<dest>/.theta-old-*`` and the new ones renamed into place (same filesystem, so each rename is
atomic), and the old ones deleted. On any error before the swap the build directory is removed
and the destination is untouched.

A swap is several renames, so a kill -9 can land between two of them. Before the first rename a
journal, ``<dest>/.theta-swap.json``, records the build and old directories, the names that go
aside and the names that come in, and the phase. The next run that stages into or reads from
``dest`` (``recover``) finishes a swap whose new entries are all in place, or else rolls it back
(old entries back, partial new ones discarded), and logs one line: after recovery ``dest``
holds exactly the old set or exactly the new one. A journal whose build directory is still
locked belongs to a live process and is left alone; so is its build directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from theta_cli.core import atomic, jsonfile, logs
from theta_cli.core.errors import ThetaError

BUILD_PREFIX = ".theta-build-"
OLD_PREFIX = ".theta-old-"
BUILD_LOCK = ".building"
JOURNAL = ".theta-swap.json"


@dataclass(frozen=True)
class _Swap:
    """One swap into ``dest``, as its journal records it (paths relative to ``dest``)."""

    dest: Path
    build: Path
    old: Path
    aside: tuple[str, ...]  # names in dest when the swap began: they move to ``old``
    new: tuple[str, ...]  # names in ``build``: they move to dest
    phase: str  # "moving" until every rename is done, then "done"

    def to_json(self) -> dict:
        return {"build": os.path.relpath(self.build, self.dest),
                "old": os.path.relpath(self.old, self.dest), "aside": list(self.aside),
                "new": list(self.new), "phase": self.phase}  # fmt: skip

    @classmethod
    def read(cls, dest: Path) -> _Swap | None:
        path = dest / JOURNAL
        try:
            raw = jsonfile.loads(path.read_text(encoding="utf-8"), path)
            return cls(dest, dest / raw["build"], dest / raw["old"], tuple(raw["aside"]),
                       tuple(raw["new"]), str(raw["phase"]))  # fmt: skip
        except (FileNotFoundError, NotADirectoryError):  # no swap here (or no directory)
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ThetaError(f"{path}: unreadable swap journal ({type(e).__name__}); "
                             "it is theta's own: see what it names, then remove it") from None

    def write(self) -> None:
        # Written inside the build directory and renamed into dest: a kill mid-write leaves its
        # temporary file in the build, which goes with it, not a stray file in dest.
        atomic.write_json(self.build / JOURNAL, self.to_json())
        os.replace(self.build / JOURNAL, self.dest / JOURNAL)
        atomic.fsync_dir(self.dest)

    def moved_in(self, name: str) -> bool:
        """Whether ``dest/name`` is already the new entry. Old entries all go aside before any
        new one comes in, so a name that was in dest counts only once its old entry is aside."""
        if _exists(self.build / name) or not _exists(self.dest / name):
            return False
        return name not in self.aside or _exists(self.old / name)

    def complete(self) -> bool:
        if self.phase == "done":
            return True
        return all(self.moved_in(n) for n in self.new) and all(
            _exists(self.old / n) for n in self.aside
        )


def _names(names: Sequence[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _exists(p: Path) -> bool:
    return p.exists() or p.is_symlink()


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif _exists(p):
        p.unlink()


def _finish(swap: _Swap) -> None:
    shutil.rmtree(swap.old, ignore_errors=True)
    (swap.dest / JOURNAL).unlink(missing_ok=True)
    atomic.fsync_dir(swap.dest)


def _roll_back(swap: _Swap) -> None:
    """New entries out of dest (back into the build, or deleted when it is gone: they are
    theta's own new files), then the old ones back in. Safe to repeat after a kill."""
    for name in swap.new:
        if swap.moved_in(name):
            if swap.build.is_dir():
                os.replace(swap.dest / name, swap.build / name)
            else:
                _remove(swap.dest / name)
    for name in swap.aside:
        if _exists(swap.old / name):
            os.replace(swap.old / name, swap.dest / name)
    atomic.fsync_dir(swap.dest)
    shutil.rmtree(swap.old, ignore_errors=True)
    (swap.dest / JOURNAL).unlink(missing_ok=True)
    atomic.fsync_dir(swap.dest)


@contextlib.contextmanager
def _holding(build: Path) -> Iterator[bool]:
    """Whether the build's lock could be taken: no live process is building there."""
    from filelock import FileLock, Timeout

    if not build.is_dir():  # a live swap keeps its build until the journal is gone
        yield True
        return
    flock = FileLock(str(build / BUILD_LOCK), timeout=0)
    try:
        flock.acquire()
    except (Timeout, OSError):
        yield False
        return
    try:
        yield True
    finally:
        flock.release()


def recover(dest: Path) -> str | None:
    """Finish or roll back a swap into ``dest`` that a killed process left half done; return
    (and log) what was done, or None when there was nothing to do or its owner is alive."""
    swap = _Swap.read(dest)
    if swap is None:
        return None
    with _holding(swap.build) as stale:
        if not stale:
            return None
        try:
            if swap.complete():
                _finish(swap)
                what = f"finished it (kept the new {_names(swap.new) or 'state'})"
            else:
                _roll_back(swap)
                what = f"rolled it back (kept the previous {_names(swap.aside) or 'state'})"
            shutil.rmtree(swap.build, ignore_errors=True)
        except OSError as e:
            raise ThetaError(f"{dest / JOURNAL}: could not recover an interrupted swap "
                             f"({e.strerror or type(e).__name__})") from None
    msg = f"{dest}: an interrupted run left a half-done swap of files; {what}"
    logs.get_logger().warning(msg)
    return msg


def _live_journal_build(parent: Path) -> Path | None:
    swap = _Swap.read(parent)
    return swap.build.resolve() if swap else None


def remove_stale_builds(parent: Path) -> list[Path]:
    """Finish or roll back an interrupted swap into ``parent``, then remove the build
    directories in it that no live process holds (a killed run leaves its build behind; a
    running one holds the OS lock inside its own) and that no swap journal still names."""
    from filelock import FileLock, Timeout

    recover(parent)
    keep = _live_journal_build(parent)
    removed = []
    for d in sorted(parent.glob(BUILD_PREFIX + "*")):
        if not d.is_dir() or d.resolve() == keep:
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


def _remove_leftover_olds(dest: Path, keep: Path | None) -> None:
    """``.theta-old-*`` directories no journal names: old entries an interrupted swap (by an
    older theta, which kept no journal) had moved aside. Called once a new set is in place,
    which replaced them: until then they may be the only copy, so readers leave them."""
    gone = []
    for d in sorted(dest.glob(OLD_PREFIX + "*")):
        if d.is_dir() and not d.is_symlink() and d != keep:
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d.name)
    if gone:
        logs.get_logger().info(f"{dest}: removed {len(gone)} leftover old-data folder(s) of an "
                               f"interrupted earlier run ({', '.join(gone)})")  # fmt: skip


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
    """Replace ``dest/<name>`` by ``built/<name>`` for every name, crash-safely (see above).

    A name missing from ``built`` is still removed from ``dest`` (so a re-run that produces no
    quick_val.pt does not leave the previous one beside the new dataset). If a rename fails
    half way, what was moved is moved back. ``built`` must be a locked ``build_dir``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    recover(dest)
    if (dest / JOURNAL).exists():
        raise ThetaError(f"{dest}: another theta process is replacing files here "
                         f"({JOURNAL}); run again once it has finished")  # fmt: skip
    old = dest / f"{OLD_PREFIX}{secrets.token_hex(4)}"
    swap = _Swap(dest, built, old, tuple(n for n in names if _exists(dest / n)),
                 tuple(n for n in names if _exists(built / n)), "moving")  # fmt: skip
    try:
        swap.write()
        old.mkdir()
        for name in swap.aside:
            os.replace(dest / name, old / name)
        for name in swap.new:
            os.replace(built / name, dest / name)
        atomic.fsync_dir(dest)
    except BaseException:
        if (dest / JOURNAL).exists():  # else nothing has moved yet
            _roll_back(swap)
        raise
    replace(swap, phase="done").write()
    _finish(swap)
    other = _Swap.read(dest)  # a concurrent swap's old entries are not leftovers
    _remove_leftover_olds(dest, keep=other.old if other else None)
