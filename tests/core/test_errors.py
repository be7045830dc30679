"""ThetaError and the CLI guard: bad input ends as one stderr line and an exit code, never a
traceback; bugs say so in one line unless THETA_DEBUG asks for the traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import typer
from conftest import reset_theta_globals
from typer.testing import CliRunner

from theta_cli.commands.base import ThetaTyper
from theta_cli.core import logs
from theta_cli.core.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, ThetaError, guard

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_logger(monkeypatch):
    monkeypatch.delenv("THETA_DEBUG", raising=False)
    logs.setup()
    yield
    logs.detach_run_log()
    reset_theta_globals()


def _app(tmp_path) -> ThetaTyper:
    app = ThetaTyper()

    @app.command()
    def bad() -> None:
        raise ThetaError("data/train.csv: column 'latitude'\n  has 3 non-finite values")

    @app.command()
    def custom() -> None:
        raise ThetaError("models/x: locked by another process", code=3)

    @app.command()
    def missing() -> None:
        open(tmp_path / "nope.csv")  # raises FileNotFoundError

    @app.command()
    def interrupt() -> None:
        raise KeyboardInterrupt

    @app.command()
    def bug() -> None:
        _ = 1 / 0

    @app.command()
    def leave() -> None:
        raise typer.Exit(4)

    @app.command()
    def ok() -> None:
        typer.echo("fine")

    return app


def _error_lines(result) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.strip()]


def test_theta_error_message_and_default_code():
    err = ThetaError("a.csv: bad")
    assert str(err) == "a.csv: bad"
    assert err.code == EXIT_BAD_INPUT == 2
    assert ThetaError("x", code=5).code == 5


def test_theta_error_is_one_line_exit_2_no_traceback(tmp_path):
    result = runner.invoke(_app(tmp_path), ["bad"])
    assert result.exit_code == 2
    # The multi-line message is folded into exactly one line.
    assert _error_lines(result) == [
        "theta: error: data/train.csv: column 'latitude' has 3 non-finite values"
    ]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_theta_error_custom_code(tmp_path):
    result = runner.invoke(_app(tmp_path), ["custom"])
    assert result.exit_code == 3
    assert _error_lines(result) == ["theta: error: models/x: locked by another process"]


def test_os_error_names_the_file(tmp_path):
    result = runner.invoke(_app(tmp_path), ["missing"])
    assert result.exit_code == 2
    lines = _error_lines(result)
    assert len(lines) == 1
    assert lines[0].startswith("theta: error: ")
    assert "nope.csv" in lines[0]
    assert "Traceback" not in result.output


def test_keyboard_interrupt_exits_130(tmp_path):
    result = runner.invoke(_app(tmp_path), ["interrupt"])
    assert result.exit_code == EXIT_INTERRUPTED == 130
    assert _error_lines(result) == ["theta: error: interrupted"]


def test_unexpected_exception_is_one_line_exit_1(tmp_path):
    result = runner.invoke(_app(tmp_path), ["bug"])
    assert result.exit_code == 1
    lines = _error_lines(result)
    assert len(lines) == 1
    assert lines[0].startswith("theta: error: internal error: ZeroDivisionError")
    assert "THETA_DEBUG=1" in lines[0]
    assert "Traceback" not in result.output


def test_theta_debug_reraises_bugs_but_not_bad_input(tmp_path, monkeypatch):
    monkeypatch.setenv("THETA_DEBUG", "1")
    result = runner.invoke(_app(tmp_path), ["bug"])
    assert result.exit_code == 1
    assert isinstance(result.exception, ZeroDivisionError)
    # Bad input stays a clean one-liner even when debugging.
    result = runner.invoke(_app(tmp_path), ["bad"])
    assert result.exit_code == 2
    assert len(_error_lines(result)) == 1


def test_typer_exit_and_success_pass_through(tmp_path):
    app = _app(tmp_path)
    result = runner.invoke(app, ["leave"])
    assert result.exit_code == 4
    assert result.stderr == ""
    result = runner.invoke(app, ["ok"])
    assert result.exit_code == 0
    assert result.stdout == "fine\n"


def test_guard_on_plain_function():
    @guard
    def f(x: int) -> int:
        if x < 0:
            raise ThetaError("x: must be >= 0")
        return 2 * x

    assert f(3) == 6
    assert f.__name__ == "f"
    with pytest.raises(typer.Exit) as exc:
        f(-1)
    assert exc.value.exit_code == 2


def test_thetatyper_command_returns_the_unwrapped_function(tmp_path):
    app = ThetaTyper()

    @app.command()
    def bad() -> None:
        raise ThetaError("raw")

    # Engine code and tests can still call the function and see the real exception.
    with pytest.raises(ThetaError):
        bad()


def test_error_is_written_to_runtime_log_once(tmp_path):
    log_path = tmp_path / "run" / "log" / "runtime.log"
    logs.attach_run_log(log_path)
    result = runner.invoke(_app(tmp_path), ["bad"])
    assert result.exit_code == 2
    # The console shows it exactly once (the logger record is file-only).
    assert len(_error_lines(result)) == 1
    assert result.stdout == ""
    text = log_path.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if "non-finite" in ln]
    assert len(lines) == 1
    assert lines[0].endswith("][ ERROR ] data/train.csv: column 'latitude' has 3 non-finite values")


def test_one_line_without_any_logging_setup(tmp_path):
    # In a fresh process nobody configured logging; logging's last-resort handler must not
    # print the message a second time.
    script = textwrap.dedent(
        """
        from theta_cli.commands.base import ThetaTyper
        from theta_cli.core.errors import ThetaError
        app = ThetaTyper()
        @app.command()
        def bad() -> None:
            raise ThetaError("cfg.json: key 'lr' must be > 0")
        @app.command()
        def other() -> None:
            pass
        app(["bad"], prog_name="theta")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["theta: error: cfg.json: key 'lr' must be > 0"]
    assert proc.stdout == ""
