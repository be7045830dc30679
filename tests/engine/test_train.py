"""`theta new` end to end, and every bad input refused before anything is written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from conftest import (
    TINY_K,
    assert_refused,
    assert_unlocked,
    invoke,
    only_run,
    tiny_config,
    write_config,
)

from theta_cli.artifact import checkpoint
from theta_cli.core.config import RunConfig, load_run_config
from theta_cli.core.csvlog import read_train_rows
from theta_cli.core.layout import TRAIN_CSV_HEADER, RunLayout
from theta_cli.data import epochfile
from theta_cli.engine import recipe, rundir

pytestmark = pytest.mark.usefixtures("theta_env")

LOG_LINE = re.compile(r"^\[ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \]\[ (INFO|WARNING|ERROR|DEBUG) \] ")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _delta(run: RunLayout) -> float:
    path = load_run_config(run.config_path).huber_delta_path
    return json.loads(Path(path).read_text())["delta"]


def test_new_makes_the_full_run_layout(tiny_run: RunLayout) -> None:
    run = tiny_run
    assert re.fullmatch(r"hybrid_\d{8}_\d{6}(_\d+)?", run.name)
    for d in (run.log_dir, run.ckpt_dir, run.fig_dir):
        assert d.is_dir()
    names = [p.name for _, _, p in run.checkpoints()]
    # epoch_limit 96 / batch 16 = 6 steps per epoch; save_interval 4: one mid-epoch ckpt per epoch,
    # and the end-of-epoch one carries the epoch's step count.
    assert names == [
        "ckpt_epoch0_step4.pt",
        "ckpt_epoch0_step6.pt",
        "ckpt_epoch1_step4.pt",
        "ckpt_epoch1_step6.pt",
    ]
    assert_unlocked(run)
    assert not list(run.root.rglob("*.tmp")), "no temporary file left behind"


def test_train_csv_rows_under_the_exact_header(tiny_run: RunLayout) -> None:
    first = tiny_run.train_csv.read_text().splitlines()[0]
    assert first == ",".join(TRAIN_CSV_HEADER)
    rows = read_train_rows(tiny_run)
    assert [r.ckpt_name for r in rows] == [p.name for _, _, p in tiny_run.checkpoints()]
    assert [(r.epoch, r.step) for r in rows] == [(0, 4), (0, 6), (1, 4), (1, 6)]
    for r in rows:
        assert r.huber_loss_delta == _delta(tiny_run)
        assert 0 < r.acc_median and 0 <= r.acc_std and r.acc_mean > 0 and r.avg_loss > 0
    # warm-up (2 steps) then cosine down towards min_lr: the lr falls checkpoint by checkpoint
    lrs = [r.lr for r in rows]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 1e-4


def test_config_json_is_updated_at_each_checkpoint(tiny_run: RunLayout) -> None:
    rc = load_run_config(tiny_run.config_path)
    last = read_train_rows(tiny_run)[-1]
    assert (rc.epoch, rc.step, rc.global_step) == (1, 6, 12)
    assert rc.lr == pytest.approx(last.lr) and rc.lr_init == 1e-3
    assert rc.delta_curr == _delta(tiny_run)
    payload = checkpoint.load_checkpoint(tiny_run.ckpt_path(1, 6))
    assert RunConfig.model_validate(payload[checkpoint.CONFIG]) == rc
    assert payload[checkpoint.GLOBAL_STEP] == 12 and payload[checkpoint.LR] == rc.lr
    assert isinstance(payload[checkpoint.RNG], torch.Tensor)


def test_both_charts_are_valid_pngs(tiny_run: RunLayout) -> None:
    import matplotlib.image as mpimg

    for png in (tiny_run.loss_png, tiny_run.acc_png):
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert mpimg.imread(png).shape[0] > 50


def test_runtime_log_holds_every_printed_line(theta_env: Path, tiny_data: Path) -> None:
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, epochs=1, save_interval=100))
    result = invoke("--models-dir", "models", "new", "--config", cfg, "--set", "cpu=false")
    assert result.exit_code == 0, result.output + result.stderr
    run = only_run(theta_env / "models")
    text = run.runtime_log.read_text()
    lines = text.splitlines()
    assert lines and all(LOG_LINE.match(ln) for ln in lines), lines[:3]
    bodies = [LOG_LINE.sub("", ln) for ln in lines]
    printed = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert printed, "something was printed"
    for ln in printed:
        assert ln in bodies, f"printed but not in runtime.log: {ln!r}"
    # The warning went to stderr and the file; the full config is in the file only.
    assert "CUDA is not available" in result.stderr
    assert any("[ WARNING ] CUDA is not available" in ln for ln in lines)
    assert any(b.startswith("config: {") for b in bodies)
    assert any(b.startswith("checkpoint ckpt_epoch0_step6.pt: loss ") for b in bodies)
    live = re.compile(r"epoch 1/1  step 6/6  loss \S+  lr \S+  .*samples/s  took \d+:\d\d:\d\d$")
    assert any(live.match(b) for b in bodies)


def test_two_runs_started_in_the_same_second_get_distinct_directories(
    theta_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt, *a: "20261122_101500")
    models = theta_env / "models"
    first, second = rundir.claim_run_dir("hybrid", models), rundir.claim_run_dir("hybrid", models)
    assert first.name == "hybrid_20261122_101500"
    assert second.name == "hybrid_20261122_101500_2"


def test_options_override_the_config(theta_env: Path, tiny_data: Path) -> None:
    threads_before = torch.get_num_threads()
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, save_interval=100))
    result = invoke(
        "--models-dir", "m", "new", "--config", cfg, "--model-type", "cnn1d", "--layers", "1",
        "--hidden", "8", "--epochs", "1", "--batch-size", "32", "--lr", "0.002",
        "--set", "seed=7", "--set", "early_stop_patience=3", "--threads", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "on cpu (1 thread)" in result.stdout
    assert torch.get_num_threads() == threads_before, "the caller's thread count is restored"
    run = only_run(theta_env / "m")
    rc = load_run_config(run.config_path)
    assert run.name.startswith("cnn1d_")
    assert (rc.model_type, rc.layers, rc.hidden, rc.epochs, rc.batch_size) == ("cnn1d", 1, 8, 1, 32)
    assert (rc.lr_init, rc.seed, rc.early_stop_patience, rc.threads) == (0.002, 7, 3, 1)
    assert [p.name for _, _, p in run.checkpoints()] == ["ckpt_epoch0_step3.pt"]


def test_fallbacks_huber_delta_and_quick_val(theta_env: Path, tiny_data: Path) -> None:
    # No huber_delta.json: delta_fallback with a warning. No quick_val.pt: a sample of val_dir,
    # drawn once and cached in the run (the dataset directory is never written).
    cfg = tiny_config(tiny_data, epochs=1, save_interval=100, delta_fallback=5.5)
    cfg["huber_delta_path"] = str(theta_env / "nope.json")
    cfg["quick_val_path"] = str(theta_env / "missing_quick_val.pt")
    result = invoke("--models-dir", "m", "new", "--config", write_config(theta_env / "c.json", cfg))
    assert result.exit_code == 0, result.stderr
    assert "nope.json: huber delta file not found; using delta_fallback=5.5" in result.stderr
    run = only_run(theta_env / "m")
    assert read_train_rows(run)[-1].huber_loss_delta == 5.5
    assert load_run_config(run.config_path).delta_curr == 5.5
    assert "huber delta 5.5 from delta_fallback" in run.runtime_log.read_text()

    cached = run.log_dir / "quick_val.pt"
    data, info = epochfile.load(cached, expect_k=TINY_K)
    val, _ = epochfile.load(epochfile.list_files(cfg["val_dir"])[0])
    # each val chunk appears 5 times (prepare's repeats): the sample keeps each chunk once
    assert info.n == val["X_t"].shape[0] // 5
    assert torch.unique(data["V"].flatten(1), dim=0).shape[0] == info.n
    val_dir = tiny_data / "processed" / "val"
    assert f"quick_val: {info.n} samples from {val_dir} (drawn once" in result.stdout
    assert not Path(cfg["quick_val_path"]).exists()


# ---- bad input: one line on stderr, exit 2, nothing written -----------------------------------


def _bad_data(tiny_data: Path, root: Path, mutate) -> Path:  # noqa: ANN001
    shutil.copytree(tiny_data, root)
    mutate(root / "processed" / "train")
    return root


def _drop_v(train_dir: Path) -> None:
    p = train_dir / "train_000.pt"
    d = torch.load(p)
    del d["V"]
    torch.save(d, p)


def _bad_shape(train_dir: Path) -> None:
    p = train_dir / "train_001.pt"
    d = torch.load(p)
    d["V"] = d["V"][:, :, :1].contiguous()
    torch.save(d, p)


def _empty(train_dir: Path) -> None:
    shutil.rmtree(train_dir)
    train_dir.mkdir()


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda d: shutil.rmtree(d), ("train", "data directory not found")),
        (_empty, ("train", "no epoch files")),
        (_drop_v, ("train_000.pt", "missing key 'V'")),
        (_bad_shape, ("train_001.pt", "key 'V' has shape")),
    ],
    ids=["missing-train-dir", "empty-train-dir", "wrong-keys", "wrong-shape"],
)
def test_bad_train_data_is_refused_before_any_write(
    theta_env: Path, tiny_data: Path, mutate, needles  # noqa: ANN001
) -> None:
    data = _bad_data(tiny_data, theta_env / "ds", mutate)
    cfg = write_config(theta_env / "c.json", tiny_config(data))
    assert_refused(invoke("--models-dir", "models", "new", "--config", cfg), *needles)
    assert not (theta_env / "models").exists() or not any((theta_env / "models").iterdir())


def test_k_disagreeing_with_the_config_is_refused(theta_env: Path, tiny_data: Path) -> None:
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, K=64))
    assert_refused(
        invoke("--models-dir", "models", "new", "--config", cfg),
        "train_000.pt",
        "K=32 but the config says K=64",
    )
    assert not (theta_env / "models").exists() or not any((theta_env / "models").iterdir())


def test_batch_larger_than_an_epoch_is_refused(theta_env: Path, tiny_data: Path) -> None:
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, batch_size=512))
    assert_refused(invoke("--models-dir", "m", "new", "--config", cfg), "batch_size=512")


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"lr": 0.0}, ("lr=0.0", "greater than 0")),
        ({"K": 36}, ("K=36 must be a multiple of 8",)),
        ({"hiden": 4}, ("unknown field 'hiden'",)),
        ({"epochs": "3"}, ("epochs='3'",)),
    ],
)
def test_invalid_config_is_refused(theta_env: Path, tiny_data: Path, change, needles) -> None:  # noqa: ANN001
    cfg = write_config(theta_env / "c.json", {**tiny_config(tiny_data), **change})
    assert_refused(invoke("--models-dir", "m", "new", "--config", cfg), str(cfg), *needles)
    assert not (theta_env / "m").exists()


def test_bad_set_option_is_refused(theta_env: Path, tiny_data: Path) -> None:
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data))
    bad_set = invoke("--models-dir", "m", "new", "--config", cfg, "--set", "hidden")
    assert_refused(bad_set, "key=value")
    assert_refused(invoke("--models-dir", "m", "new", "--config", cfg, "--hidden", "0"), "hidden=0")
    assert not (theta_env / "m").exists()


def test_corrupt_huber_delta_file_is_refused(theta_env: Path, tiny_data: Path) -> None:
    bad = theta_env / "delta.json"
    bad.write_text(json.dumps({"delta": -1}))
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, huber_delta_path=str(bad)))
    assert_refused(invoke("--models-dir", "m", "new", "--config", cfg), "delta.json", "'delta'=-1")
    assert not (theta_env / "m").exists()


# ---- non-finite loss -------------------------------------------------------------------------


def test_non_finite_loss_stops_without_a_checkpoint(
    theta_env: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_loss = recipe.TrainingRecipe.loss
    calls = {"n": 0}

    def poisoned(self, xb, vb, tb):  # noqa: ANN001, ANN202
        calls["n"] += 1
        loss = real_loss(self, xb, vb, tb)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(recipe.TrainingRecipe, "loss", poisoned)
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, save_interval=4))
    result = invoke("--models-dir", "m", "new", "--config", cfg)
    assert result.exit_code == recipe.EXIT_DIVERGED
    err = result.stderr.strip()
    assert "non-finite loss (nan) at epoch 0 step 3" in err and "no checkpoint written" in err
    assert "\n" not in err.removeprefix("theta: error: ")
    run = only_run(theta_env / "m")
    assert run.checkpoints() == [], "nothing saved from the broken state"
    assert not run.train_csv.exists()
    assert "non-finite loss" in run.runtime_log.read_text()
    assert_unlocked(run)


# ---- early stopping --------------------------------------------------------------------------


def test_early_stop_on_a_plateau_says_why(theta_env: Path, tiny_data: Path) -> None:
    # lr 1e-9 cannot move acc_mean by the plateau threshold: the 2nd checkpoint ends the run.
    cfg = tiny_config(tiny_data, lr=1e-9, min_lr=0.0, early_stop_patience=1)
    result = invoke("--models-dir", "m", "new", "--config", write_config(theta_env / "c.json", cfg))
    assert result.exit_code == 0, result.stderr
    run = only_run(theta_env / "m")
    assert [p.name for _, _, p in run.checkpoints()] == [
        "ckpt_epoch0_step4.pt",
        "ckpt_epoch0_step6.pt",
    ]
    assert "early stop after epoch 0: acc_mean has not improved for 1 checkpoints" in result.stdout
    assert "early stop" in run.runtime_log.read_text()


# ---- avg_loss --------------------------------------------------------------------------------


def test_avg_loss_is_the_mean_since_the_previous_checkpoint(
    theta_env: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_loss = recipe.TrainingRecipe.loss
    seen: list[float] = []

    def recording(self, xb, vb, tb):  # noqa: ANN001, ANN202
        loss = real_loss(self, xb, vb, tb)
        seen.append(loss.item())
        return loss

    monkeypatch.setattr(recipe.TrainingRecipe, "loss", recording)
    # 6 steps per epoch, save_interval 4: rows after steps 4 and 6; log_interval 3 reads the
    # losses across that boundary, which must not change what each row averages
    cfg = tiny_config(tiny_data, epochs=1, save_interval=4, log_interval=3)
    result = invoke("--models-dir", "m", "new", "--config", write_config(theta_env / "c.json", cfg))
    assert result.exit_code == 0, result.stderr
    rows = read_train_rows(only_run(theta_env / "m"))
    assert len(seen) == 6 and [r.step for r in rows] == [4, 6]
    assert rows[0].avg_loss == pytest.approx(sum(seen[:4]) / 4, rel=1e-6)
    assert rows[1].avg_loss == pytest.approx(sum(seen[4:]) / 2, rel=1e-6)


@pytest.mark.parametrize("lr", ["Infinity", "-Infinity", "NaN", "1e39"])
def test_non_finite_or_overflowing_lr_is_refused(theta_env: Path, tiny_data: Path, lr: str) -> None:
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data))
    result = invoke("--models-dir", "m", "new", "--config", cfg, "--set", f"lr={lr}")
    assert_refused(result, "lr=")
    assert not (theta_env / "m").exists()


@pytest.mark.parametrize("what", ["weights", "acc"])
def test_non_finite_weights_or_acc_write_no_checkpoint(
    theta_env: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """An absurd lr can blow up the weights (or the quick_val error) while the Huber loss still
    reads finite: the checkpoint that would hold that state is never written."""
    import torch

    from theta_cli.engine.quickval import Acc

    def broken(model, *a, **k):  # noqa: ANN001, ANN202
        if what == "weights":  # the weights blew up; the metric alone would still read finite
            with torch.no_grad():
                next(model.parameters()).fill_(float("inf"))
            return Acc(1.0, 1.0, 0.0)
        return Acc(float("nan"), float("nan"), 0.0)

    monkeypatch.setattr(recipe, "quick_val_acc", broken)
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, save_interval=4))
    result = invoke("--models-dir", "m", "new", "--config", cfg)
    assert result.exit_code == recipe.EXIT_DIVERGED, result.stderr
    err = result.stderr.strip()
    assert "at epoch 0 step 4" in err and "no checkpoint written" in err, err
    assert ("is non-finite" if what == "weights" else "quick_val acc is non-finite") in err
    run = only_run(theta_env / "m")
    assert run.checkpoints() == [] and not run.train_csv.exists()
    assert_unlocked(run)


def test_t_weight_weights_each_sample_by_its_t() -> None:
    """t_weight p: the loss is mean((p+1) t^p * huber(err)); p = 0 is the spec's plain mean."""
    from types import SimpleNamespace

    import torch.nn.functional as F

    from theta_cli.core.config import TrainConfig

    vb = torch.tensor([[[3.0, 4.0]], [[0.6, 0.8]]])  # errors 5 m and 1 m against a zero model
    tb = torch.tensor([0.9, 0.1])

    def loss(p: float) -> float:
        ns = SimpleNamespace(
            model=lambda x, t: torch.zeros_like(x), autocast=False,
            state=SimpleNamespace(delta_curr=2.0),
            plan=SimpleNamespace(device=torch.device("cpu"), config=SimpleNamespace(t_weight=p)),
        )
        return float(recipe.TrainingRecipe.loss(ns, torch.zeros_like(vb), vb, tb))

    huber = F.huber_loss(torch.tensor([5.0, 1.0]), torch.zeros(2), delta=2.0, reduction="none")
    assert loss(0.0) == pytest.approx(float(huber.mean()))
    weights = 3.0 * tb**2
    assert loss(2.0) == pytest.approx(float((weights * huber).mean()))
    assert loss(2.0) > loss(0.0)  # the big error sits at t = 0.9, which now counts more
    with pytest.raises(ValueError, match="t_weight"):
        TrainConfig(t_weight=-1.0)
