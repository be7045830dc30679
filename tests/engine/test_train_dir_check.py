"""A bad --train-dir is one error line, with no warning about a dataset manifest before it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke, tiny_config, write_config


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
@pytest.mark.parametrize("cpu", ["--cpu", "--no-cpu"])
def test_bad_train_dir_is_one_line(theta_env: Path, kind: str, cpu: str) -> None:
    cfg = write_config(theta_env / "tiny.json", tiny_config(theta_env / "dataset"))
    bad = theta_env / "nope"
    if kind == "empty":
        bad.mkdir()
    elif kind == "file":
        bad.write_text("not a directory")
    result = invoke("new", "--config", cfg, "--train-dir", bad, cpu)
    assert result.exit_code == 2, result.output + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("theta: error: ") and str(bad) in lines[0], lines
    assert "prepare.json" not in result.stdout + result.stderr
    assert not (theta_env / "models").exists()  # refused before anything was written
