"""The run-tool commands end to end: `theta plot`, help texts, the light import, and a tiny
trained run (from conftest) through eval-bytes, plot, info, prune --dry-run and export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from _runfab import invoke, make_run, reset_cli_state

from theta_cli.artifact.resolve import resolve_checkpoint
from theta_cli.core import csvlog
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import RunLayout

COMMANDS = ("eval-bytes", "plot", "prune", "info", "export")


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    yield from reset_cli_state(monkeypatch, tmp_path)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_summary_and_example(command: str, tmp_path: Path) -> None:
    res = invoke(tmp_path, command, "--help")
    assert res.exit_code == 0
    assert "Example: theta " + command in res.stdout


def test_plot_writes_and_prints_paths(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models")
    csvlog.append_byte_row(
        run, csvlog.ByteRow("ckpt_epoch0_step10.pt", 1, 1, "velocity", 1.0, (1.0, 2.0, 3.0, 4.0)))
    res = invoke(tmp_path / "models", "plot", run.name)
    assert res.exit_code == 0, res.stderr
    for name in ("loss-ckpt.png", "acc-ckpt.png", "byte-err-heatmap.png"):
        assert (run.fig_dir / name).is_file() and str(run.fig_dir / name) in res.stdout


def test_plot_no_rows_warns(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models", in_csv=[False, False, False])
    res = invoke(tmp_path / "models", "plot", run.name)
    assert res.exit_code == 0 and "no rows" in res.stderr
    assert not any(run.fig_dir.iterdir())


def test_plot_corrupted_csv_and_unknown_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "models")
    text = run.train_csv.read_text().splitlines()
    text[2] = text[2].replace(",0.5,", ",half,")
    run.train_csv.write_text("\n".join(text) + "\n")
    res = invoke(tmp_path / "models", "plot", run.name)
    assert res.exit_code == 2 and "train_data.csv:3: column 'avg_loss' is 'half'" in res.stderr
    res = invoke(tmp_path / "models", "plot", "nobody")
    assert res.exit_code == 2 and "nobody: no such run" in res.stderr and run.name in res.stderr


def test_resolve_checkpoint_forms(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("THETA_MODELS_DIR", str(tmp_path / "models"))
    run = make_run(tmp_path / "models")
    newest = run.checkpoints()[-1][2]
    assert resolve_checkpoint(str(newest), None) == newest
    assert resolve_checkpoint(run.name, None) == newest
    assert resolve_checkpoint(run.name, "ckpt_epoch0_step10.pt").name == "ckpt_epoch0_step10.pt"
    with pytest.raises(ThetaError, match="either a checkpoint path or a run"):
        resolve_checkpoint(str(newest), "ckpt_epoch0_step10.pt")
    with pytest.raises(ThetaError, match="checkpoint not found"):
        resolve_checkpoint(str(run.ckpt_dir / "ckpt_epoch7_step7.pt"), None)


def test_tiny_run_tools_end_to_end(tiny_run: RunLayout, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_run.root, models / tiny_run.name)
    run = RunLayout(models / tiny_run.name)
    res = invoke(models, "eval-bytes", run.name, "--q1", "1", "--q2", "0")
    assert res.exit_code == 0, res.output + res.stderr
    res = invoke(models, "eval-bytes", run.name, "--mode", "denoise", "--steps", "4",
                 "--limit", "10")
    assert res.exit_code == 0, res.output + res.stderr
    rows = csvlog.read_byte_rows(run)
    assert [(r.q1, r.q2, r.mode) for r in rows] == [(1, 0, "velocity"), (1, 0, "denoise")]
    assert rows[0].buckle_head == pytest.approx(rows[0].byte_means[0])
    for png in run.fig_dir.glob("*.png"):
        png.unlink()
    assert invoke(models, "plot", run.name).exit_code == 0
    for name in ("loss-ckpt.png", "acc-ckpt.png", "byte-err-heatmap.png"):
        width, height = _png_size(run.fig_dir / name)
        assert width >= 400 and height >= 200, name
    d = json.loads(invoke(models, "info", run.name, "--json").stdout)
    assert d["latest_byte_row"]["mode"] == "denoise"
    names = [p.name for _, _, p in run.checkpoints()]
    best_name = d["best_ckpt"]
    res = invoke(models, "prune", run.name, "--keep-best", "1", "--keep-last", "1", "--dry-run")
    assert res.exit_code == 0 and [p.name for _, _, p in run.checkpoints()] == names
    res = invoke(models, "prune", run.name, "--keep-best", "1", "--keep-last", "1", "--yes")
    assert res.exit_code == 0, res.stderr
    kept = [p.name for _, _, p in run.checkpoints()]
    assert kept == sorted({best_name, names[-1]}, key=names.index)  # the best and the newest
    assert invoke(models, "export", run.name, "--out", str(tmp_path / "exp")).exit_code == 0
    from theta_cli.artifact.load import model_const, model_from_checkpoint

    exported = model_const(tmp_path / "exp")
    original, _ = model_from_checkpoint(run.checkpoints()[-1][2])
    x, t = torch.randn(3, 32, 2), torch.rand(3)
    assert torch.equal(exported(x, t), original(x, t))


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the file must really be a PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
