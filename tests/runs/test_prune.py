from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from _runfab import invoke, make_run, reset_cli_state
from conftest import assert_unlocked, held_lock

from theta_cli.commands import runs as run_commands
from theta_cli.core import csvlog
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout, ckpt_name
from theta_cli.runs import prune

FIVE = ((0, 10), (0, 20), (1, 10), (1, 20), (2, 10))


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    yield from reset_cli_state(monkeypatch, tmp_path)


def _decisions(plan: prune.PrunePlan) -> dict[str, str]:
    return {i.path.name: i.decision for i in plan.items}


def _names(run: RunLayout) -> list[str]:
    return [p.name for _, _, p in run.checkpoints()]


def test_keep_best_and_last(tmp_path: Path) -> None:
    run = make_run(tmp_path / "m", steps=FIVE, acc=[5.0, 1.0, 4.0, 2.0, 3.0])
    plan = prune.plan_prune(run, keep_best=2, keep_last=2)
    assert _decisions(plan) == {
        "ckpt_epoch0_step10.pt": "delete",
        "ckpt_epoch0_step20.pt": "keep (best acc_mean)",
        "ckpt_epoch1_step10.pt": "delete",
        "ckpt_epoch1_step20.pt": "keep (top 2 acc_mean, last 2)",
        "ckpt_epoch2_step10.pt": "keep (newest)",
    }
    assert plan.bytes_freed == sum(i.path.stat().st_size for i in plan.to_delete) > 0


def test_best_and_newest_survive_zero_keeps(tmp_path: Path) -> None:
    run = make_run(tmp_path / "m", steps=FIVE, acc=[5.0, 1.0, 4.0, 2.0, 3.0])
    plan = prune.plan_prune(run, keep_best=0, keep_last=0)
    kept = [i.path.name for i in plan.items if i.keep]
    assert kept == ["ckpt_epoch0_step20.pt", "ckpt_epoch2_step10.pt"]


def test_checkpoint_missing_from_csv_is_kept(tmp_path: Path) -> None:
    run = make_run(tmp_path / "m", steps=FIVE, acc=[5.0, 1.0, 4.0, 2.0, 3.0],
                   in_csv=[True, True, False, True, True])
    plan = prune.plan_prune(run, keep_best=0, keep_last=0)
    item = {i.path.name: i for i in plan.items}["ckpt_epoch1_step10.pt"]
    assert item.keep and item.metric is None and prune.NOT_IN_CSV in item.decision


def test_last_csv_row_wins_and_nan_ranks_last(tmp_path: Path) -> None:
    run = make_run(tmp_path / "m", steps=FIVE, acc=[5.0, 1.0, 4.0, 2.0, 3.0])
    # A resume rewrote ckpt_epoch0_step20 later with a worse score; step10 of epoch 1 is NaN.
    csvlog.append_train_row(run, csvlog.TrainRow(ckpt_name(0, 20), 0, 20, 1, 9.0, 9, 1, 1e-4, 1))
    csvlog.append_train_row(
        run, csvlog.TrainRow(ckpt_name(1, 10), 1, 10, 1, math.nan, 9, 1, 1e-4, 1))
    plan = prune.plan_prune(run, keep_best=1, keep_last=1)
    assert _decisions(plan)["ckpt_epoch1_step20.pt"] == "keep (best acc_mean)"
    assert _decisions(plan)["ckpt_epoch0_step20.pt"] == "delete"
    assert _decisions(plan)["ckpt_epoch1_step10.pt"] == "delete"


def test_metric_option(tmp_path: Path) -> None:
    # avg_loss = 1/(i+1) in the fabricated run: the newest is also the best.
    run = make_run(tmp_path / "m", steps=FIVE, acc=[1.0, 2.0, 3.0, 4.0, 5.0])
    plan = prune.plan_prune(run, keep_best=1, keep_last=0, metric="avg_loss")
    assert [i.path.name for i in plan.items if i.keep] == ["ckpt_epoch2_step10.pt"]
    assert _decisions(plan)["ckpt_epoch2_step10.pt"] == "keep (best avg_loss, newest)"
    with pytest.raises(ThetaError, match="--metric 'lr'"):
        prune.plan_prune(run, metric="lr")
    with pytest.raises(ThetaError, match="--keep-best -1"):
        prune.plan_prune(run, keep_best=-1)


def test_execute_refuses_outside_ckpt_dir(tmp_path: Path) -> None:
    run = make_run(tmp_path / "m", steps=FIVE[:2])
    outside = run.log_dir / "ckpt_epoch9_step9.pt"
    outside.write_bytes(b"x")
    bad = prune.PrunePlan(run, "acc_mean", 0, 0, (prune.PruneItem(outside, 9, 9, 1, 1.0, ()),))
    with pytest.raises(ThetaError, match="outside"):
        prune.execute(bad)
    assert outside.exists()


