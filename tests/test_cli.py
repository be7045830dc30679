"""The top-level ``theta`` app: light import, help, version, and the global --models-dir."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
import typer
from conftest import reset_theta_globals
from typer.testing import CliRunner

from theta_cli import __version__
from theta_cli.cli import app
from theta_cli.core import layout, logs

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_globals(monkeypatch, tmp_path):
    # The callback reconfigures logging: undo it after each test.
    monkeypatch.delenv(layout.MODELS_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    reset_theta_globals()


def test_cli_import_stays_light():
    """`theta --help` loads no heavy library: every command module imports its engine lazily.

    The one light-import test: a fresh interpreter (other tests here have imported torch), the
    whole CLI (every command group registers on import), and the modules the CLI pulls in.
    """
    heavy = ("torch", "matplotlib", "pandas", "numpy", "scipy", "gpxpy", "fitdecode",
             "safetensors", "pyarrow", "pymap3d", "tensorboard")  # fmt: skip
    code = (
        "import json, sys\n"
        "import theta_cli.cli\n"
        f"heavy = {heavy!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Usage: theta" in result.stdout
    assert "--models-dir" in result.stdout
    assert "--version" in result.stdout
    group = typer.main.get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert "data" in names
    for name in names:
        assert name in result.stdout


def test_no_arguments_shows_help():
    result = runner.invoke(app, [])
    assert "Usage: theta" in result.output
    assert "Traceback" not in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"theta {__version__}\n"


def test_unknown_command_is_a_usage_error():
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.stderr
    assert "Traceback" not in result.output


def _models_dir_seen(args: list[str], env: dict[str, str] | None = None) -> str:
    """The run root a command was handed (``theta info --json`` reports it)."""
    result = runner.invoke(app, [*args, "info", "--json"], env=env)
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)["models_dir"]


def test_models_dir_option(tmp_path):
    assert _models_dir_seen(["--models-dir", str(tmp_path / "runs")]) == str(tmp_path / "runs")


def test_models_dir_env(tmp_path):
    env = {layout.MODELS_DIR_ENV: str(tmp_path / "from_env")}
    assert _models_dir_seen([], env) == str(tmp_path / "from_env")


def test_models_dir_option_beats_env(tmp_path):
    env = {layout.MODELS_DIR_ENV: str(tmp_path / "from_env")}
    assert _models_dir_seen(["--models-dir", str(tmp_path / "opt")], env) == str(tmp_path / "opt")


def test_models_dir_default(tmp_path):
    # a previous invocation in the same process leaves nothing behind (no module global)
    _models_dir_seen(["--models-dir", str(tmp_path / "stale")])
    assert _models_dir_seen([]) == "models"


def test_verbose_enables_debug():
    runner.invoke(app, ["-v", "data", "--help"])
    assert logs.get_logger().level == logging.DEBUG
    runner.invoke(app, ["data", "--help"])
    assert logs.get_logger().level == logging.INFO


def test_python_dash_m(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "theta_cli", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage: theta" in proc.stdout
    assert "data" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "theta_cli", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.stdout == f"theta {__version__}\n"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["resume", "x.pt", "--hidden", "128"], "No such option: --hidden"),
        (["data", "synth", "--agents", "many"], "'--agents'"),
        (["eval-bytes"], "Missing argument"),
        (["no-such-command"], "No such command"),
    ],
)
def test_usage_errors_are_one_line(argv, needle):
    # Click's own form is three lines (usage, hint, "Error: ..."); theta's is one.
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("theta: error: ")
    assert needle in lines[0]
    assert "Traceback" not in result.output


def test_help_summaries_are_whole_first_lines():
    # Click would cut each summary at ~45 characters ("Start a new training run in...").
    result = runner.invoke(app, ["--help"])
    flat = " ".join(result.stdout.split())
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        first_line = (command.help or "").strip().splitlines()[0]
        assert " ".join(first_line.split()) in flat.replace("- ", "-"), name
