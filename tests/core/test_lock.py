"""One writer per run: an OS lock that names its holder and dies with its process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from theta_cli.core import lock
from theta_cli.core.errors import ThetaError


def test_lock_is_exclusive_names_the_holder_and_is_released(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with lock.hold(path, "theta new") as mine:
        assert lock.read_holder(path) == mine and mine["pid"] == os.getpid()
        with pytest.raises(ThetaError, match=rf"in use by pid {os.getpid()} on .*theta new"):
            with lock.hold(path, "theta resume"):
                pass
    assert not lock.holder_path(path).exists()
    with lock.hold(path, "again"):  # free again
        pass


def test_lock_is_released_when_the_block_fails(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with pytest.raises(KeyboardInterrupt), lock.hold(path, "x"):
        raise KeyboardInterrupt
    with lock.hold(path, "y"):
        pass


def test_lock_of_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    """kill -9 of the holder frees the lock: nothing stale to take over, nothing to race."""
    path = tmp_path / ".lock"
    code = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from theta_cli.core import lock
        with lock.hold(Path({str(path)!r}), "holder"):
            print("held", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(ThetaError, match=rf"pid {proc.pid} .*holder"):
            with lock.hold(path, "second"):
                pass
    finally:
        proc.kill()
        proc.wait()
    with lock.hold(path, "after the kill") as mine:
        assert mine["command"] == "after the kill"
