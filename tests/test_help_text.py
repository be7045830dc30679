"""Positional arguments read as plain metavars in help: ``INPUT...``, no Python type label."""

from __future__ import annotations

from typer.testing import CliRunner

from theta_cli.cli import app

runner = CliRunner()


def test_denoise_input_is_a_plain_metavar() -> None:
    result = runner.invoke(app, ["denoise", "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Usage: theta denoise [OPTIONS] INPUT..." in out
    assert "<list[Path]>" not in out and "{INPUT}" not in out
    assert any(line.strip().startswith("INPUT...  Track files") for line in out.splitlines())


def test_optional_list_argument_is_bracketed() -> None:
    result = runner.invoke(app, ["data", "pairs", "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "[OPTIONS] [INPUT...]" in result.stdout
    assert any(line.strip().startswith("INPUT...  More track") for line in
               result.stdout.splitlines())  # fmt: skip
