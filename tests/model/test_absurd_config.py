"""Absurd architecture values in a model's config are refused before anything is built: the config
is compared with the weight file's shapes (read from its header), and the config model bounds
K, hidden and layers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from conftest import assert_refused, invoke

from theta_cli.artifact.checkpoint import MODEL
from theta_cli.artifact.load import model_const, model_from_payload
from theta_cli.artifact.weights import save_weights
from theta_cli.core.config import Architecture, TrainConfig, validate_train
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import WEIGHTS_FILE, RunLayout
from theta_cli.model import build_theta

TINY = {"model_type": "hybrid", "hidden": 16, "layers": 2, "K": 32}


def export(root: Path, model_type: str = "hybrid", **config: object) -> Path:
    """A tiny export (hidden=16, layers=2, K=32) whose config.json says ``config`` instead."""
    model = build_theta(model_type, 2, 16, 2, 32, 0.0)["model"]
    save_weights(model, root)
    path = RunLayout(root).config_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**TINY, "model_type": model_type, **config}))
    return root


@pytest.mark.parametrize(
    ("field", "value", "weights_say"),
    [("K", 2147483648, "32"), ("hidden", 1000000, "16"), ("layers", 20000, "2"),
     ("hidden", 65536, "16"), ("layers", 1024, "2"), ("K", 65536, "32")],
)  # fmt: skip
def test_absurd_values_are_refused_before_building(
    tmp_path: Path, field: str, value: int, weights_say: str
) -> None:
    root = export(tmp_path, **{field: value})
    start = time.perf_counter()
    with pytest.raises(ThetaError) as err:
        model_const(root)
    assert time.perf_counter() - start < 5
    msg = str(err.value)
    assert "\n" not in msg and "config.json" in msg and WEIGHTS_FILE in msg, msg
    assert f"{field}={value}" in msg and f"the weights say {weights_say}" in msg, msg


@pytest.mark.parametrize("model_type", ["transformer", "nn", "cnn1d"])
def test_every_architecture_is_checked(tmp_path: Path, model_type: str) -> None:
    root = export(tmp_path, model_type, hidden=4096, layers=512)
    with pytest.raises(ThetaError, match=r"hidden=4096, the weights say 16.*layers=512, the "
                                         r"weights say 2"):  # fmt: skip
        model_const(root)
    if model_type != "cnn1d":  # a CNN's weights do not depend on K
        export(tmp_path, model_type, K=4096)
        with pytest.raises(ThetaError, match="K=4096, the weights say 32"):
            model_const(tmp_path)


def test_denoise_refuses_in_one_line(theta_env: Path) -> None:
    root = export(theta_env / "exported", K=2147483648)
    Path("a.csv").write_text("timestamp,latitude,longitude\n0,48.1,11.5\n1,48.1,11.5\n")
    res = invoke("denoise", "a.csv", "--model", root, "--out", "o.csv", "--device", "cpu")
    assert_refused(res, "K=2147483648", "the weights say 32")


def test_a_checkpoint_config_is_checked_against_its_weights(tmp_path: Path) -> None:
    """A checkpoint whose stored config says hidden 4096 over hidden-16 weights."""
    model = build_theta("nn", 2, 16, 2, 32, 0.0)["model"]
    cfg = TrainConfig(model_type="nn", hidden=4096, layers=2, K=32)
    start = time.perf_counter()
    with pytest.raises(ThetaError, match="hidden=4096, the weights say 16"):
        model_from_payload({MODEL: model.state_dict()}, cfg, tmp_path / "c.pt")
    assert time.perf_counter() - start < 5
    state = {k: v.to(torch.int8) for k, v in model.state_dict().items()}
    cfg = TrainConfig(model_type="nn", hidden=16, layers=2, K=32)
    with pytest.raises(ThetaError, match="c.pt: tensor '.*' has dtype int8"):
        model_from_payload({MODEL: state}, cfg, tmp_path / "c.pt")


def test_config_bounds() -> None:
    TrainConfig()  # the spec's defaults (K 256, hidden 384, layers 8) stay valid
    for field, bad in (("K", 65544), ("hidden", 65537), ("layers", 1025)):
        with pytest.raises(ThetaError, match=f"{field}={bad}"):
            validate_train({field: bad}, "cfg.json")
        with pytest.raises(ValueError):
            Architecture.model_validate({**TINY, field: bad})
    assert TrainConfig(K=65536, hidden=65536, layers=1024).K == 65536
