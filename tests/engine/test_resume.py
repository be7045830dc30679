"""`theta resume`: exactness, both path spellings, --next-epoch, nothing left, Ctrl-C, the lock,
and every bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import (
    assert_refused,
    assert_unlocked,
    held_lock,
    invoke,
    only_run,
    tiny_config,
    write_config,
)

from theta_cli.artifact import checkpoint
from theta_cli.core.config import load_run_config
from theta_cli.core.csvlog import read_train_rows
from theta_cli.core.layout import RunLayout
from theta_cli.engine import recipe

pytestmark = pytest.mark.usefixtures("theta_env")


def _copy_run(run: RunLayout, dest: Path) -> RunLayout:
    shutil.copytree(run.root, dest / run.name)
    return RunLayout(dest / run.name)


def _assert_same_state(a: Path, b: Path) -> None:
    """Bitwise-identical weights and optimizer state; same schedule position and step."""
    pa, pb = checkpoint.load_checkpoint(a), checkpoint.load_checkpoint(b)
    ma, mb = pa[checkpoint.MODEL], pb[checkpoint.MODEL]
    assert ma.keys() == mb.keys()
    for k in ma:
        assert torch.equal(ma[k], mb[k]), f"weights differ at {k}"
    oa, ob = pa[checkpoint.OPTIMIZER], pb[checkpoint.OPTIMIZER]
    assert oa["param_groups"] == ob["param_groups"]
    assert oa["state"].keys() == ob["state"].keys()
    for i in oa["state"]:
        for k, v in oa["state"][i].items():
            assert torch.equal(v, ob["state"][i][k]), f"optimizer state {i}.{k} differs"
    assert pa[checkpoint.SCHEDULER] == pb[checkpoint.SCHEDULER]
    assert torch.equal(pa[checkpoint.RNG], pb[checkpoint.RNG])
    for key in (checkpoint.EPOCH, checkpoint.STEP, checkpoint.GLOBAL_STEP, checkpoint.LR):
        assert pa[key] == pb[key]


def _resume_command(stdout: str) -> list[str]:
    m = re.search(r"resume with: (theta resume .+)$", stdout, re.M)
    assert m, stdout
    return shlex.split(m.group(1))[1:]


def _sigint_during_checkpoint(monkeypatch: pytest.MonkeyPatch, nth: int) -> None:
    """Press Ctrl-C while the nth checkpoint is being evaluated (a real SIGINT)."""
    real = recipe.quick_val_acc
    calls = {"n": 0}

    def with_sigint(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == nth:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(recipe, "quick_val_acc", with_sigint)


# ---- the exactness guarantee -----------------------------------------------------------------


def test_stop_at_mid_epoch_checkpoint_then_resume_is_bitwise_identical(
    theta_env: Path, tiny_data: Path, tiny_run: RunLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run A is tiny_run: 2 epochs x 6 steps uninterrupted, same config.
    # Run B: Ctrl-C lands during the first checkpoint (epoch 0, step 4 of 6) ...
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data))
    _sigint_during_checkpoint(monkeypatch, nth=1)
    stopped = invoke("--models-dir", "models", "new", "--config", cfg)
    assert stopped.exit_code == 130, stopped.output + stopped.stderr
    run_b = only_run(theta_env / "models")
    assert [p.name for _, _, p in run_b.checkpoints()] == ["ckpt_epoch0_step4.pt"]
    assert_unlocked(run_b)
    args = _resume_command(stopped.stdout)
    assert Path(args[1]).resolve() == run_b.ckpt_path(0, 4).resolve()
    monkeypatch.undo()
    monkeypatch.chdir(theta_env)
    # ... then is resumed with the printed command, in the same epoch at step 5.
    resumed = invoke(*args)
    assert resumed.exit_code == 0, resumed.output + resumed.stderr
    assert "starting at epoch 0 step 4" in resumed.stdout
    _assert_same_state(tiny_run.ckpt_path(1, 6), run_b.ckpt_path(1, 6))
    _assert_same_state(tiny_run.ckpt_path(0, 6), run_b.ckpt_path(0, 6))
    assert read_train_rows(run_b) == read_train_rows(tiny_run)
    assert load_run_config(run_b.config_path) == load_run_config(tiny_run.config_path)


def test_ctrl_c_mid_step_saves_the_current_step_and_resumes_exactly(
    theta_env: Path, tiny_data: Path, tiny_run: RunLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    # KeyboardInterrupt inside the 3rd step's forward pass (dropout has drawn from the RNG
    # already): the checkpoint must hold step 2 and the RNG state from before that step.
    real_loss = recipe.TrainingRecipe.loss
    calls = {"n": 0}

    def interrupted(self, xb, vb, tb):  # noqa: ANN001, ANN202
        loss = real_loss(self, xb, vb, tb)
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return loss

    monkeypatch.setattr(recipe.TrainingRecipe, "loss", interrupted)
    # save_interval changes which checkpoints exist, never the training itself
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, save_interval=100))
    stopped = invoke("--models-dir", "models", "new", "--config", cfg)
    assert stopped.exit_code == 130, stopped.output + stopped.stderr
    run = only_run(theta_env / "models")
    assert [p.name for _, _, p in run.checkpoints()] == ["ckpt_epoch0_step2.pt"]
    assert read_train_rows(run)[-1].ckpt_name == "ckpt_epoch0_step2.pt"
    assert "interrupted at epoch 0 step 2" in stopped.stderr
    # the epoch's line shows where it stopped, and the resume command is the last word
    out = stopped.stdout.splitlines()
    assert out[-1].startswith("resume with: theta resume ")
    assert re.match(r"epoch 1/2  step 2/6  loss \S+ ", out[-2]), out[-3:]
    assert_unlocked(run)
    args = _resume_command(stopped.stdout)
    monkeypatch.undo()
    monkeypatch.chdir(theta_env)
    # Resume, and stop again (Ctrl-C) once the end-of-epoch checkpoint is being written.
    _sigint_during_checkpoint(monkeypatch, nth=1)
    resumed = invoke(*args)
    assert resumed.exit_code == 130, resumed.output + resumed.stderr
    assert [p.name for _, _, p in run.checkpoints()][-1] == "ckpt_epoch0_step6.pt"
    _assert_same_state(tiny_run.ckpt_path(0, 6), run.ckpt_path(0, 6))


# ---- resume variants -------------------------------------------------------------------------


def test_spec_spelling_resumes_and_sets_later_history_aside(
    theta_env: Path, tiny_run: RunLayout
) -> None:
    run = _copy_run(tiny_run, theta_env)
    spec_name = run.ckpt_dir / "ckpt_epoch_1_step_4.pt"
    os.replace(run.ckpt_path(1, 4), spec_name)
    result = invoke("resume", spec_name)
    assert result.exit_code == 0, result.output + result.stderr
    assert "later checkpoint(s) moved to" in result.stderr
    aside = list(run.ckpt_dir.glob("superseded_*/ckpt_epoch1_step6.pt"))
    assert len(aside) == 1, "the old continuation is kept, not overwritten"
    assert len(list(run.log_dir.glob("train_data.superseded_*.csv"))) == 1
    # two steps replayed from the same state, order and RNG: the same end state
    _assert_same_state(tiny_run.ckpt_path(1, 6), run.ckpt_path(1, 6))
    assert read_train_rows(run) == read_train_rows(tiny_run)
    assert_unlocked(run)


def test_next_epoch_and_more_epochs_extend_the_run(theta_env: Path, tiny_run: RunLayout) -> None:
    run = _copy_run(tiny_run, theta_env)
    result = invoke(
        "resume", run.ckpt_path(1, 4), "--next-epoch", "--epochs", "3", "--save-interval", "100",
        "--threads", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert "starting at epoch 2 step 0" in result.stdout
    # the rest of epoch 1 is skipped: its later row and checkpoint are set aside, not mixed in
    rows = read_train_rows(run)
    assert [(r.epoch, r.step) for r in rows] == [(0, 4), (0, 6), (1, 4), (2, 6)]
    assert [p.name for _, _, p in run.checkpoints()][-2:] == [
        "ckpt_epoch1_step4.pt",
        "ckpt_epoch2_step6.pt",
    ]
    rc = load_run_config(run.config_path)
    assert (rc.epochs, rc.save_interval, rc.epoch, rc.step, rc.global_step) == (3, 100, 2, 6, 16)
    assert rc.threads == 1 and "on cpu (1 thread)" in result.stdout
    payload = checkpoint.load_checkpoint(run.ckpt_path(2, 6))
    # warm-up is not repeated: the schedule continued from step 10, and now ends at step 18
    sched = payload[checkpoint.SCHEDULER]
    assert (sched["step_count"], sched["total_steps"]) == (16, 18)
    assert "epoch 3/3  step 6/6" in result.stdout


def test_nothing_left_says_so_and_writes_nothing(theta_env: Path, tiny_run: RunLayout) -> None:
    run = _copy_run(tiny_run, theta_env)
    before = _snapshot(run)
    for args in (["resume", run.ckpt_path(1, 6)], ["resume", run.ckpt_path(1, 4), "--next-epoch"]):
        result = invoke(*args)
        assert result.exit_code == 0, result.stderr
        assert "nothing left to train" in result.stdout and "--epochs" in result.stdout
    assert _snapshot(run) == before


# ---- the lock --------------------------------------------------------------------------------


def test_a_live_lock_refuses_a_second_writer(theta_env: Path, tiny_run: RunLayout) -> None:
    run = _copy_run(tiny_run, theta_env)
    host = __import__("socket").gethostname()
    with held_lock(run.lock_path, "x") as pid:
        result = invoke("resume", run.ckpt_path(1, 4), "--epochs", "3")
    assert result.exit_code == 2
    assert f"run is in use by pid {pid} on {host}" in result.stderr
    assert len(list(run.ckpt_dir.glob("*.pt"))) == 4


# ---- bad input -------------------------------------------------------------------------------


def _snapshot(run: RunLayout) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in run.root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (["--set", "hidden=32"], ("hidden: cannot change on resume", "architecture")),
        (["--set", "lr=0.1"], ("lr: cannot change on resume", "optimizer")),
        (["--set", "seed=3"], ("seed: cannot change on resume", "order")),
        (["--set", "t_weight=2"], ("t_weight: cannot change on resume", "objective")),
        (["--set", "bogus=3"], ("bogus: unknown field",)),
        (["--epochs", "0"], ("epochs=0",)),
    ],
)
def test_unsafe_overrides_are_refused(theta_env: Path, tiny_run: RunLayout, flags, needles) -> None:  # noqa: ANN001
    run = _copy_run(tiny_run, theta_env)
    before = _snapshot(run)
    assert_refused(invoke("resume", run.ckpt_path(1, 4), *flags), *needles)
    assert _snapshot(run) == before


def test_bad_checkpoint_paths_are_refused(theta_env: Path, tiny_run: RunLayout) -> None:
    run = _copy_run(tiny_run, theta_env)
    before = _snapshot(run)
    assert_refused(invoke("resume", run.ckpt_dir / "ckpt_epoch9_step9.pt"), "checkpoint not found")
    odd = run.ckpt_dir / "last.pt"
    shutil.copy(run.ckpt_path(1, 4), odd)
    before[odd] = odd.stat().st_mtime_ns
    assert_refused(invoke("resume", odd), "last.pt", "not a checkpoint name")
    renamed = run.ckpt_dir / "ckpt_epoch0_step1.pt"
    shutil.copy(run.ckpt_path(1, 4), renamed)
    before[renamed] = renamed.stat().st_mtime_ns
    assert_refused(invoke("resume", renamed), "holds epoch 1 step 4")
    assert _snapshot(run) == before


def test_run_without_config_json_is_refused(theta_env: Path, tiny_run: RunLayout) -> None:
    run = _copy_run(tiny_run, theta_env)
    run.config_path.unlink()
    before = _snapshot(run)
    assert_refused(invoke("resume", run.ckpt_path(1, 4)), "config.json", "run has no config.json")
    assert _snapshot(run) == before


def test_checkpoint_from_another_architecture_is_refused(
    theta_env: Path, tiny_run: RunLayout
) -> None:
    run = _copy_run(tiny_run, theta_env)
    payload = checkpoint.load_checkpoint(run.ckpt_path(1, 4))
    payload[checkpoint.CONFIG]["hidden"] = 32
    checkpoint.save_checkpoint(run.ckpt_path(1, 4), payload)
    before = _snapshot(run)
    assert_refused(
        invoke("resume", run.ckpt_path(1, 4)), "another architecture", "hidden=32", "hidden=16"
    )
    # same config, weights of another shape: refused when loading the weights
    payload[checkpoint.CONFIG]["hidden"] = 16
    payload[checkpoint.MODEL] = {k: v[:1] for k, v in payload[checkpoint.MODEL].items()}
    checkpoint.save_checkpoint(run.ckpt_path(1, 4), payload)
    before[run.ckpt_path(1, 4)] = run.ckpt_path(1, 4).stat().st_mtime_ns
    assert_refused(
        invoke("resume", run.ckpt_path(1, 4)),
        "weights do not match the config's architecture",
        "time.mlp.0.weight",
    )
    assert _snapshot(run) == before


class _Payload:
    """Unpickling this would run os.system and create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def test_malicious_pickle_checkpoint_is_refused_and_never_runs(
    theta_env: Path, tiny_run: RunLayout
) -> None:
    run = _copy_run(tiny_run, theta_env)
    marker = theta_env / "pwned"
    payload = checkpoint.load_checkpoint(run.ckpt_path(1, 4))
    payload["extra"] = _Payload(marker)
    evil = run.ckpt_path(1, 5)
    torch.save(payload, evil)
    before = _snapshot(run)
    assert_refused(invoke("resume", evil), "refused", "pickled code")
    assert not marker.exists(), "the payload ran"
    assert _snapshot(run) == before


