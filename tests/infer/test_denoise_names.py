"""File names with Rich markup or terminal escapes are shown as named (issue 18, item 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _infer_helpers import ZeroModel, fake_loader, gpx_text, invoke, track


def test_denoise_shows_a_markup_file_name_as_named(
    theta_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_loader(monkeypatch, ZeroModel())
    src = theta_env / "[bold]markup.gpx"
    src.write_text(gpx_text([track(40, seed=3)]))
    result = invoke("denoise", src, "--model", "m", "--out", "out", "--device", "cpu")
    assert result.exit_code == 0, result.output + result.stderr
    assert "[bold]markup.gpx" in result.stdout
    ansi = theta_env / "esc\x1b[2Jape.gpx"
    ansi.write_text(gpx_text([track(40, seed=4)]))
    result = invoke("denoise", ansi, "--model", "m", "--out", "out2", "--device", "cpu")
    assert result.exit_code == 0, result.output + result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert "esc\\x1b[2Jape.gpx" in result.stdout
