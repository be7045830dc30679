"""What an atomic write may write over: never a file that appeared meanwhile (no-replace mode),
never a device, FIFO, socket or directory; a killed writer's temporary file is removed by the
next write to the same target, a live writer's never; temporary names stay short."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from theta_cli.core import atomic, targets, tempfiles
from theta_cli.core.errors import ThetaError

fcntl = pytest.importorskip("fcntl")


def _names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# ---- no-replace mode (item 5) ---------------------------------------------------------------


def test_no_replace_refuses_a_file_that_appears_during_the_write(tmp_path: Path) -> None:
    p = tmp_path / "out.gpx"
    with pytest.raises(ThetaError) as exc, atomic.no_replace():
        with atomic.atomic_path(p) as tmp:
            tmp.write_text("mine")
            p.write_text("the other process's")  # another writer finished first
    assert str(p) in str(exc.value) and "--force" in str(exc.value)
    assert p.read_text() == "the other process's"
    assert _names(tmp_path) == ["out.gpx"]  # and no temporary file


def test_no_replace_refuses_an_existing_file_before_writing(tmp_path: Path) -> None:
    p = tmp_path / "out.gpx"
    p.write_text("user's")
    called = []
    with pytest.raises(ThetaError, match="exists"), atomic.no_replace():
        atomic.write_with(p, called.append)
    assert called == [] and p.read_text() == "user's" and _names(tmp_path) == ["out.gpx"]


def test_no_replace_writes_a_new_file_and_is_scoped_to_its_block(tmp_path: Path) -> None:
    p = tmp_path / "out.gpx"
    with atomic.no_replace():
        atomic.write_text(p, "new\n")
    assert p.read_text() == "new\n"
    atomic.write_text(p, "replaced\n")  # outside the block: a plain atomic replace
    assert p.read_text() == "replaced\n" and _names(tmp_path) == ["out.gpx"]
    with atomic.no_replace(False):
        atomic.write_text(p, "forced\n")
    assert p.read_text() == "forced\n"


@pytest.mark.parametrize("err", [PermissionError(1, "Operation not permitted"),
                                 OSError(95, "Operation not supported")])  # fmt: skip
def test_no_replace_without_hard_links(tmp_path: Path, monkeypatch, err: OSError) -> None:
    """Filesystems without hard links: an O_EXCL reservation still lets only one writer win."""

    def no_link(src, dst):
        raise err

    monkeypatch.setattr(os, "link", no_link)
    p = tmp_path / "out.csv"
    with atomic.no_replace():
        atomic.write_text(p, "a\n")
    assert p.read_text() == "a\n" and _names(tmp_path) == ["out.csv"]
    q = tmp_path / "late.csv"
    with pytest.raises(ThetaError, match="late.csv"), atomic.no_replace():
        with atomic.atomic_path(q) as tmp:
            tmp.write_text("mine")
            q.write_text("theirs")
    assert q.read_text() == "theirs" and _names(tmp_path) == ["late.csv", "out.csv"]


# ---- targets that are not regular files (item 4) --------------------------------------------


def _fifo(p: Path) -> Path:
    os.mkfifo(p)
    return p


def _socket(p: Path) -> Path:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()
    return p


def _device(p: Path) -> Path:
    try:
        os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a second /dev/null
    except PermissionError:
        pytest.skip("mknod needs root")
    return p


def _dir(p: Path) -> Path:
    p.mkdir()
    return p


def _link_to_fifo(p: Path) -> Path:
    os.symlink(_fifo(p.with_name("fifo")), p)
    return p


@pytest.mark.parametrize("make", [_fifo, _socket, _device, _dir, _link_to_fifo])
def test_non_regular_targets_are_refused_even_with_force(tmp_path: Path, make) -> None:
    p = make(tmp_path / "out.csv")
    kind = os.stat(p).st_mode
    with pytest.raises(ThetaError, match="not a regular file") as exc:
        targets.check_target(p, force=True)
    assert str(p) in str(exc.value)
    with pytest.raises(ThetaError, match="not a regular file"):
        atomic.write_text(p, "x")  # the writers check too, for every caller
    assert os.stat(p).st_mode == kind  # still what it was


def test_check_target_existing_files_and_links(tmp_path: Path) -> None:
    p = tmp_path / "out.gpx"
    targets.check_target(p, force=False)  # new: fine
    p.write_text("x")
    with pytest.raises(ThetaError, match="exists; pass --force"):
        targets.check_target(p, force=False)
    targets.check_target(p, force=True)
    dangling = tmp_path / "dangling.gpx"
    os.symlink(tmp_path / "nowhere", dangling)
    with pytest.raises(ThetaError, match="exists"):  # a link is a name in use
        targets.check_target(dangling, force=False)


def test_check_target_directory_problems(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ThetaError, match="not a directory"):
        targets.check_target(tmp_path / "file" / "sub" / "out.gpx", force=False)
    targets.check_target(tmp_path / "new" / "sub" / "out.gpx", force=False)  # made when written
    with pytest.raises(ThetaError, match="name too long"):
        targets.check_target(tmp_path / ("x" * 256), force=False)


def test_check_target_unwritable_directory(tmp_path: Path, monkeypatch) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    real_access = os.access
    # As root every directory is writable: ask os.access the way a normal user's would answer.
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != ro and real_access(p, mode))
    with pytest.raises(ThetaError, match="not writable"):
        targets.check_target(ro / "out.gpx", force=False)


# ---- long names (item 19) -------------------------------------------------------------------


def test_a_legal_long_name_is_written_with_a_short_temp_name(tmp_path: Path) -> None:
    name = "r" * 246 + ".gpx"  # 250 bytes: legal; ".<name>.<8>.tmp" would be 264
    seen: list[Path] = []

    def writer(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_text("ok")

    atomic.write_with(tmp_path / name, writer)
    assert (tmp_path / name).read_text() == "ok" and _names(tmp_path) == [name]
    assert len(os.fsencode(seen[0].name)) <= 255
    assert tempfiles.TEMP_RE.match(seen[0].name)


# ---- stale temporary files (item 10) --------------------------------------------------------

_KILLED_WRITER = """
import sys, time
from theta_cli.core import atomic, targets, tempfiles
def writer(tmp):
    tmp.write_bytes(b"x" * 4096)
    print("writing", flush=True)
    time.sleep(60)
