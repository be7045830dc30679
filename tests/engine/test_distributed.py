"""Training under torchrun, on the CPU over gloo (the NCCL path's CPU twin).

Two processes with the environment torchrun gives them (one test launches through torchrun
itself). Each run is tiny: K=32, hidden 16, a few steps.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_refused, invoke, only_run, tiny_config, write_config

from theta_cli.artifact import checkpoint
from theta_cli.core.csvlog import read_train_rows
from theta_cli.core.layout import RunLayout
from theta_cli.engine.distributed import Dist, detect

WORKER = Path(__file__).with_name("_ddp_worker.py")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(cwd: Path, args: list[str], fault: str = "none", world: int = 2) -> list:
    """``world`` worker processes with torchrun's environment; returns the Popen objects."""
    port = _port()
    procs = []
    for rank in range(world):
        env = {
            **os.environ,
            "WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
        }  # fmt: skip
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER), fault, *args], cwd=cwd, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
    return procs


def _wait(procs: list, timeout: float = 120) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        so, se = p.communicate(timeout=timeout)
        out.append((p.returncode, so, se))
    return out


def _cfg(theta_env: Path, tiny_data: Path, **changes: object) -> Path:
    base = {"batch_size": 8, "threads": 1, "dist_timeout_s": 30.0, **changes}
    return write_config(theta_env / "c.json", tiny_config(tiny_data, **base))


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_detect_reads_torchrun_environment() -> None:
    assert detect({}) == Dist()
    assert detect({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"}) == Dist(2, 4, 0)
    with pytest.raises(Exception, match="impossible"):
        detect({"WORLD_SIZE": "2", "RANK": "2"})


def test_two_ranks_follow_one_process_with_twice_the_batch(
    theta_env: Path, tiny_data: Path
) -> None:
    """Launched by torchrun itself: 2 x batch 8 ends equal (to float rounding) to 1 x batch 16,
    and only rank 0 wrote files, each once."""
    cfg2 = _cfg(theta_env, tiny_data, dropout=0.0, epochs=1)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node", "2", str(WORKER), "none"]  # fmt: skip
    done = subprocess.run([*torchrun, "--models-dir", "two", "new", "--config", str(cfg2)],
                          cwd=theta_env, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    two = only_run(theta_env / "two")
    cfg1 = write_config(theta_env / "c1.json", tiny_config(
        tiny_data, batch_size=16, threads=1, dropout=0.0, epochs=1))  # fmt: skip
    assert invoke("--models-dir", "one", "new", "--config", cfg1).exit_code == 0
    one = only_run(theta_env / "one")

    assert _files(two.root) == _files(one.root)  # the same files, written once (rank 0)
    rows2, rows1 = read_train_rows(two), read_train_rows(one)
    assert [(r.ckpt_name, r.lr) for r in rows2] == [(r.ckpt_name, r.lr) for r in rows1]
    for a, b in zip(rows2, rows1, strict=True):
        assert a.avg_loss == pytest.approx(b.avg_loss, rel=1e-4)
        assert a.acc_mean == pytest.approx(b.acc_mean, rel=1e-4)
    last = one.checkpoints()[-1][2].name
    w2 = checkpoint.load_checkpoint(two.ckpt_dir / last)[checkpoint.MODEL]
    w1 = checkpoint.load_checkpoint(one.ckpt_dir / last)[checkpoint.MODEL]
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5)
    log = two.runtime_log.read_text()
    assert log.count(f"checkpoint {last}:") == 1, "one process wrote runtime.log"
    assert "checkpoint" not in done.stderr


def test_resume_under_two_ranks_is_bitwise_exact_and_world_size_is_checked(
    theta_env: Path, tiny_data: Path
) -> None:
    cfg = _cfg(theta_env, tiny_data, dropout=0.1, epochs=2)  # dropout: per-rank RNG matters
    outs = _wait(_spawn(theta_env, ["--models-dir", "a", "new", "--config", str(cfg)]))
    assert all(code == 0 for code, _, _ in outs), outs
    a = only_run(theta_env / "a")
    assert checkpoint.load_checkpoint(a.ckpt_path(0, 4))[checkpoint.WORLD] == 2
    shutil.copytree(a.root, theta_env / "b" / a.name)
    b = RunLayout(theta_env / "b" / a.name)
    outs = _wait(_spawn(theta_env, ["resume", str(b.ckpt_path(0, 4))]))
    assert all(code == 0 for code, _, _ in outs), outs
    pa = checkpoint.load_checkpoint(a.ckpt_path(1, 6))
    pb = checkpoint.load_checkpoint(b.ckpt_path(1, 6))
    for k, v in pa[checkpoint.MODEL].items():
        assert torch.equal(v, pb[checkpoint.MODEL][k]), k
    assert read_train_rows(a) == read_train_rows(b)
    # one process may not resume a two-process checkpoint unless told to
    assert_refused(invoke("resume", b.ckpt_path(1, 4)), "written by 2 process(es)",
                   "--allow-world-size-change")  # fmt: skip
    forced = invoke("resume", b.ckpt_path(1, 4), "--allow-world-size-change")
    assert forced.exit_code == 0, forced.stderr
    assert "no longer matches an uninterrupted run exactly" in forced.stderr


def test_a_killed_rank_stops_the_other_with_a_clear_message(
    theta_env: Path, tiny_data: Path
) -> None:
    cfg = _cfg(theta_env, tiny_data, epochs=1, dist_timeout_s=20.0)
    procs = _spawn(theta_env, ["--models-dir", "m", "new", "--config", str(cfg)], "kill1@2")
    (code0, _, err0), (code1, _, _) = _wait(procs, timeout=90)
    assert code1 == -signal.SIGKILL
    assert code0 == 1, err0
    assert "rank 0: lost the other ranks" in err0 and "Traceback" not in err0, err0


def test_ctrl_c_on_one_rank_saves_one_checkpoint_and_prints_the_resume_command(
    theta_env: Path, tiny_data: Path
) -> None:
    cfg = _cfg(theta_env, tiny_data, epochs=1, save_interval=100)
    procs = _spawn(theta_env, ["--models-dir", "m", "new", "--config", str(cfg)], "sigint1@2")
    (code0, out0, err0), (code1, out1, err1) = _wait(procs, timeout=90)
    assert (code0, code1) == (130, 130), err0 + err1
    run = only_run(theta_env / "m")
    assert [p.name for _, _, p in run.checkpoints()] == ["ckpt_epoch0_step2.pt"]
    assert "resume with: theta resume" in out0 and "resume with" not in out1 + err1


@pytest.mark.parametrize(("code", "status", "err"), [(None, 0, "held\n"), (130, 130, "held\n"),
                                                      ("bad input", 1, "bad input\nheld\n")])
def test_hard_exit_keeps_the_status_and_flushes_streams(code, status, err) -> None:  # noqa: ANN001
    """A torchrun worker leaves by os._exit: buffered output and held log records still get out."""
    script = (
        "import logging, logging.handlers, sys\n"
        "from theta_cli.engine.distributed import hard_exit\n"
        "out = logging.StreamHandler(sys.stderr)\n"
        "out.setFormatter(logging.Formatter('%(message)s'))\n"
        "log = logging.getLogger('t'); log.propagate = False\n"
        "log.addHandler(logging.handlers.MemoryHandler(100, target=out))\n"
        "log.warning('held')\n"
        "print('out', end='')\n"
        f"hard_exit({code!r})\n"
        "print('never')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (status, "out", err)
