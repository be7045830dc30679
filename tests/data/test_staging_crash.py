"""staging.swap_in survives a kill at any instant: a forked child swaps a new set of entries
into a directory and dies (os._exit, as kill -9: no handler runs) at its N-th file-system call;
the next run then finds the swap journal and finishes or rolls back, so the directory holds
exactly the old set or exactly the new one, and no hidden leftovers."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from theta_cli.core.errors import ThetaError
from theta_cli.data import staging

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child")

OLD = {"a.csv": "old a", "sub/x.bin": "old x", "only_old.csv": "old only"}
NEW = {"a.csv": "new a", "sub/x.bin": "new x", "sub/y.bin": "new y", "only_new.csv": "new only"}
NAMES = ["a.csv", "only_new.csv", "only_old.csv", "sub"]
CRASHED = 77



def _swap_and_die_at(dest: Path, n: int) -> None:
    """In a forked child: build NEW, swap it in, and die at file-system call number ``n``."""
    calls = 0

    def hook(fn):
        def wrapped(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls == n:
                os._exit(CRASHED)  # like kill -9: no except, no finally, no atexit
            return fn(*args, **kwargs)

        return wrapped

    with staging.build_dir(dest) as build:
        _fill(build, NEW)
        for name in ("replace", "rename", "unlink", "rmdir"):
            setattr(os, name, hook(getattr(os, name)))
        shutil.rmtree = hook(shutil.rmtree)
        staging.swap_in(build, dest, NAMES)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file()}  # fmt: skip


def _fill(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _swap(dest: Path, n: int) -> int:
    """Exit code of a forked child running ``_swap_and_die_at`` (fork: no re-import per try)."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 1
        try:
            _swap_and_die_at(dest, n)
            code = 0
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_kill_at_every_point_leaves_the_old_or_the_new_set(tmp_path: Path) -> None:
    outcomes = []
    for n in range(1, 200):
        dest = tmp_path / f"case{n}"
        _fill(dest, OLD | {"notes.txt": "the user's"})
        rc = _swap(dest, n)
        if rc == 0:  # no N-th call: every injection point has been tried
            assert _tree(dest) == NEW | {"notes.txt": "the user's"}
            break
        assert rc == CRASHED
        staging.remove_stale_builds(dest)  # what the next synth/pairs/prepare run does first
        after = _tree(dest)
        assert after in (OLD | {"notes.txt": "the user's"}, NEW | {"notes.txt": "the user's"}), n
        assert not [p.name for p in dest.iterdir() if p.name.startswith(".theta-")], n
        outcomes.append("new" if after["a.csv"] == "new a" else "old")
    else:
        pytest.fail("the swap never finished")
    # Early kills roll back, late ones finish: both recoveries were exercised.
    assert {"old", "new"} <= set(outcomes), outcomes
    assert len(outcomes) >= 8


def test_recovery_logs_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _fill(tmp_path, OLD)
    n = 1
    while True:  # the first kill after the journal is written (something to recover)
        shutil.rmtree(tmp_path / "d", ignore_errors=True)
        _fill(tmp_path / "d", OLD)
        assert _swap(tmp_path / "d", n) == CRASHED
        if (tmp_path / "d" / staging.JOURNAL).exists():
            break
        n += 1
    with caplog.at_level(logging.INFO, logger="theta"):
        assert staging.recover(tmp_path / "d") is not None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "interrupted" in lines[0], lines
    assert staging.recover(tmp_path / "d") is None  # nothing left to do


def test_a_live_swap_is_left_alone(tmp_path: Path) -> None:
    """The journal of a swap whose build directory is still held (a running process) is not
    recovered, and its build directory is not removed as stale."""
    from filelock import FileLock

    dest = tmp_path / "d"
    _fill(dest, OLD)
    build = dest / f"{staging.BUILD_PREFIX}live"
    _fill(build, NEW)
    held = FileLock(str(build / staging.BUILD_LOCK), timeout=0)
    held.acquire()
    try:
        journal = {"build": build.name, "old": f"{staging.OLD_PREFIX}live",
                   "aside": [], "new": ["only_new.csv"], "phase": "moving"}  # fmt: skip
        (dest / staging.JOURNAL).write_text(json.dumps(journal))
        assert staging.recover(dest) is None
        staging.remove_stale_builds(dest)
        assert build.is_dir() and (dest / staging.JOURNAL).exists()
    finally:
        held.release()


def test_leftover_old_dirs_go_with_the_next_successful_swap(tmp_path: Path) -> None:
    """A `.theta-old-*` with no journal (left by an older theta killed mid-swap) is a full hidden
    copy of replaced data: the next swap into that directory removes it once its own set is in."""
    dest = tmp_path / "d"
    _fill(dest, OLD)
    leftover = dest / f"{staging.OLD_PREFIX}abc123"
    _fill(leftover, {"part-0000.parquet": "x" * 1000})
    staging.recover(dest)  # a reader run: nothing is deleted
    assert leftover.is_dir()
    with staging.build_dir(dest) as build:
        _fill(build, NEW)
        staging.swap_in(build, dest, NAMES)
    assert _tree(dest) == NEW
    assert not [p.name for p in dest.iterdir() if p.name.startswith(".theta-")]


def test_in_process_failure_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "d"
    _fill(dest, OLD)
    real, calls = os.replace, []

    def failing(src, dst):  # the third rename fails (disk gone, Ctrl-C)
        calls.append(src)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(src, dst)

    with pytest.raises(KeyboardInterrupt), staging.build_dir(dest) as build:
        _fill(build, NEW)
        monkeypatch.setattr(os, "replace", failing)
        staging.swap_in(build, dest, NAMES)
    monkeypatch.undo()
    assert _tree(dest) == OLD
    assert not [p.name for p in dest.iterdir() if p.name.startswith(".theta-")]


def test_prepare_reads_a_whole_raw_set_after_a_killed_synth(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from theta_cli.data.prepare import PrepareOptions, prepare
    from theta_cli.data.synth import SynthConfig, synthesize

    raw = tmp_path / "raw"
    synthesize(SynthConfig(agents=4, points=120, files=2), raw)
    before = _tree_bytes(raw)
    pid = os.fork()
    if pid == 0:  # a `synth --force` killed after its first old part went aside
        try:
            real_swap, real_replace, calls = staging.swap_in, os.replace, []

            def dying_replace(src, dst):
                calls.append(src)
                if len(calls) == 4:  # 2 for the journal, then the renames aside
                    os._exit(CRASHED)
                return real_replace(src, dst)

            def swap(*args):
                os.replace = dying_replace
                real_swap(*args)

            staging.swap_in = swap
            synthesize(SynthConfig(agents=3, points=120, files=3), raw, force=True)
        finally:
            os._exit(1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == CRASHED
    assert not (raw / "part-0000.parquet").exists()  # half swapped: the old part is aside
    # K too large: prepare stops after reading the raw files (fast, no torch), having
    # recovered them first; a whole set is all it could have read.
    with caplog.at_level(logging.WARNING, logger="theta"), pytest.raises(
        ThetaError, match="no agent has K=512"
    ):
        prepare(raw, tmp_path / "ds", PrepareOptions(k=512))
    assert _tree_bytes(raw) == before  # rolled back: the old set, whole
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "interrupted" in caplog.records[0].getMessage()


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.iterdir()}
