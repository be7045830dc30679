"""Fabricate a small but real run for the run-tools tests (no training needed).

Real pieces throughout: a model from ``build_theta``, checkpoints written by
``checkpoint.save_checkpoint``, train_data.csv rows through ``runlog``, config.json from
``RunConfig``, and a quick_val.pt written by ``epochfile.save``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from typer.testing import Result

from theta_cli.artifact import checkpoint
from theta_cli.core import atomic, csvlog
from theta_cli.core.config import RunConfig, TrainConfig
from theta_cli.core.layout import RunLayout, ckpt_name
from theta_cli.data import epochfile

K = 32
HIDDEN = 16


def make_quick_val(path: Path, n: int = 24, k: int = K, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, k, 2, generator=g) * 50
    v = torch.randn(n, k, 2, generator=g) * 5
    t = torch.rand(n, 1, generator=g) * 0.99
    data = {"X_t": x0 + t[:, :, None] * v, "V": v, "t": t}
    epochfile.save(path, data)
    return data


def tiny_config(tmp: Path, **over: object) -> TrainConfig:
    base: dict[str, object] = dict(
        K=K, hidden=HIDDEN, layers=1, model_type="mlp", dropout=0.0, Q1=1, Q2=1,
        warmup_steps=0, quick_val_path=str(tmp / "quick_val.pt"),
        train_dir=str(tmp / "train"), val_dir=str(tmp / "val"),
    )
    base.update(over)
    return TrainConfig(**base)  # type: ignore[arg-type]


def make_run(
    models: Path,
    name: str = "mlp_20260101_000000",
    steps: Sequence[tuple[int, int]] = ((0, 10), (0, 20), (1, 10)),
    acc: Sequence[float] | None = None,
    cfg: TrainConfig | None = None,
    in_csv: Sequence[bool] | None = None,
    seed: int = 0,
) -> RunLayout:
    """A run under ``models/name`` with one checkpoint per (epoch, step) and its CSV row.

    ``acc`` gives each checkpoint's acc_mean (default: decreasing); ``in_csv[i]`` False leaves
    checkpoint i out of train_data.csv.
    """
    from theta_cli.model import build_theta

    cfg = cfg or tiny_config(models.parent)
    run = RunLayout(models / name)
    run.make_dirs()
    acc = list(acc) if acc is not None else [10.0 - i for i in range(len(steps))]
    in_csv = list(in_csv) if in_csv is not None else [True] * len(steps)
    rc = RunConfig.start(cfg, 38.13)
    for i, (epoch, step) in enumerate(steps):
        torch.manual_seed(seed + i)
        model = build_theta(cfg.model_type, 2, cfg.hidden, cfg.layers, cfg.K, cfg.dropout)["model"]
        # A fresh model zero-inits its output layer (v̂ = 0): jitter every weight so each
        # checkpoint computes something of its own, as a trained one would.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        rc = rc.model_copy(update={"epoch": epoch, "step": step, "global_step": 100 * i + step})
        payload = {
            checkpoint.MODEL: model.state_dict(),
            checkpoint.OPTIMIZER: opt.state_dict(),
            checkpoint.SCHEDULER: {},
            checkpoint.EPOCH: epoch,
            checkpoint.STEP: step,
            checkpoint.GLOBAL_STEP: rc.global_step,
            checkpoint.DELTA: 38.13,
            checkpoint.LR: 1e-4,
            checkpoint.RNG: torch.get_rng_state(),
            checkpoint.CONFIG: rc.model_dump(),
        }
        checkpoint.save_checkpoint(run.ckpt_path(epoch, step), payload)
        if in_csv[i]:
            csvlog.append_train_row(
                run,
                csvlog.TrainRow(
                    ckpt_name(epoch, step), epoch, step, 1.0 / (i + 1), acc[i], acc[i] * 0.9,
                    1.5, 1e-4, 38.13,
                ),
            )
    atomic.write_json(run.config_path, rc.model_dump())
    return run


def reset_cli_state(monkeypatch: object, tmp_path: Path) -> Iterator[None]:
    """Body of each CLI test module's autouse fixture: undo --models-dir and logging."""
    import logging

    from conftest import reset_theta_globals

    from theta_cli.core import layout, logs

    monkeypatch.delenv(layout.MODELS_DIR_ENV, raising=False)  # type: ignore[attr-defined]
    monkeypatch.chdir(tmp_path)  # type: ignore[attr-defined]
    reset_theta_globals()
    yield
    reset_theta_globals()
    # logs.setup() also stops propagation; give later (caplog) tests the stock logger back.
    log = logs.get_logger()
    log.propagate = True
    log.setLevel(logging.NOTSET)


def invoke(models: Path, *args: str) -> Result:
    """Run ``theta --models-dir MODELS args...`` in-process; stdout and stderr kept apart."""
    from typer.testing import CliRunner

    from theta_cli.cli import app

    return CliRunner().invoke(app, ["--models-dir", str(models), *args])