atomic.write_with(sys.argv[1], writer)
"""


def _killed_write(target: Path) -> list[Path]:
    """Start a writer in another process and kill -9 it half way; its temporary files."""
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", ["out.gpx", "q" * 246 + ".gpx"])
def test_the_next_write_removes_a_killed_writers_temp(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    stale = _killed_write(target)
    assert len(stale) == 1 and stale[0].stat().st_size == 4096
    assert tempfiles.leftover_temps(tmp_path) == stale  # still found by the run-lock holder
    (tmp_path / "other.gpx").write_text("x")
    atomic.write_text(target, "done")
    assert _names(tmp_path) == sorted([name, "other.gpx"])


def test_a_live_writers_temp_and_other_targets_temps_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "out.gpx"
    live = tmp_path / ".out.gpx.abcd1234.tmp"
    other = tmp_path / ".out.gpx.x.abcd1234.tmp"  # the temp of "out.gpx.x", a dead one
    user = tmp_path / ".out.gpx.notmine.tmp"  # not a name theta makes
    for p in (live, other, user):
        p.write_text("data")
    with open(live, "rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # a writer that lives
        atomic.write_text(target, "done")
    assert _names(tmp_path) == sorted(p.name for p in (target, live, other, user))


def test_a_writer_holds_a_lock_on_its_temp(tmp_path: Path) -> None:
    with atomic.atomic_path(tmp_path / "out.gpx") as tmp:
        tmp.write_text("half")
        with open(tmp, "rb") as fh, pytest.raises(BlockingIOError):
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        atomic.write_text(tmp_path / "out.gpx", "another write")  # must not remove ours
        assert tmp.exists()


def test_a_writer_that_replaces_its_temp_file_still_works(tmp_path: Path) -> None:
    """safetensors writes a new file over the temporary one rather than into it."""

    def writer(tmp: Path) -> None:
        side = tmp.with_name("side")
        side.write_text("payload")
        os.replace(side, tmp)

    atomic.write_with(tmp_path / "model.safetensors", writer)
    assert (tmp_path / "model.safetensors").read_text() == "payload"
    assert _names(tmp_path) == ["model.safetensors"]


def test_filesystems_without_locks_write_and_keep_temps(tmp_path: Path, monkeypatch) -> None:
    def no_locks(fd, op):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    stale = tmp_path / ".out.gpx.abcd1234.tmp"
    stale.write_text("data")
    atomic.write_text(tmp_path / "out.gpx", "done")  # writes still work (no endless retry)
    assert _names(tmp_path) == sorted(["out.gpx", stale.name])


def test_cleanup_is_skipped_without_fcntl(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfiles, "fcntl", None)
    stale = tmp_path / ".out.gpx.abcd1234.tmp"
    stale.write_text("data")
    atomic.write_text(tmp_path / "out.gpx", "done")
    assert _names(tmp_path) == sorted(["out.gpx", stale.name])



# ---- other writers of user-chosen paths -----------------------------------------------------


def test_export_refuses_a_fifo_in_its_directory_before_loading(tmp_path: Path) -> None:
    from theta_cli.artifact.export import export

    out = tmp_path / "exported"
    out.mkdir()
    os.mkfifo(out / "model.safetensors")
    # The checkpoint does not even exist: the target is judged before anything is loaded.
    with pytest.raises(ThetaError, match="model.safetensors: is a FIFO"):
        export(tmp_path / "missing.pt", out, overwrite=True)
