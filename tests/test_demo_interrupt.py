"""Ctrl-C during theta demo's training goes through training's own Ctrl-C path: a checkpoint,
the resume command, exit 130 (no internal error); and a real (tiny) demo is recorded whole, so
--force afterwards removes all of it."""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke, tiny_config

from theta_cli import demo
from theta_cli.core.errors import EXIT_INTERRUPTED
from theta_cli.engine import distributed


@pytest.fixture
def tiny_demo(monkeypatch: pytest.MonkeyPatch, tiny_data: Path) -> None:
    """The real demo on the session's tiny dataset (copied) and the tiny training config."""

    def synth(raw: Path) -> None:
        shutil.copytree(tiny_data.parent / "raw", raw)

    def prepare(raw: Path, data: Any) -> None:
        shutil.copytree(tiny_data, data.root, dirs_exist_ok=True)

    cfg = tiny_config(tiny_data)
    for key in ("train_dir", "val_dir", "huber_delta_path", "quick_val_path"):
        del cfg[key]
    monkeypatch.setattr(demo, "_synth", synth)
    monkeypatch.setattr(demo, "_prepare", prepare)
    monkeypatch.setattr(demo, "recipe", lambda: dict(cfg))


def test_ctrl_c_in_training_exits_130_with_a_resume_command(
    theta_env: Path, tiny_demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_any_rank = distributed.any_rank
    calls = [0]

    def ctrl_c_at_step_3(*args: Any) -> bool:
        calls[0] += 1
        if calls[0] == 3:  # a real SIGINT, as a terminal's Ctrl-C sends, mid-epoch
            os.kill(os.getpid(), signal.SIGINT)
        return real_any_rank(*args)

    monkeypatch.setattr(distributed, "any_rank", ctrl_c_at_step_3)
    d = theta_env / "d"
    result = invoke("demo", "--dir", d)
    out = result.stdout + result.stderr
    assert result.exit_code == EXIT_INTERRUPTED, out
    assert "internal error" not in out and "Traceback" not in out, out
    found = re.search(r"theta resume (\S+)", out)
    assert found is not None, out
    ckpt = Path(found.group(1))
    assert ckpt.is_file() and ckpt.parent.name == "ckpt", out
    assert not (d / "sample").exists()  # the demo stopped with training
    # The interrupted run's files are recorded: a later --force takes them away.
    for step in ("_synth", "_prepare", "_train", "_eval_bytes", "_bench", "_denoise_sample"):
        monkeypatch.setattr(demo, step, lambda *args: None)
    result = invoke("demo", "--dir", d, "--force")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "kept" not in result.stdout + result.stderr
    assert not ckpt.exists() and not (d / "models").exists()


@pytest.mark.slow


def test_force_after_a_whole_demo_removes_all_of_it(theta_env: Path, tiny_demo: None) -> None:
    """Nothing the real steps write (runtime.log included) changes after the last record."""
    d = theta_env / "d"
    result = invoke("demo", "--dir", d)
    assert result.exit_code == 0, result.stdout + result.stderr
    first = {p.relative_to(d) for p in d.rglob("*") if p.is_file()}
    assert any(p.suffix == ".gpx" for p in first) and any(p.suffix == ".pt" for p in first)
    result = invoke("demo", "--dir", d, "--force")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "kept" not in result.stdout + result.stderr  # every file was the demo's
    runs = list((d / "models").iterdir())
    assert len(runs) == 1 and not {p.relative_to(d) for p in d.rglob("*")} & {
        p for p in first if p.parts[0] == "models"}
