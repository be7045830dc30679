from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _runfab import invoke, make_run, reset_cli_state

from theta_cli.artifact import checkpoint, load
from theta_cli.artifact.export import export
from theta_cli.artifact.load import model_const
from theta_cli.core.layout import RunLayout


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    yield from reset_cli_state(monkeypatch, tmp_path)


def _outputs(model: torch.nn.Module) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 32, 2, generator=g) * 20
    t = torch.rand(4, 1, generator=g)
    with torch.no_grad():
        return model.eval()(x, t)


def _checkpoint_model(ckpt: Path) -> torch.nn.Module:
    payload = checkpoint.load_checkpoint(ckpt)
    return load.model_from_payload(payload, checkpoint.stored_config(payload, ckpt), ckpt)


def test_round_trip_outputs_equal(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models")
    ckpt = run.checkpoints()[1][2]
    out = tmp_path / "exported"
    res = invoke(tmp_path / "models", "export", str(ckpt), "--out", str(out))
    assert res.exit_code == 0, res.output + res.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "log/config.json", "model.safetensors"
    ]
    cfg = json.loads((out / "log" / "config.json").read_text())
    assert (cfg["model_type"], cfg["K"], cfg["hidden"], cfg["step"]) == ("mlp", 32, 16, 20)
    assert torch.equal(_outputs(model_const(out)), _outputs(_checkpoint_model(ckpt)))
    # a different checkpoint really differs: the test can tell checkpoints apart
    assert not torch.equal(_outputs(model_const(out)),
                           _outputs(_checkpoint_model(run.checkpoints()[0][2])))


def test_ckpt_best_exports_the_lowest_acc_mean(tmp_path: Path) -> None:
    # The middle checkpoint is best: neither the newest (the default) nor the oldest.
    run = make_run(tmp_path / "models", acc=[9.0, 4.0, 7.0])
    out = tmp_path / "exp"
    res = invoke(tmp_path / "models", "export", run.name, "--ckpt", "best", "--out", str(out))
    assert res.exit_code == 0, res.output + res.stderr
    best = run.checkpoints()[1][2]
    assert torch.equal(_outputs(model_const(out)), _outputs(_checkpoint_model(best)))


def test_ckpt_best_refused_when_nothing_is_described(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models", in_csv=[False, False, False])
    res = invoke(tmp_path / "models", "export", run.name, "--ckpt", "best", "--out",
                 str(tmp_path / "exp"))
    assert res.exit_code != 0 and "--ckpt best" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "exp").exists()


def test_run_name_exports_newest_and_refuses_overwrite(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models")
    out = tmp_path / "exp"
    assert invoke(tmp_path / "models", "export", run.name, "--out", str(out)).exit_code == 0
    newest = run.checkpoints()[-1][2]
    assert torch.equal(_outputs(model_const(out)), _outputs(_checkpoint_model(newest)))
    before = (out / "model.safetensors").read_bytes()
    res = invoke(tmp_path / "models", "export", run.name, "--ckpt", "ckpt_epoch0_step10.pt",
                 "--out", str(out))
    assert res.exit_code == 2 and "--force" in res.stderr
    assert (out / "model.safetensors").read_bytes() == before
    res = invoke(tmp_path / "models", "export", run.name, "--ckpt", "ckpt_epoch0_step10.pt",
                 "--out", str(out), "--force")
    assert res.exit_code == 0, res.stderr
    assert (out / "model.safetensors").read_bytes() != before


def test_mismatched_weights_write_nothing(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models")
    ckpt = run.checkpoints()[0][2]
    payload = checkpoint.load_checkpoint(ckpt)
    payload[checkpoint.CONFIG]["hidden"] = 8  # architecture no longer fits the weights
    checkpoint.save_checkpoint(ckpt, payload)
    out = tmp_path / "exp"
    res = invoke(tmp_path / "models", "export", str(ckpt), "--out", str(out))
    assert res.exit_code == 2 and "weights do not match" in res.stderr
    assert not out.exists()


def test_missing_checkpoint(tmp_path: Path) -> None:
    res = invoke(tmp_path / "models", "export", str(tmp_path / "ckpt_epoch0_step1.pt"),
                 "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "checkpoint not found" in res.stderr


def test_tiny_run_round_trip(tiny_run: RunLayout, tmp_path: Path) -> None:
    ckpt = tiny_run.checkpoints()[-1][2]
    out = tmp_path / "exp"
    res = export(ckpt, out)
    assert res.num_params > 0
    assert torch.equal(_outputs(model_const(out)), _outputs(_checkpoint_model(ckpt)))


def test_best_steps_is_recorded_and_becomes_denoise_default(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from theta_cli.infer.request import DenoiseOptions

    run = make_run(tmp_path / "models")
    ckpt = run.checkpoints()[1][2]
    out = tmp_path / "exported"
    res = invoke(tmp_path / "models", "export", str(ckpt), "--out", str(out), "--best-steps", "3")
    assert res.exit_code == 0, res.output + res.stderr
    assert json.loads((out / "log" / "config.json").read_text())["best_steps"] == 3
    loaded = load.load_model(str(out))
    assert loaded.config.best_steps == 3
    assert DenoiseOptions().settings(loaded, "cpu").steps == 3  # no --steps: the model's
    assert DenoiseOptions(steps=7).settings(loaded, "cpu").steps == 7  # --steps wins
    bare = SimpleNamespace(config=SimpleNamespace(**{**loaded.config.model_dump(),
                                                     "best_steps": None}),
                           fix_interval_s=1.0)  # fmt: skip
    assert DenoiseOptions().settings(bare, "cpu").steps == 10  # none recorded: the default
    bad = invoke(tmp_path / "models", "export", str(ckpt), "--out", str(tmp_path / "x"),
                 "--best-steps", "0")  # fmt: skip
    assert bad.exit_code == 2 and "--best-steps 0: must be between 1 and 1000" in bad.stderr


def test_the_builtin_model_runs_at_its_best_steps() -> None:
    from theta_cli.infer.request import DenoiseOptions

    loaded = load.load_model(None)
    assert loaded.config.best_steps == 1  # benched level with 10 at a tenth of the time
    assert DenoiseOptions().settings(loaded, "cpu").steps == 1
