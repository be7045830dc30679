"""One writer per run: an OS file lock (``filelock``) on ``<run>/.lock``, holder named beside it.

The lock is an advisory OS lock (flock on POSIX), so it dies with its process: a killed run never
leaves a lock that blocks the next one, and there is no stale-lock takeover to race. The lock file
itself stays (deleting a flock file while another process may open it is the classic race); only
the holder record ``<lock>.holder`` (pid, host, command, since) comes and goes with the holder, so
a refused second writer can say which process holds the run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from theta_cli.core import atomic, jsonfile, tempfiles
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import BENCH_CSV, BYTE_CSV, RunLayout


def holder_path(path: Path) -> Path:
    return path.with_name(path.name + ".holder")


def read_holder(path: Path) -> dict[str, Any] | None:
    # Only the wording of a refusal depends on it: any unreadable record is "another process".
    where = holder_path(path)
    try:
        data = jsonfile.loads(where.read_text(encoding="utf-8"), where)
    except (OSError, ValueError, ThetaError):
        return None
    return data if isinstance(data, dict) else None


def describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "another process"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} "
        f"({holder.get('command', '?')}, since {holder.get('since', '?')})"
    )


#: How long an append to a run's log CSV waits for another one (they take milliseconds).
LOG_APPEND_WAIT_S = 60.0
#: Files eval-bytes and bench write without the run lock (they may run while training does):
#: their temporary files may be live, so they are never the run lock holder's to remove.
_UNLOCKED_WRITES = (BYTE_CSV, BENCH_CSV, "byte-err", "bench-")


def _written_unlocked(target: str) -> bool:
    return target.startswith(_UNLOCKED_WRITES)


@contextlib.contextmanager
def log_append(csv_path: Path) -> Iterator[dict[str, Any]]:
    """Serialise appends to one of a run's log CSVs across processes (waits, then refuses)."""
    with hold(csv_path.with_name(f".{csv_path.name}.lock"), what=csv_path.name,
              timeout=LOG_APPEND_WAIT_S) as mine:  # fmt: skip
        yield mine


@contextlib.contextmanager
def hold_run(run: RunLayout, command: str) -> Iterator[dict[str, Any]]:
    """Hold the run's lock and, first thing, remove the temporary files that killed writes of
    this run left behind (no other process writes them while the lock is held)."""
    with hold(run.lock_path, command) as mine:
        stale = tempfiles.leftover_temps(run.root, skip=_written_unlocked)
        for p in stale:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        if stale:
            from theta_cli.core import logs

            logs.get_logger().info(
                f"removed {len(stale)} temporary file(s) left by an interrupted write: "
                + ", ".join(str(p.relative_to(run.root)) for p in stale[:5])
                + (" ..." if len(stale) > 5 else "")
            )
        yield mine


@contextlib.contextmanager
def hold(
    path: Path, command: str | None = None, what: str = "run", timeout: float = 0.0
) -> Iterator[dict[str, Any]]:
    """Hold the lock at ``path`` for the block, or raise ThetaError naming the holder.

    ``timeout`` 0 refuses at once (one writer per run); a positive one waits that long first (to
    serialise short appends). Released on any exit of the block (errors and Ctrl-C included)
    and by the OS if the process dies. ``what`` words the refusal ("run", "byte_wise_err.csv").
    """
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    flock = FileLock(str(path), timeout=timeout)
    try:
        flock.acquire()
    except Timeout:
        raise ThetaError(
            f"{path}: {what} is in use by {describe(read_holder(path))}; wait for it to finish"
        ) from None
    mine = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command or " ".join(["theta", *sys.argv[1:]]),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        atomic.write_json(holder_path(path), mine)
        yield mine
    finally:
        with contextlib.suppress(FileNotFoundError):
            holder_path(path).unlink()
        flock.release()
