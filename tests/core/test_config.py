"""TrainConfig / RunConfig: the spec's defaults, strict validation, precedence, overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke

from theta_cli.core.config import (
    RESUME_MUTABLE,
    RunConfig,
    TrainConfig,
    apply_overrides,
    load_run_config,
    load_train_config,
    parse_set_options,
    validate_train,
)
from theta_cli.core.errors import ThetaError

SPEC_DEFAULTS = {
    "K": 256, "Q1": 1, "Q2": 0, "batch_size": 32, "cpu": False, "dropout": 0.1, "epochs": 10,
    "hidden": 384, "huber_delta_path": "./dataset/state/huber_delta.json", "layers": 8,
    "log_interval": 100, "lr": 1e-4, "model_type": "hybrid", "num_workers": 4,
    "save_interval": 1000, "train_dir": "./dataset/processed/train",
    "val_dir": "./dataset/processed/val", "weight_decay": 0.01,
    "warmup_steps": 1000, "delta_fallback": 38.13, "quick_val_path": "./dataset/quick_val.pt",
    "epoch_limit": 37000, "early_stop_patience": 0,
}  # fmt: skip


def test_defaults_are_the_specs() -> None:
    cfg = TrainConfig().model_dump()
    for key, value in SPEC_DEFAULTS.items():
        assert cfg[key] == value, key
    assert cfg["threads"] is None, "torch's own thread count unless asked"


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        ({"lr": 0}, ("lr=0", "greater than 0")),
        ({"lr": -1.0}, ("lr=-1.0",)),
        ({"K": 100}, ("K=100 must be a multiple of 8",)),
        ({"hiden": 3}, ("unknown field 'hiden'",)),
        ({"hidden": "16"}, ("hidden='16'",)),
        ({"cpu": "yes"}, ("cpu='yes'",)),
        ({"model_type": "rnn"}, ("model_type='rnn'",)),
        ({"K": 16, "Q1": 1, "Q2": 1}, ("no payload",)),
        ({"min_lr": 1.0}, ("min_lr=1.0 must not exceed lr",)),
        ({"dropout": 1.0}, ("dropout=1.0",)),
        ({"threads": 0}, ("threads=0", "greater than or equal to 1")),
        ({"threads": 1.5}, ("threads=1.5",)),
    ],
)
def test_bad_values_name_field_value_and_rule(data: dict, needles: tuple[str, ...]) -> None:
    with pytest.raises(ThetaError) as err:
        validate_train(data, "cfg.json")
    msg = str(err.value)
    assert msg.startswith("cfg.json: ") and "\n" not in msg
    for needle in needles:
        assert needle in msg


def test_precedence_flag_then_src_then_defaults(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    assert load_train_config(None) == (TrainConfig(), "built-in defaults")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "config.json").write_text(json.dumps({"hidden": 64}))
    cfg, source = load_train_config(None)
    assert (cfg.hidden, source) == (64, "src/config.json")
    given = tmp_path / "mine.json"
    given.write_text(json.dumps({"hidden": 32}))
    cfg, source = load_train_config(given)
    assert (cfg.hidden, source) == (32, str(given))


@pytest.mark.parametrize(
    ("text", "needle"),
    [("", "config file is empty"), ("{", "not valid JSON"), ("[1]", "expected a JSON object")],
)
def test_unreadable_config_files(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "c.json"
    p.write_text(text)
    with pytest.raises(ThetaError, match=needle):
        load_train_config(p)
    with pytest.raises(ThetaError, match="config file not found"):
        load_train_config(tmp_path / "none.json")


def test_overrides_and_set_options() -> None:
    sets = parse_set_options(["lr=3e-4", "seed=1", "train_dir=/data/x", "cpu=true"])
    assert sets == {"lr": 3e-4, "seed": 1, "train_dir": "/data/x", "cpu": True}
    cfg = apply_overrides(TrainConfig(), {**sets, "hidden": None, "weight_decay": 0}, "cli")
    assert (cfg.lr, cfg.seed, cfg.train_dir, cfg.cpu, cfg.hidden) == (3e-4, 1, "/data/x", True, 384)
    assert cfg.weight_decay == 0.0  # an int where a float is expected is accepted
    with pytest.raises(ThetaError, match="unknown field 'nope'"):
        apply_overrides(TrainConfig(), {"nope": 1}, "cli")
    with pytest.raises(ThetaError, match="expected key=value"):
        parse_set_options(["lr"])


def test_run_config_round_trip_keeps_lr_init(tmp_path: Path) -> None:
    cfg = TrainConfig(lr=1e-3, min_lr=1e-5)
    rc = RunConfig.start(cfg, 12.5)
    assert (rc.lr_init, rc.delta_curr, rc.epoch, rc.step, rc.global_step) == (1e-3, 12.5, 0, 0, 0)
    later = RunConfig.model_validate({**rc.model_dump(), "lr": 2e-6, "epoch": 3, "step": 40})
    assert later.train_config() == cfg  # the configured lr survives the latest-lr field
    path = tmp_path / "config.json"
    path.write_text(json.dumps(later.model_dump()))
    assert load_run_config(path) == later


def test_run_config_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    data = RunConfig.start(TrainConfig(), 1.0).model_dump()
    path.write_text(json.dumps({**data, "delta_curr": -1}))
    with pytest.raises(ThetaError, match="delta_curr=-1"):
        load_run_config(path)
    with pytest.raises(ThetaError, match="run has no config.json"):
        load_run_config(tmp_path / "missing.json")


def test_resume_mutable_fields_are_config_fields_and_the_cli_says_so() -> None:
    from theta_cli.engine.plan import _FROZEN_REASONS

    assert RESUME_MUTABLE <= set(TrainConfig.model_fields)
    assert not RESUME_MUTABLE & set(_FROZEN_REASONS), "a field cannot be both"
    result = invoke("resume", "--help")
    text = " ".join(result.stdout.split())
    assert ", ".join(sorted(RESUME_MUTABLE)) in text


def test_dataset_defaults_are_the_dataset_layout() -> None:
    """The config's default paths are where `theta data prepare` writes (one layout)."""
    from theta_cli.core.layout import EPOCH_LIMIT, DatasetLayout

    cfg, ds = TrainConfig(), DatasetLayout(Path("./dataset"))
    assert Path(cfg.train_dir) == ds.split_dir("train")
    assert Path(cfg.val_dir) == ds.split_dir("val")
    assert Path(cfg.huber_delta_path) == ds.huber_path
    assert Path(cfg.quick_val_path) == ds.quick_val_path
    assert DatasetLayout.of_split_dir(cfg.train_dir) == ds
    assert cfg.epoch_limit == EPOCH_LIMIT