# ---- a full disk ------------------------------------------------------------------------------


def test_disk_full_while_checkpointing_says_so_and_resume_is_exact(
    theta_env: Path, tiny_data: Path, tiny_run: RunLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC half way through writing ckpt_epoch1_step4: one line naming the file and the last
    complete checkpoint, exit 1, no temp file, the lock released; resuming is exact."""
    real_write = os.write

    def full_disk(fd: int, data) -> int:  # noqa: ANN001
        if ".ckpt_epoch1_step4.pt." in os.readlink(f"/proc/self/fd/{fd}"):
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data))
    result = invoke("--models-dir", "models", "new", "--config", cfg)
    monkeypatch.undo()
    monkeypatch.chdir(theta_env)
    assert result.exit_code == 1, result.stdout + result.stderr
    run = only_run(theta_env / "models")
    err = result.stderr.strip()
    assert err == (
        f"theta: error: no space left on device while writing {run.ckpt_path(1, 4)}; "
        f"the last complete checkpoint is {run.ckpt_path(0, 6)}"
    )
    assert sorted(p.name for p in run.ckpt_dir.iterdir()) == [
        "ckpt_epoch0_step4.pt", "ckpt_epoch0_step6.pt"
    ]
    assert not [p for p in run.root.rglob("*.tmp")], "no temporary file is left"
    assert_unlocked(run)
    resumed = invoke("resume", run.ckpt_path(0, 6))
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    _assert_same_state(run.ckpt_path(1, 6), tiny_run.ckpt_path(1, 6))


# ---- Ctrl-C at the edges -----------------------------------------------------------------------


def test_double_ctrl_c_during_the_first_checkpoint_names_it(
    theta_env: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two SIGINTs 20 ms apart right after ckpt_epoch0_step4.pt appears: the second lands
    before the loop records the checkpoint; the resume command must still name it."""
    real_save = checkpoint.save_checkpoint

    def save_then_two_sigints(path, payload):  # noqa: ANN001, ANN202
        real_save(path, payload)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)  # the second one raises at once
        time.sleep(0.02)

    monkeypatch.setattr(checkpoint, "save_checkpoint", save_then_two_sigints)
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data))
    result = invoke("--models-dir", "models", "new", "--config", cfg)
    assert result.exit_code == 130, result.stdout + result.stderr
    run = only_run(theta_env / "models")
    assert [p.name for _, _, p in run.checkpoints()] == ["ckpt_epoch0_step4.pt"]
    args = _resume_command(result.stdout)
    assert Path(args[1]).resolve() == run.ckpt_path(0, 4).resolve()
    assert_unlocked(run)


