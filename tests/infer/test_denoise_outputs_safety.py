"""`theta denoise --out` never loses a file: not to a concurrent run, not over a device node,
not to a killed run's leftovers; bad targets are refused before the model loads; table-column
options on GPX/FIT/GeoJSON inputs are reported as ignored."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from _infer_helpers import ZeroModel, fake_loader, gpx_text, invoke, track
from conftest import assert_refused


@pytest.fixture
def ride(theta_env: Path) -> Path:
    p = theta_env / "ride.gpx"
    p.write_text(gpx_text([track(60, seed=1)]))
    return p


def _names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


class _RivalFinishesFirst(ZeroModel):
    """While this run computes, another run writes the same --out (it was free at the start)."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not self.out.exists():
            self.out.write_text("the other run's output")
        return super().forward(x, t)


def test_a_concurrent_run_that_finishes_first_is_not_replaced(ride: Path, monkeypatch) -> None:
    out = ride.parent / "out.gpx"
    fake_loader(monkeypatch, _RivalFinishesFirst(out))
    result = invoke("denoise", ride, "--model", "m", "--out", out)
    assert_refused(result, str(out), "--force")
    assert out.read_text() == "the other run's output"
    assert _names(ride.parent) == ["out.gpx", "ride.gpx"]  # no temporary file left


def test_force_still_replaces_a_file_that_appears_meanwhile(ride: Path, monkeypatch) -> None:
    out = ride.parent / "out.gpx"
    fake_loader(monkeypatch, _RivalFinishesFirst(out))
    result = invoke("denoise", ride, "--model", "m", "--out", out, "--force")
    assert result.exit_code == 0, result.output + result.stderr
    assert out.read_text().startswith("<?xml")


def _device(p: Path) -> None:
    os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 3))


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _link_to_fifo(p: Path) -> None:
    os.mkfifo(p.with_name("fifo"))
    os.symlink(p.with_name("fifo"), p)


@pytest.mark.parametrize("make", [_device, _fifo, _link_to_fifo])
def test_force_never_replaces_a_device_or_fifo(ride: Path, monkeypatch, make) -> None:
    asked = fake_loader(monkeypatch, ZeroModel())
    node = ride.parent / "nulldev"
    try:
        make(node)
    except PermissionError:
        pytest.skip("mknod needs root")
    mode = os.stat(node).st_mode
    result = invoke("denoise", ride, "--model", "m", "--out", node, "--format", "csv", "--force")
    assert_refused(result, str(node), "not a regular file")
    assert os.stat(node).st_mode == mode and asked == []  # refused before the model loaded


def test_a_device_in_the_output_directory_is_refused(ride: Path, monkeypatch) -> None:
    asked = fake_loader(monkeypatch, ZeroModel())
    (ride.parent / "cleaned").mkdir()
    os.mkfifo(ride.parent / "cleaned" / "ride.gpx")
    result = invoke("denoise", ride, "--model", "m", "--out", "cleaned/", "--force")
    assert_refused(result, "cleaned/ride.gpx", "FIFO")
    assert asked == []


def test_a_killed_runs_temp_file_is_removed_by_the_rerun(ride: Path, monkeypatch) -> None:
    fake_loader(monkeypatch, ZeroModel())
    stale = ride.parent / ".out.gpx.k1ll3d00.tmp"  # a kill -9 left it, full size
    stale.write_bytes(b"<?xml" + b" " * 100_000)
    result = invoke("denoise", ride, "--model", "m", "--out", "out.gpx")
    assert result.exit_code == 0, result.output + result.stderr
    assert _names(ride.parent) == ["out.gpx", "ride.gpx"]


def test_a_legal_250_byte_name_is_written(ride: Path, monkeypatch) -> None:
    fake_loader(monkeypatch, ZeroModel())
    name = "r" * 246 + ".gpx"
    result = invoke("denoise", ride, "--model", "m", "--out", name)
    assert result.exit_code == 0, result.output + result.stderr
    assert _names(ride.parent) == sorted([name, "ride.gpx"])


@pytest.mark.parametrize(
    ("out", "needles"),
    [
        ("x" * 252 + ".gpx", ["name too long"]),
        ("afile/out.gpx", ["afile", "not a directory"]),
        ("ro/out.gpx", ["ro", "not writable"]),
    ],
)
def test_bad_targets_are_refused_before_the_model_loads(
    ride: Path, monkeypatch, out: str, needles: list[str]
) -> None:
    asked = fake_loader(monkeypatch, ZeroModel())
    (ride.parent / "afile").write_text("x")
    (ride.parent / "ro").mkdir(mode=0o555)
    real_access = os.access
    # As root every directory is writable: answer as a normal user would for ro/.
    monkeypatch.setattr(os, "access", lambda p, m: Path(p).name != "ro" and real_access(p, m))
    result = invoke("denoise", ride, "--model", "m", "--out", out)
    assert_refused(result, *needles)
    assert asked == []


def test_table_column_options_on_a_gpx_say_they_are_ignored(ride: Path, monkeypatch) -> None:
    fake_loader(monkeypatch, ZeroModel())
    result = invoke("denoise", ride, "--model", "m", "--out", "out.gpx", "--lat-col", "la",
                    "--time-col", "t")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert "--lat-col: applies to CSV/parquet inputs only; ignored for ride.gpx" in result.stderr
    assert "--time-col: applies to CSV/parquet inputs only; ignored for ride.gpx" in result.stderr
    assert "--lon-col" not in result.stderr