def test_one_list_of_model_types() -> None:
    from theta_cli.core.config import ARCH_FIELDS, MODEL_TYPES, Architecture
    from theta_cli.model import zoo

    assert tuple(zoo.MODEL_TYPES) == MODEL_TYPES
    assert set(ARCH_FIELDS) <= set(Architecture.model_fields)
    text = " ".join(invoke("new", "--help").stdout.split())
    assert ", ".join(MODEL_TYPES) in text


def test_example_configs_are_valid() -> None:
    examples = sorted((Path(__file__).parents[2] / "examples").glob("*.json"))
    assert examples, "examples/ holds at least one config"
    for path in examples:
        cfg, source = load_train_config(path)
        assert source == str(path)


def test_gpu_spec_example_is_the_spec_config() -> None:
    path = Path(__file__).parents[2] / "examples" / "gpu-spec.json"
    cfg, _ = load_train_config(path)
    assert cfg == TrainConfig()


def test_attn_dropout_is_validated_and_architectural():
    from theta_cli.core.config import ARCH_FIELDS, RESUME_MUTABLE, TrainConfig

    assert TrainConfig().attn_dropout == 0.0
    assert "attn_dropout" in ARCH_FIELDS and "attn_dropout" not in RESUME_MUTABLE
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        TrainConfig(attn_dropout=1.0)