def test_ctrl_c_when_training_has_finished_exits_cleanly(theta_env: Path, tiny_data: Path) -> None:
    """A real process, SIGINT as the run finishes and as the interpreter exits: exit 130 (the
    run complete) or 0, never a traceback or death by the signal."""
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, epochs=1))
    for i, delay in enumerate((0.0, 0.01)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "theta_cli", "--models-dir", f"m{i}", "new", "--config", cfg],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("finished"):
                time.sleep(delay)
                proc.send_signal(signal.SIGINT)
                break
        _, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, 130), (proc.returncode, err)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        if proc.returncode == 130:
            assert "the run is complete" in err, err


# ---- a kill between a checkpoint and its row --------------------------------------------------


def test_kill_between_checkpoint_and_row_then_resume_restores_the_row(
    theta_env: Path, tiny_data: Path, tiny_run: RunLayout
) -> None:
    """kill -9 right after ckpt_epoch0_step6.pt is renamed into place, before its CSV row: the
    resume restores that row from the checkpoint, and the run ends with the uninterrupted rows."""
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data))
    code = (
        "import os, signal\n"
        "from theta_cli.core import csvlog\n"
        "from theta_cli.cli import main\n"
        "real, calls = csvlog.append_train_row, []\n"
        "def append(run, row):\n"
        "    calls.append(row)\n"
        "    if len(calls) == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    real(run, row)\n"
        "csvlog.append_train_row = append\n"
        f"main(['--models-dir', 'models', 'new', '--config', {str(cfg)!r}])\n"
    )
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=theta_env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = only_run(theta_env / "models")
    assert [p.name for _, _, p in run.checkpoints()][-1] == "ckpt_epoch0_step6.pt"
    assert [r.ckpt_name for r in read_train_rows(run)] == ["ckpt_epoch0_step4.pt"]
    resumed = invoke("--models-dir", "models", "resume", run.ckpt_path(0, 6))
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    assert "restored the row(s) of ckpt_epoch0_step6.pt" in resumed.stderr
    assert read_train_rows(run) == read_train_rows(tiny_run)


