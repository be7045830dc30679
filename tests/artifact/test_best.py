"""artifact.best: the one rule for the best checkpoint, and every user of it agreeing on it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from _runfab import invoke, make_run, reset_cli_state

from theta_cli.artifact import best
from theta_cli.artifact import resolve as find
from theta_cli.core import csvlog
from theta_cli.runs import info, prune

FIVE = [(0, 10), (0, 20), (1, 10), (1, 20), (2, 10)]


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    yield from reset_cli_state(monkeypatch, tmp_path)


@pytest.mark.parametrize(
    "acc, expected",
    [
        ([5.0, 1.0, 4.0, 1.0, 3.0], "ckpt_epoch1_step20.pt"),  # a tie: the newer wins
        ([math.nan, 2.0, math.nan, 2.5, 9.0], "ckpt_epoch0_step20.pt"),  # NaN ranks last
        ([1.0, 1.0, 1.0, 1.0, 1.0], "ckpt_epoch2_step10.pt"),  # all tied: the newest
    ],
)
def test_info_prune_and_denoise_agree_on_the_best(tmp_path: Path, acc, expected) -> None:
    run = make_run(tmp_path / "models", steps=FIVE, acc=acc)
    assert best.best_checkpoint(run).name == expected
    rows = csvlog.read_train_rows(run)
    marked = [c["name"] for c in info.checkpoints(run, rows) if c["best"]]
    assert marked == [expected]
    assert info.run_details(run)["best_ckpt"] == expected
    plan = prune.plan_prune(run, keep_best=1, keep_last=0)
    protected = [i.path.name for i in plan.items if "best acc_mean" in i.decision]
    assert protected == [expected]
    kind, path, _ = find.resolve_model_ref(str(run.root))
    assert (kind, path.name) == ("checkpoint", expected)
    shown = json.loads(invoke(tmp_path / "models", "info", "--json").stdout)
    assert shown["runs"][0]["best_ckpt"] == expected
