"""One writer per run: a lock file in the run directory, created exclusively.

The file holds ``{"pid", "host", "command", "since"}`` so a refused second writer can say which
process holds the run. A lock left by a process that no longer exists on this host is stale: it is
taken over with a warning. A lock from another host cannot be checked, so it is never taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from theta_cli.core import logs
from theta_cli.core.errors import ThetaError


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "an unknown process (unreadable lock file)"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} "
        f"({holder.get('command', '?')}, since {holder.get('since', '?')})"
    )


def _create(path: Path, mine: dict[str, Any]) -> bool:
    """Create the lock file exclusively; False when it already exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(mine, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def acquire(path: Path, command: str) -> dict[str, Any]:
    """Take the run's lock or raise ThetaError naming the process that holds it."""
    mine = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if _create(path, mine):
        return mine
    holder = _read(path)
    stale = (
        holder is not None
        and holder.get("host") == mine["host"]
        and isinstance(holder.get("pid"), int)
        and holder["pid"] != mine["pid"]
        and not _pid_alive(holder["pid"])
    )
    if not stale:
        raise ThetaError(
            f"{path}: run is in use by {_describe(holder)}; wait for it to finish "
            "(or delete the lock file if that process is gone)"
        )
    logs.get_logger().warning(
        f"{path}: taking over a stale lock left by {_describe(holder)}, which is no longer running"
    )
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    if not _create(path, mine):  # another process won the race for the stale lock
        raise ThetaError(f"{path}: run is in use by {_describe(_read(path))}")
    return mine


def release(path: Path, mine: dict[str, Any]) -> None:
    """Remove the lock only if it is still ours."""
    holder = _read(path)
    if holder is not None and holder.get("pid") == mine["pid"] and holder.get("host") == mine[
        "host"
    ]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def run_lock(path: Path, command: str | None = None) -> Iterator[dict[str, Any]]:
    """Hold the lock for the block; released on any exit, including errors and Ctrl-C."""
    mine = acquire(path, command or " ".join(["theta", *sys.argv[1:]]))
    try:
        yield mine
    finally:
        release(path, mine)