def test_resume_removes_temp_files_of_killed_writes_and_info_reports_them(
    theta_env: Path, tiny_run: RunLayout
) -> None:
    run = _copy_run(tiny_run, theta_env)
    planted = {
        run.ckpt_dir / ".ckpt_epoch1_step6.pt.k3j2h1g0.tmp": b"x" * 4096,
        run.log_dir / ".train_data.csv.a1b2c3d4.tmp": b"ckpt_name,ep",
        run.log_dir / ".config.json.zz99yy88.tmp": b"{",
        run.fig_dir / ".loss-ckpt.png.q1w2e3r4.tmp": b"\x89PNG",
    }
    # eval-bytes and bench write their CSVs without the run lock: these may be live
    live = [run.log_dir / n for n in (".byte_wise_err.csv.m5n6b7v8.tmp", ".bench.csv.p0o9i8u7.tmp")]
    for path, data in {**planted, **{p: b"ckpt" for p in live}}.items():
        path.write_bytes(data)
    shown = json.loads(invoke("info", str(run.root), "--json").stdout)["temp_files"]
    assert sorted(f["path"] for f in shown) == sorted(str(p) for p in [*planted, *live])
    human = invoke("info", str(run.root))
    assert "6 temporary file(s) left by an interrupted write" in " ".join(human.stdout.split())
    resumed = invoke("resume", run.ckpt_path(1, 4), "--epochs", "2")
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    assert "removed 4 temporary file(s)" in resumed.stdout
    assert not any(p.exists() for p in planted) and all(p.exists() for p in live)
