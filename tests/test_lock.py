"""One writer per run: exclusive lock file, named holder, stale takeover, release on exit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from theta_cli.core import lock
from theta_cli.core.errors import ThetaError


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_is_exclusive_names_the_holder_and_is_released(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with lock.run_lock(path, "theta new") as mine:
        held = json.loads(path.read_text())
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
        assert held == mine
        with pytest.raises(ThetaError, match=rf"in use by pid {os.getpid()} on .*theta new"):
            lock.acquire(path, "theta resume")
    assert not path.exists()


def test_lock_is_released_when_the_block_fails(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with pytest.raises(KeyboardInterrupt), lock.run_lock(path, "x"):
        raise KeyboardInterrupt
    assert not path.exists()


def test_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / ".lock"
    pid = _dead_pid()
    path.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "command": "old"}))
    from theta_cli.core import logs

    log = logs.get_logger()
    log.propagate, was = True, log.propagate
    try:
        with caplog.at_level("WARNING", logger="theta"):
            mine = lock.acquire(path, "theta resume")
    finally:
        log.propagate = was
    assert mine["pid"] == os.getpid()
    assert f"stale lock left by pid {pid}" in caplog.text
    lock.release(path, mine)
    assert not path.exists()


def test_lock_from_another_host_is_never_taken_over(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    path.write_text(json.dumps({"pid": _dead_pid(), "host": "elsewhere.example"}))
    with pytest.raises(ThetaError, match="elsewhere.example"):
        lock.acquire(path, "x")
    assert path.exists()


def test_release_leaves_someone_elses_lock_alone(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    mine = lock.acquire(path, "x")
    path.write_text(json.dumps({"pid": 1, "host": "other"}))
    lock.release(path, mine)
    assert path.exists()
