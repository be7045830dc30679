"""core.jsonfile: bad or absurdly nested JSON in a user-editable file is one line naming the file,
never a RecursionError; checked through every command that reads such a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_refused, invoke

from theta_cli.core import jsonfile, lock
from theta_cli.core.config import parse_set_options
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import DatasetLayout, RunLayout
from theta_cli.eval.bench_data import read_dataset

DEEP = "[" * 100_000 + "]" * 100_000
#: Under Python's recursion limit, so json.loads takes it; code that recurses over it later
#: (pydantic, repr in an error message) is near the limit.
NEAR = '{"hidden": ' + "[" * 900 + "]" * 900 + "}"


def test_loads() -> None:
    assert jsonfile.loads('{"a": [1, {"b": 2}]}', "f.json") == {"a": [1, {"b": 2}]}
    cases = (
        (DEEP, "f.json: JSON nested too deeply"),
        (NEAR, "f.json: JSON nested too deeply"),
        ('{"a": 1,\n "b": }', "f.json: not valid JSON: line 2 col 7: "),
    )
    for text, needle in cases:
        with pytest.raises(ThetaError, match=needle):
            jsonfile.loads(text, "f.json")
    nested = {"a": 1}
    for _ in range(jsonfile.MAX_DEPTH - 1):
        nested = {"a": nested}
    assert jsonfile.loads(json.dumps(nested), "f.json") == nested  # the limit itself is fine


@pytest.mark.parametrize("text", [DEEP, NEAR])
def test_theta_new_with_a_deep_config(theta_env: Path, text: str) -> None:
    Path("deep.json").write_text(text)
    assert_refused(invoke("new", "--config", "deep.json"), "deep.json", "nested too deeply")


@pytest.mark.parametrize("depth", [100_000, 900])
def test_theta_new_with_a_deep_set_value(theta_env: Path, depth: int) -> None:
    """--set values are JSON when they parse (else strings): a deep one is refused too."""
    value = "[" * depth + "]" * depth
    assert_refused(invoke("new", "--set", f"hidden={value}"), "--set", "nested too deeply")
    assert parse_set_options(["train_dir=[data"]) == {"train_dir": "[data"}


def _export_with_config(root: Path, text: str) -> Path:
    (root / "model.safetensors").parent.mkdir(parents=True)
    (root / "model.safetensors").write_bytes(b"")  # never read: the config is refused first
    path = RunLayout(root).config_path
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return root


@pytest.mark.parametrize("text", [DEEP, NEAR])
def test_denoise_with_a_deep_model_config(theta_env: Path, text: str) -> None:
    model = _export_with_config(theta_env / "exported", text)
    Path("a.csv").write_text("timestamp,latitude,longitude\n0,48.1,11.5\n1,48.1,11.5\n")
    res = invoke("denoise", "a.csv", "--model", model, "--out", "o.csv", "--device", "cpu")
    assert_refused(res, "config.json", "nested too deeply")


def test_resume_with_a_deep_run_config(theta_env: Path) -> None:
    run = RunLayout(theta_env / "models" / "hybrid_20260101_000000")
    run.make_dirs()
    ckpt = run.ckpt_dir / "ckpt_epoch0_step1.pt"
    ckpt.write_bytes(b"")
    run.config_path.write_text(DEEP)
    assert_refused(invoke("--models-dir", "models", "resume", ckpt), "config.json", "too deeply")


def test_prepare_manifest_and_lock_holder(tmp_path: Path) -> None:
    manifest = DatasetLayout(tmp_path).manifest_path
    manifest.parent.mkdir(parents=True)
    manifest.write_text(DEEP)
    with pytest.raises(ThetaError, match="prepare.json: JSON nested too deeply"):
        read_dataset(tmp_path)
    # The holder record only words a refusal: a broken one reads as "another process".
    path = tmp_path / ".lock"
    lock.holder_path(path).write_text(DEEP)
    assert lock.read_holder(path) is None
