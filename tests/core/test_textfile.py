"""Invalid UTF-8 in any user-editable text file: one line naming the file and the byte, exit 2.

The seven places a fault campaign found (each was "internal error: UnicodeDecodeError").
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import assert_refused, invoke, tiny_config, write_config

from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout
from theta_cli.core.textfile import read_text


def _poison(path: Path, at: int = 5) -> int:
    """Put byte 0xff at position ``at`` of the file; returns that position."""
    data = bytearray(path.read_bytes())
    data[at] = 0xFF
    path.write_bytes(bytes(data))
    return at


def test_read_text_names_file_byte_and_position(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_bytes(b'{"a": \xff}')
    with pytest.raises(ThetaError, match=r"x.json: not valid UTF-8 \(byte 0xff at position 6\)"):
        read_text(p)


def test_new_config_with_invalid_utf8(theta_env: Path, tiny_data: Path) -> None:
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data))
    pos = _poison(cfg)
    assert_refused(
        invoke("--models-dir", "m", "new", "--config", cfg),
        "c.json: not valid UTF-8", f"byte 0xff at position {pos}",
    )
    assert not (theta_env / "m").exists()


@pytest.fixture
def run(theta_env: Path, tiny_run: RunLayout) -> RunLayout:
    shutil.copytree(tiny_run.root, theta_env / "models" / tiny_run.name)
    return RunLayout(theta_env / "models" / tiny_run.name)


@pytest.mark.parametrize("command", ["resume", "info"])
def test_run_config_with_invalid_utf8(run: RunLayout, command: str) -> None:
    pos = _poison(run.config_path)
    args = ["resume", str(run.ckpt_path(1, 4))] if command == "resume" else ["info", run.name]
    assert_refused(
        invoke("--models-dir", run.root.parent, *args),
        "config.json: not valid UTF-8", f"byte 0xff at position {pos}",
    )


@pytest.mark.parametrize("command", ["info", "plot", "prune"])
def test_train_csv_with_invalid_utf8(run: RunLayout, command: str) -> None:
    pos = _poison(run.train_csv, at=40)
    extra = ["--dry-run"] if command == "prune" else []
    assert_refused(
        invoke("--models-dir", run.root.parent, command, run.name, *extra),
        "train_data.csv: not valid UTF-8", f"byte 0xff at position {pos}",
    )


def test_byte_csv_with_invalid_utf8(run: RunLayout) -> None:
    models = run.root.parent
    assert invoke("--models-dir", models, "eval-bytes", run.name, "--limit", "4").exit_code == 0
    pos = _poison(run.byte_csv, at=3)
    assert_refused(
        invoke("--models-dir", models, "eval-bytes", run.name, "--limit", "4"),
        "byte_wise_err.csv: not valid UTF-8", f"byte 0xff at position {pos}",
    )
