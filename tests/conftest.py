"""Shared fixtures: a tiny dataset and a finished tiny training run (session-scoped, read-only).

    tiny_data  dataset root made by `theta data synth` + `theta data prepare`: processed/
               {train,val,test}/*.pt (K=32, two train files), state/huber_delta.json and
               quick_val.pt (64 samples)
    tiny_run   RunLayout of a finished `theta new` run on tiny_data (hybrid, hidden=16, layers=2,
               K=32) with mid-epoch and end-of-epoch checkpoints

Tests must not modify either; copy them (shutil.copytree) to change anything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from theta_cli.core import layout, logs
from theta_cli.core.layout import RunLayout
from theta_cli.data import epochfile

TINY_K = 32


def tiny_config(data: Path, **changes: Any) -> dict[str, Any]:
    """A training config on ``data`` (absolute paths) that trains in about a second on CPU."""
    cfg: dict[str, Any] = {
        "K": TINY_K,
        "model_type": "hybrid",
        "hidden": 16,
        "layers": 2,
        "dropout": 0.1,
        "batch_size": 16,
        "epochs": 2,
        "save_interval": 4,
        "log_interval": 2,
        "warmup_steps": 2,
        "lr": 1e-3,
        "min_lr": 1e-5,
        "cpu": True,
        "seed": 0,
        "epoch_limit": 96,  # 6 steps of 16 per epoch, whatever the files hold
        "train_dir": str(data / "processed" / "train"),
        "val_dir": str(data / "processed" / "val"),
        "huber_delta_path": str(data / "state" / "huber_delta.json"),
        "quick_val_path": str(data / "quick_val.pt"),
    }
    cfg.update(changes)
    return cfg


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg))
    return path


def only_run(models: Path) -> RunLayout:
    runs = [p for p in models.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return RunLayout(runs[0])


def invoke(*args: object) -> Result:
    """Run the ``theta`` CLI in-process; stdout and stderr are kept apart."""
    from theta_cli.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def reset_theta_globals() -> None:
    """Undo what a CLI invocation leaves in the process: its logging handlers."""
    log = logs.get_logger()
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    log.propagate = True
    log.setLevel(logging.NOTSET)


def assert_refused(result: Result, *needles: str) -> None:
    """Bad input: exit 2 and one line ``theta: error: ...`` on stderr holding every needle."""
    assert result.exit_code == 2, result.output + result.stderr
    err = result.stderr.strip()
    assert err.startswith("theta: error: ") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


@pytest.fixture
def theta_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A clean working directory and no leftover CLI state; yields tmp_path."""
    monkeypatch.delenv(layout.MODELS_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    reset_theta_globals()
    yield tmp_path
    reset_theta_globals()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("tiny")
    raw, root = base / "raw", base / "dataset"
    steps = [
        ("data", "synth", "--out", raw, "--agents", 6, "--points", 1600, "--files", 3,
         "--seed", 0),
        ("data", "prepare", "--raw", raw, "--out", root, "--k", TINY_K, "--quick-val", 64,
         "--files-per-split", 2),
    ]  # fmt: skip
    for args in steps:
        result = invoke(*args)
        reset_theta_globals()
        assert result.exit_code == 0, result.output + result.stderr
    assert len(epochfile.list_files(root / "processed" / "train")) >= 2
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> RunLayout:
    base = tmp_path_factory.mktemp("tiny_run")
    cfg = write_config(base / "cfg.json", tiny_config(tiny_data))
    models = base / "models"
    result = invoke("--models-dir", models, "new", "--config", cfg)
    reset_theta_globals()
    assert result.exit_code == 0, result.output + result.stderr
    return only_run(models)


def assert_unlocked(run: RunLayout) -> None:
    """The run's lock is free: no holder recorded, and it can be taken at once."""
    from theta_cli.core import lock

    assert not lock.holder_path(run.lock_path).exists(), "the lock's holder record is left"
    with lock.hold(run.lock_path, "test"):
        pass


@contextlib.contextmanager
def held_lock(path: Path, command: str = "theta new") -> Iterator[int]:
    """Hold the lock at ``path`` from another process for the block; yields its pid."""
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom theta_cli.core import lock\n"
        f"with lock.hold(Path({str(path)!r}), {command!r}):\n"
        "    print('held', flush=True)\n    time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()
