"""A tiny model trained here must bring noisy synthetic tracks closer to the truth.

The tracks are new (a synth seed the training data did not use), scored against their clean
columns point by point. 64 training steps of a hidden-16 model reliably cut the median error by
a fifth or more (seeds 0-2: 21-29 %); the test asks for 15 %.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from _infer_helpers import invoke
from conftest import only_run, reset_theta_globals, tiny_config, write_config

from theta_cli.tracks.enu import to_enu


def run_ok(*args: object) -> str:
    result = invoke(*args)
    reset_theta_globals()
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def test_trained_model_beats_the_noisy_track(tiny_data: Path, theta_env: Path) -> None:
    cfg = tiny_config(tiny_data, epochs=4, epoch_limit=512, batch_size=32, lr=3e-3,
                      min_lr=1e-4, warmup_steps=4, save_interval=1000, log_interval=50)  # fmt: skip
    run_ok("--models-dir", "models", "new", "--config", write_config(Path("cfg.json"), cfg))
    run = only_run(Path("models"))
    run_ok("data", "synth", "--out", "fresh", "--agents", 3, "--points", 400, "--files", 1,
           "--seed", 11)  # fmt: skip
    raw = next(Path("fresh").glob("*.parquet"))
    report = json.loads(run_ok("denoise", raw, "--model", run.root, "--out", "clean.parquet",
                               "--device", "cpu", "--json"))  # fmt: skip
    assert report["files"][0]["points"] == 1200 and report["files"][0]["passed_through"] == 0

    truth, out = pd.read_parquet(raw), pd.read_parquet("clean.parquet")
    lat, lon = truth["latitude"].to_numpy(), truth["longitude"].to_numpy()

    def error(la: pd.Series, lo: pd.Series) -> np.ndarray:
        return np.linalg.norm(to_enu(la.to_numpy(), lo.to_numpy(), lat, lon), axis=-1)

    noisy = np.median(error(truth["latitude_n"], truth["longitude_n"]))
    denoised = np.median(error(out["latitude_n"], out["longitude_n"]))
    assert denoised < 0.85 * noisy, (denoised, noisy)
