"""`theta tb export`: event files from any run's CSVs (train_data, byte_wise_err, bench), under
the run lock or into --out; exporting again replaces, never doubles; `tensorboard --logdir
models` finds every run. (Live logging vs export: tests/engine/test_tboard.py.)"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _runfab import invoke, make_run, reset_cli_state
from conftest import assert_refused, held_lock

from theta_cli.core import csvlog
from theta_cli.core.layout import RunLayout
from theta_cli.engine import tboard
from theta_cli.runs import tbexport

pytest.importorskip("tensorboard")

# make_run's checkpoints: epoch 0 has 20 steps, so (1, 10) is global step 30.
STEPS = ((0, 10), (0, 20), (1, 10))
GLOBAL = (10, 20, 30)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    yield from reset_cli_state(monkeypatch, tmp_path)


def f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(logdir), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def _with_eval_rows(run: RunLayout) -> None:
    """Two evaluations of one checkpoint (the later counts), one of a set-aside checkpoint,
    and a bench row."""
    for means in ((9.0, 9.0, 9.0, 9.0), (1.0, 2.0, 3.0, 6.0)):
        csvlog.append_byte_row(run, csvlog.ByteRow("ckpt_epoch0_step20.pt", 1, 1, "denoise",
                                                   0.5, means))  # fmt: skip
    csvlog.append_byte_row(run, csvlog.ByteRow("ckpt_epoch4_step1.pt", 1, 1, "denoise", 0.5,
                                               (1.0, 1.0, 1.0, 1.0)))  # fmt: skip
    csvlog.append_bench_row(run, csvlog.BenchRow(  # type: ignore[call-arg]
        time="2026-01-01 00:00:00", ckpt_name="ckpt_epoch1_step10.pt", steps=10,
        data="/data/bench/urban", points=1000, mean=1.5, median=2.2, p95=3.3, rmse=4.4,
        max=5.5, gsdc=float("nan"), points_per_s=50.0, best_baseline_median=3.0,
        best_baseline_p95=6.0, median_gain_pct=25.0, p95_gain_pct=45.0,
    ))  # fmt: skip


def test_export_of_an_old_run_draws_every_csv(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models", steps=STEPS)
    _with_eval_rows(run)
    result = invoke(run.root.parent, "tb", "export", run.name)
    assert result.exit_code == 0, result.output + result.stderr
    assert "1 row(s) of set-aside checkpoints skipped" in result.stdout
    got = scalars(run.tb_dir / tbexport.EXPORT_DIR)
    rows = csvlog.read_train_rows(run)
    for col in tboard.CKPT_COLUMNS:
        want = [(g, f32(getattr(r, col))) for g, r in zip(GLOBAL, rows, strict=True)]
        assert got[tboard.CKPT_PREFIX + col] == want
    assert got["eval_bytes/denoise_q1_q1/mean"] == [(20, 3.0)]
    assert got["eval_bytes/denoise_q1_q1/worst_byte"] == [(20, 6.0)]
    assert got["bench/urban/steps10/median"] == [(30, f32(2.2))]
    assert got["bench/urban/steps10/median_gain_pct"] == [(30, 25.0)]
    assert "bench/urban/steps10/gsdc" not in got  # NaN: left out, not drawn as a gap
    # Again: the earlier export is replaced, so each step still holds one value.
    assert invoke(run.root.parent, "tb", "export", run.name).exit_code == 0
    assert scalars(run.tb_dir / tbexport.EXPORT_DIR) == got
    assert len(list((run.tb_dir / tbexport.EXPORT_DIR).iterdir())) == 1


def test_logdir_models_shows_every_run(tmp_path: Path) -> None:
    models = tmp_path / "models"
    runs = [make_run(models, name=f"mlp_2026010{i}_000000", steps=STEPS) for i in (1, 2)]
    result = invoke(models, "tb", "export")  # no RUN: every run under --models-dir
    assert result.exit_code == 0, result.output + result.stderr
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem

    mux = pem.EventMultiplexer()
    mux.AddRunsFromDirectory(str(models))
    mux.Reload()
    assert sorted(mux.Runs()) == [f"{r.name}/tb/export" for r in runs]


def test_export_is_refused_while_the_run_trains_unless_out(tmp_path: Path) -> None:
    models = tmp_path / "models"
    run = make_run(models, steps=STEPS)
    with held_lock(run.lock_path):
        assert_refused(invoke(models, "tb", "export", run.name), "in use by", "theta new")
        assert not run.tb_dir.exists()
        result = invoke(models, "tb", "export", run.name, "--out", str(tmp_path / "tb-view"))
        assert result.exit_code == 0, result.output + result.stderr
    got = scalars(tmp_path / "tb-view" / run.name)
    assert [s for s, _ in got["checkpoint/acc_mean"]] == list(GLOBAL)
    assert not run.tb_dir.exists()


def test_export_without_the_tb_extra_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path / "models", steps=STEPS)
    for name in ("tensorboard", "torch.utils.tensorboard"):
        monkeypatch.setitem(sys.modules, name, None)
    assert_refused(invoke(run.root.parent, "tb", "export", run.name), "pip install 'theta-cli[tb]'")
    assert not run.tb_dir.exists()
