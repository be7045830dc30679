"""Live TensorBoard logging (``tensorboard: true``): the event files say what the CSVs say, at
the same global steps, once each, across resumes; a missing package is refused before training;
a broken tb/ never stops a run."""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import pytest
from conftest import assert_refused, invoke, only_run, tiny_config, write_config

from theta_cli.core.csvlog import TrainRow, read_train_rows
from theta_cli.core.layout import RunLayout
from theta_cli.engine import tboard

pytest.importorskip("tensorboard")
pytestmark = pytest.mark.usefixtures("theta_env")

STEPS_PER_EPOCH = 6  # tiny_config: epoch_limit 96 / batch 16


def f32(x: float) -> float:
    """A value as an event file stores it (float32)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in ``logdir``, as TensorBoard reads it (purges applied)."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(logdir), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def csv_series(rows: list[TrainRow]) -> dict[str, list[tuple[int, float]]]:
    """train_data.csv as the checkpoint/* series: each column at the row's global step."""
    return {
        tboard.CKPT_PREFIX + col: [
            (r.epoch * STEPS_PER_EPOCH + r.step, f32(getattr(r, col))) for r in rows
        ]
        for col in tboard.CKPT_COLUMNS
    }


def assert_matches_csv(run: RunLayout, after: int = 0) -> dict[str, list[tuple[int, float]]]:
    """Each series once per step, and checkpoint/* = the CSV's rows past global step ``after``
    (where logging started)."""
    got = scalars(run.tb_dir)
    for tag, series in got.items():
        steps = [s for s, _ in series]
        assert steps == sorted(set(steps)), f"{tag}: duplicate or unordered steps {steps}"
    want = {
        tag: [(s, v) for s, v in series if s > after]
        for tag, series in csv_series(read_train_rows(run)).items()
    }
    assert {t: got.get(t) for t in want} == want
    return got


def test_live_series_equal_the_csv_and_the_live_loss(
    theta_env: Path, tiny_data: Path, tiny_run: RunLayout
) -> None:
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, tensorboard=True))
    result = invoke("--models-dir", "models", "new", "--config", cfg)
    assert result.exit_code == 0, result.output + result.stderr
    run = only_run(theta_env / "models")
    got = assert_matches_csv(run)
    # The running loss and lr every log_interval (2) steps: global steps 2, 4, ... 12.
    assert [s for s, _ in got[tboard.LOSS_TAG]] == list(range(2, 13, 2))
    assert [s for s, _ in got[tboard.LR_TAG]] == list(range(2, 13, 2))
    assert all(v > 0 for _, v in got[tboard.SAMPLES_TAG])
    # Same numbers as the CSV: a checkpoint's avg_loss is the mean of the running losses since
    # the previous one (equal-length intervals), its lr the lr logged at its step.
    loss, lr = dict(got[tboard.LOSS_TAG]), dict(got[tboard.LR_TAG])
    rows = {r.epoch * STEPS_PER_EPOCH + r.step: r for r in read_train_rows(run)}
    assert rows[4].avg_loss == pytest.approx((loss[2] + loss[4]) / 2, rel=1e-6)
    assert rows[6].avg_loss == pytest.approx(loss[6], rel=1e-6)
    assert all(lr[s] == f32(r.lr) for s, r in rows.items())
    # The last line of the live display shows the last running loss.
    assert f"loss {loss[12]:.4f}" in result.stdout
    # The config as text and as hparams.
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(run.tb_dir))
    acc.Reload()
    text = acc.Tensors(tboard.CONFIG_TAG + "/text_summary")[0].tensor_proto.string_val[0]
    assert b'"tensorboard": true' in text
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")
    # `theta tb export` draws the same checkpoint series from the CSV: for this run, and for a
    # run trained before TensorBoard logging (tiny_run: the same config, the same training).
    old = RunLayout(shutil.copytree(tiny_run.root, theta_env / "old" / tiny_run.name))
    assert not old.tb_dir.exists()
    ckpt_tags = [t for t in got if t.startswith(tboard.CKPT_PREFIX)]
    assert len(ckpt_tags) == len(tboard.CKPT_COLUMNS)
    for r in (run, old):
        result = invoke("tb", "export", r.root)
        assert result.exit_code == 0, result.output + result.stderr
        exported = scalars(r.tb_dir / "export")
        assert {t: exported.get(t) for t in ckpt_tags} == {t: got[t] for t in ckpt_tags}


def test_resumes_continue_the_steps_without_duplicates(
    theta_env: Path, tiny_run: RunLayout
) -> None:
    run = RunLayout(shutil.copytree(tiny_run.root, theta_env / tiny_run.name))
    # Turned on at a resume (a resume-mutable field): logging starts after global step 4.
    result = invoke("resume", run.ckpt_path(0, 4), "--set", "tensorboard=true")
    assert result.exit_code == 0, result.output + result.stderr
    before = assert_matches_csv(run, after=4)
    assert [s for s, _ in before[tboard.LOSS_TAG]] == [6, 8, 10, 12]
    # From a checkpoint older than the newest: what the first writer logged past it (step 12)
    # is purged, so each step holds one value, the new history's, as train_data.csv does.
    result = invoke("resume", run.ckpt_path(1, 4))
    assert result.exit_code == 0, result.output + result.stderr
    assert len(list(run.tb_dir.glob("events.out.tfevents.*"))) == 2
    got = assert_matches_csv(run, after=4)
    assert {t: [s for s, _ in v] for t, v in got.items()} == {
        t: [s for s, _ in v] for t, v in before.items()
    }
    # kept up to the checkpoint; the rest written anew (an exact resume: the same values)
    assert got[tboard.LOSS_TAG] == before[tboard.LOSS_TAG]


def test_refused_without_the_tb_extra(
    theta_env: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The package missing: its import fails (None in sys.modules stops an import).
    for name in ("tensorboard", "torch.utils.tensorboard"):
        monkeypatch.setitem(sys.modules, name, None)
    cfg = write_config(theta_env / "c.json", tiny_config(tiny_data, tensorboard=True))
    result = invoke("--models-dir", "models", "new", "--config", cfg)
    assert_refused(result, "tensorboard", "pip install 'theta-cli[tb]'")
    assert not (theta_env / "models").exists() or not any((theta_env / "models").iterdir())


@pytest.mark.parametrize("damage", ["tb_is_a_file", "writer_fails"])
def test_a_broken_tb_never_stops_a_run(
    theta_env: Path, tiny_run: RunLayout, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    run = RunLayout(shutil.copytree(tiny_run.root, theta_env / tiny_run.name))
    if damage == "tb_is_a_file":
        run.tb_dir.write_bytes(b"\x00garbage, not a directory of event files")
    else:  # the disk fills up mid-run, say
        from torch.utils.tensorboard import SummaryWriter

        def full(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(SummaryWriter, "add_scalar", full)
    result = invoke("resume", run.ckpt_path(1, 4), "--set", "tensorboard=true")
    assert result.exit_code == 0, result.output + result.stderr
    assert [(e, s) for e, s, _ in run.checkpoints()] == [(0, 4), (0, 6), (1, 4), (1, 6)]
    assert [r.ckpt_name for r in read_train_rows(run)][-1] == "ckpt_epoch1_step6.pt"
    warnings = [ln for ln in result.stderr.splitlines() if "TensorBoard logging off" in ln]
    assert len(warnings) == 1, result.stderr
    assert "Traceback" not in result.stderr
