"""`theta resume` trains with the checkpoint's own config: an edit of log/config.json outside
the resume-mutable fields is refused (one line naming the field and both values, exit 2,
nothing written), and an unedited or mutably edited config.json resumes as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import assert_refused, invoke

from theta_cli.artifact import checkpoint
from theta_cli.core.config import load_run_config
from theta_cli.core.csvlog import read_train_rows
from theta_cli.core.layout import RunLayout

pytestmark = pytest.mark.usefixtures("theta_env")


def _copy_run(run: RunLayout, dest: Path) -> RunLayout:
    shutil.copytree(run.root, dest / run.name)
    return RunLayout(dest / run.name)


def _edit_config(run: RunLayout, **changes: object) -> None:
    data = json.loads(run.config_path.read_text())
    data.update(changes)
    run.config_path.write_text(json.dumps(data))


def _snapshot(run: RunLayout) -> dict[Path, tuple[int, bytes]]:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("field", "edited", "trained"),
    [("seed", 7, 0), ("batch_size", 8, 16), ("lr_init", 0.01, 0.001)],
)
def test_an_edited_frozen_field_is_refused_and_nothing_is_written(
    theta_env: Path, tiny_run: RunLayout, field: str, edited: object, trained: object
) -> None:
    run = _copy_run(tiny_run, theta_env)
    _edit_config(run, **{field: edited})
    before = _snapshot(run)
    result = invoke("resume", run.ckpt_path(1, 4))
    assert_refused(
        result,
        f"log/config.json: {field} is {edited} but the checkpoint was trained with {field} "
        f"{trained}; resume keeps the checkpoint's config (edit it back, or start a new run)",
    )
    assert _snapshot(run) == before
    # the resume overrides still go through the same guard: an allowed one does not hide it
    assert_refused(invoke("resume", run.ckpt_path(1, 4), "--epochs", "3"), f"{field} is {edited}")
    assert _snapshot(run) == before


def test_an_unedited_config_resumes_exactly(theta_env: Path, tiny_run: RunLayout) -> None:
    run = _copy_run(tiny_run, theta_env)  # config.json is at epoch 1 step 6, the checkpoint at 4
    result = invoke("resume", run.ckpt_path(1, 4))
    assert result.exit_code == 0, result.output + result.stderr
    assert "starting at epoch 1 step 4" in result.stdout
    a = checkpoint.load_checkpoint(tiny_run.ckpt_path(1, 6))
    b = checkpoint.load_checkpoint(run.ckpt_path(1, 6))
    for k, v in a[checkpoint.MODEL].items():
        assert torch.equal(v, b[checkpoint.MODEL][k]), f"weights differ at {k}"
    assert read_train_rows(run) == read_train_rows(tiny_run)
    assert load_run_config(run.config_path) == load_run_config(tiny_run.config_path)


def test_a_resume_mutable_edit_of_config_json_is_kept(theta_env: Path, tiny_run: RunLayout) -> None:
    run = _copy_run(tiny_run, theta_env)
    _edit_config(run, epochs=3, log_interval=3)
    result = invoke("resume", run.ckpt_path(1, 6))
    assert result.exit_code == 0, result.output + result.stderr
    assert "starting at epoch 2 step 0" in result.stdout and "epoch 3/3" in result.stdout
    rc = load_run_config(run.config_path)
    assert (rc.epochs, rc.log_interval, rc.seed, rc.batch_size) == (3, 3, 0, 16)
    assert [(e, s) for e, s, _ in run.checkpoints()][-1] == (2, 6)
