"""A hostile exported model: weights that make the flow non-finite (NaN, 1e38) are refused by
`theta denoise` and `theta bench` before anything is written; non-float weight files (int8) are
refused at load, naming the file and the tensor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _infer_helpers import invoke, track
from conftest import assert_refused
from safetensors.torch import load_file, save_file

from theta_cli.artifact.load import load_model
from theta_cli.artifact.weights import save_weights
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import WEIGHTS_FILE, RunLayout
from theta_cli.eval import bench
from theta_cli.eval.bench_data import read_pairs
from theta_cli.model import build_theta


def export_dir(root: Path) -> Path:
    """A tiny exported model (hybrid, K=32, hidden=16): model.safetensors + log/config.json."""
    torch.manual_seed(0)
    model = build_theta("hybrid", 2, 16, 2, 32, 0.0)["model"]
    with torch.no_grad():  # a fresh model predicts exactly 0; jitter so it computes something
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    save_weights(model, root)
    cfg = {"model_type": "hybrid", "hidden": 16, "layers": 2, "K": 32, "Q1": 1, "Q2": 0,
           "fix_interval_s": 1.0, "dropout": 0.0}  # fmt: skip
    path = RunLayout(root).config_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg))
    return root


def poison(root: Path, how: str) -> Path:
    """Rewrite the export's weights: every tensor NaN, 1e38, or cast to int8."""
    path = root / WEIGHTS_FILE
    state = load_file(str(path))
    if how == "nan":
        state = {k: torch.full_like(v, float("nan")) for k, v in state.items()}
    elif how == "huge":
        state = {k: torch.full_like(v, 1e38) for k, v in state.items()}
    else:
        state = {k: v.to(torch.int8) for k, v in state.items()}
    save_file(state, str(path))
    return root


def track_csv(path: Path, n: int = 80, dt: float = 1.0) -> Path:
    lat, lon, t = track(n, dt=dt, seed=4)
    pd.DataFrame({"timestamp": t, "latitude": lat, "longitude": lon}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("how", ["nan", "huge"])
def test_denoise_refuses_a_model_whose_output_is_not_finite(theta_env: Path, how: str) -> None:
    model = poison(export_dir(theta_env / "exported"), how)
    a, b = track_csv(theta_env / "a.csv"), track_csv(theta_env / "b.csv", n=50, dt=5.0)
    res = invoke("denoise", a, b, "--model", model, "--out", "out", "--steps", 2)
    assert_refused(res, str(model), "not finite", "130 of 130 points")
    assert not Path("out").exists() or not any(Path("out").iterdir())
    res = invoke("denoise", a, "--model", model, "--out", "one.csv", "--steps", 2)
    assert_refused(res, str(model), "80 of 80 points")
    assert not Path("one.csv").exists()


def test_a_sound_export_denoises(theta_env: Path) -> None:
    """The same export, unpoisoned, writes finite coordinates: the refusal is the weights'."""
    model = export_dir(theta_env / "exported")
    res = invoke("denoise", track_csv(theta_env / "a.csv"), "--model", model, "--out", "o.csv",
                 "--steps", 2)  # fmt: skip
    assert res.exit_code == 0, res.output + res.stderr
    out = pd.read_csv("o.csv")
    assert np.isfinite(out[["latitude", "longitude"]].to_numpy()).all()


def test_bench_refuses_a_model_whose_output_is_not_finite(theta_env: Path) -> None:
    model = poison(export_dir(theta_env / "exported"), "nan")
    pairs = theta_env / "pairs.csv"
    lat, lon, t = track(120, seed=5)
    pd.DataFrame(
        {
            "agent": "walk_1",
            "timestamp": t,
            "latitude": lat,
            "longitude": lon,
            "latitude_n": lat + 1e-5,
            "longitude_n": lon - 1e-5,
        }
    ).to_csv(pairs, index=False)
    scored = read_pairs(pairs, "--pairs")
    (m,) = bench.load_models([str(model)])
    req = bench.BenchRequest(models=[str(model)], steps=[2], pairs=pairs)
    with pytest.raises(ThetaError, match=r"not finite for 120 of 120 points") as err:
        bench.run_theta(scored, m, 2, req, "cpu", ["walk"])
    assert str(model) in str(err.value) and "\n" not in str(err.value)


def test_int8_weights_are_refused_at_load(tmp_path: Path) -> None:
    model = poison(export_dir(tmp_path / "exported"), "int8")
    with pytest.raises(ThetaError) as err:
        load_model(model)
    msg = str(err.value)
    assert WEIGHTS_FILE in msg and "tensor '" in msg and "has dtype I8" in msg, msg
    assert "floating point" in msg and "\n" not in msg