def test_cli_dry_run_deletes_nothing(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models", steps=FIVE, acc=[5.0, 1.0, 4.0, 2.0, 3.0])
    res = invoke(tmp_path / "models", "prune", run.name, "--keep-best", "1", "--keep-last", "1",
                 "--dry-run")
    assert res.exit_code == 0, res.output
    assert len(_names(run)) == 5
    assert "keep (best acc_mean)" in res.stdout and "delete" in res.stdout
    assert "frees" in res.stdout and "dry run" in res.stdout


def test_cli_refuses_non_interactive_without_yes(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models", steps=FIVE)
    res = invoke(tmp_path / "models", "prune", run.name)
    assert res.exit_code == 2 and "--yes" in res.stderr and "non-interactive" in res.stderr
    assert len(_names(run)) == 5


def test_cli_yes_deletes_and_logs(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models", steps=FIVE, acc=[5.0, 1.0, 4.0, 2.0, 3.0],
                   in_csv=[True, True, True, False, True])
    (run.ckpt_dir / "notes.txt").write_text("mine")
    res = invoke(tmp_path / "models", "prune", run.name, "--keep-best", "1", "--keep-last", "1",
                 "--yes")
    assert res.exit_code == 0, res.output
    assert _names(run) == ["ckpt_epoch0_step20.pt", "ckpt_epoch1_step20.pt",
                           "ckpt_epoch2_step10.pt"]
    assert (run.ckpt_dir / "notes.txt").read_text() == "mine"
    assert_unlocked(run)
    log = run.runtime_log.read_text()
    assert "deleted" in log and "ckpt_epoch0_step10.pt" in log
    assert len(csvlog.read_train_rows(run)) == 4  # history is kept


@pytest.mark.parametrize(("answer", "code", "left"), [("y\n", 0, 2), ("n\n", 1, 5)])
def test_cli_interactive_confirmation(tmp_path: Path, monkeypatch, answer, code, left) -> None:
    run = make_run(tmp_path / "models", steps=FIVE, acc=[5.0, 1.0, 4.0, 2.0, 3.0])
    monkeypatch.setattr(run_commands, "_interactive", lambda: True)
    from typer.testing import CliRunner

    from theta_cli.cli import app

    res = CliRunner().invoke(app, ["--models-dir", str(tmp_path / "models"), "prune", run.name,
                                   "--keep-best", "0", "--keep-last", "0"], input=answer)
    assert res.exit_code == code, res.output
    assert len(_names(run)) == left


def test_cli_refuses_while_run_is_locked(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models", steps=FIVE)
    with held_lock(run.lock_path, "theta new") as pid:
        res = invoke(tmp_path / "models", "prune", run.name, "--keep-last", "0", "--yes")
    assert res.exit_code == 2 and f"in use by pid {pid}" in res.stderr
    assert len(_names(run)) == 5


def test_cli_unknown_run(tmp_path: Path) -> None:
    make_run(tmp_path / "models")
    res = invoke(tmp_path / "models", "prune", "ghost", "--dry-run")
    assert res.exit_code == 2 and "ghost: no such run" in res.stderr
    assert "mlp_20260101_000000" in res.stderr


def test_resume_trains_after_prune(tiny_run: RunLayout, tmp_path: Path) -> None:
    # Prune the real tiny run as hard as the options allow, then train one more epoch from the
    # newest checkpoint. --save-interval past the epoch's 6 steps keeps it to one checkpoint
    # (at the epoch's end): a couple of seconds.
    models = tmp_path / "models"
    shutil.copytree(tiny_run.root, models / tiny_run.name)
    run = RunLayout(models / tiny_run.name)
    before = _names(run)
    newest = run.checkpoints()[-1][2]
    res = invoke(models, "prune", run.name, "--keep-best", "0", "--keep-last", "0", "--yes")
    assert res.exit_code == 0, res.output + res.stderr
    assert newest.is_file() and len(_names(run)) < len(before)
    epochs = json.loads(run.config_path.read_text())["epochs"]
    rows_before = csvlog.read_train_rows(run)

    res = invoke(models, "resume", str(newest), "--epochs", str(epochs + 1),
                 "--save-interval", "1000")
    assert res.exit_code == 0, res.output + res.stderr
    last_epoch, _, last = run.checkpoints()[-1]
    assert last_epoch == epochs  # one more epoch, trained from the newest checkpoint
    rows = csvlog.read_train_rows(run)
    assert rows[: len(rows_before)] == rows_before and rows[-1].ckpt_name == last.name
    assert json.loads(run.config_path.read_text())["epochs"] == epochs + 1
