"""Ctrl-C under a real torchrun, as a terminal sends it: to the launcher's process group (torchrun
starts its workers in sessions of their own, so only the launcher gets it, and it forwards one
SIGINT to each worker). theta's side: rank 0 saves a whole checkpoint and prints the resume
command, and no worker fails. torchrun then re-raises the signal as its own SignalException (a
traceback and exit 1); that part is torch's, so only its shape is checked, not its exit code.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import tiny_config, write_config

from theta_cli.artifact import checkpoint

#: Generous: a loaded CI machine can take a minute to start two torch processes.
START_S = 240
STOP_S = 180


def _first_checkpoint(models: Path, launcher: subprocess.Popen, log: Path) -> Path:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        found = sorted(models.glob("*/ckpt/ckpt_*.pt"))
        if found:
            return found[0]
        assert launcher.poll() is None, log.read_text()
        time.sleep(0.2)
    launcher.kill()
    raise AssertionError(f"no checkpoint after {START_S} s: {log.read_text()}")


def test_ctrl_c_to_torchrun_leaves_a_resumable_checkpoint(theta_env: Path, tiny_data: Path) -> None:
    # Long enough that training is still running whenever the signal comes.
    long_run = tiny_config(tiny_data, batch_size=8, threads=1, epochs=10_000, save_interval=2,
                           dist_timeout_s=60.0)  # fmt: skip
    cfg = write_config(theta_env / "c.json", long_run)
    out, err = theta_env / "out.txt", theta_env / "err.txt"
    with out.open("w") as fo, err.open("w") as fe:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
             "2", "-m", "theta_cli", "--models-dir", "m", "new", "--config", str(cfg)],
            cwd=theta_env, stdout=fo, stderr=fe, start_new_session=True,
            # torchrun's wait for its workers before SIGKILL (30 s by default), for a slow CI
            env={**os.environ, "OMP_NUM_THREADS": "1", "TORCH_ELASTIC_SHUTDOWN_TIMEOUT": "120"},
        )  # fmt: skip
        try:
            _first_checkpoint(theta_env / "m", launcher, err)
            os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            launcher.wait(timeout=STOP_S)
        finally:
            if launcher.poll() is None:
                os.killpg(launcher.pid, signal.SIGKILL)
    stdout, stderr = out.read_text(), err.read_text()
    both = stdout + stderr
    found = re.search(r"resume with: theta resume (\S+)", stdout)
    assert found is not None, both
    ckpt = theta_env / found.group(1)
    assert checkpoint.stored_world(checkpoint.load_checkpoint(ckpt)) == 2, both
    assert "interrupted at epoch" in stderr and "internal error" not in both, both
    assert "Unable to shutdown process" not in stderr, both  # no worker needed SIGKILL
    # The only traceback is the launcher's own re-raise of the signal (torch's, not theta's).
    assert stderr.count("Traceback (most recent call last)") <= 1, stderr
    assert "Traceback" not in stderr or "SignalException" in stderr, stderr
