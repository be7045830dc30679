"""The one print path: console through Rich, runtime.log with the spec's line format."""

from __future__ import annotations

import re

import pytest
from conftest import reset_theta_globals

from theta_cli.core import logs

LINE_RE = re.compile(
    r"^\[ \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \]\[ (DEBUG|INFO|WARNING|ERROR|CRITICAL) \] (.*)$"
)


@pytest.fixture(autouse=True)
def fresh_logger():
    logs.setup()
    yield
    logs.detach_run_log()
    reset_theta_globals()


def _file_lines(path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = LINE_RE.match(line)
        assert m, f"bad runtime.log line: {line!r}"
        out.append((m[1], m[2]))
    return out


def test_file_format(tmp_path):
    path = tmp_path / "run" / "log" / "runtime.log"
    logs.attach_run_log(path)
    log = logs.get_logger()
    log.info("epoch 1 | loss 0.5")
    log.warning("lr is high")
    log.error("bad thing")
    assert _file_lines(path) == [
        ("INFO", "epoch 1 | loss 0.5"),
        ("WARNING", "lr is high"),
        ("ERROR", "bad thing"),
    ]


def test_records_before_attach_are_replayed(tmp_path, capsys):
    log = logs.get_logger()
    log.info("resolving config")
    log.warning("no huber_delta.json; using 38.13")
    path = tmp_path / "runtime.log"
    logs.attach_run_log(path)
    log.info("epoch 1")
    assert _file_lines(path) == [
        ("INFO", "resolving config"),
        ("WARNING", "no huber_delta.json; using 38.13"),
        ("INFO", "epoch 1"),
    ]
    out = capsys.readouterr()
    assert out.out.splitlines() == ["resolving config", "epoch 1"]  # printed once each


def test_console_false_is_file_only(tmp_path, capsys):
    path = tmp_path / "runtime.log"
    logs.get_logger().info("before", extra={"console": False})
    logs.attach_run_log(path)
    logs.get_logger().info("final line of a live bar", extra={"console": False})
    assert capsys.readouterr().out == ""
    assert _file_lines(path) == [("INFO", "before"), ("INFO", "final line of a live bar")]


def test_file_false_is_console_only(tmp_path, capsys):
    path = tmp_path / "runtime.log"
    logs.get_logger().info("banner before attach", extra={"file": False})
    logs.attach_run_log(path)
    logs.get_logger().info("progress", extra={"file": False})
    logs.get_logger().info("kept")
    assert capsys.readouterr().out.splitlines() == ["banner before attach", "progress", "kept"]
    assert _file_lines(path) == [("INFO", "kept")]


def test_info_to_stdout_warnings_and_errors_to_stderr(capsys):
    log = logs.get_logger()
    log.info("hello")
    log.warning("careful")
    log.error("broken")
    out = capsys.readouterr()
    assert out.out == "hello\n"
    assert out.err.splitlines() == ["warning: careful", "error: broken"]


def test_debug_only_when_verbose(capsys):
    logs.get_logger().debug("hidden")
    assert capsys.readouterr().out == ""
    logs.setup(verbose=True)
    logs.get_logger().debug("shown")
    assert capsys.readouterr().out == "shown\n"


def test_setup_twice_does_not_duplicate(capsys):
    logs.setup()
    logs.setup()
    logs.get_logger().info("once")
    assert capsys.readouterr().out == "once\n"


def test_messages_are_not_rich_markup(capsys):
    logs.get_logger().info("[bold]not markup[/bold] [1, 2]")
    assert capsys.readouterr().out == "[bold]not markup[/bold] [1, 2]\n"


def test_attach_appends_to_existing_log(tmp_path):
    # A resumed run keeps the history of the runs before it.
    path = tmp_path / "runtime.log"
    path.write_text("[ 2026-11-21 13:04:05 ][ INFO ] earlier run\n", encoding="utf-8")
    logs.attach_run_log(path)
    logs.get_logger().info("resumed")
    assert _file_lines(path) == [("INFO", "earlier run"), ("INFO", "resumed")]


def test_reattach_moves_to_new_file_without_duplicates(tmp_path):
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    logs.attach_run_log(first)
    logs.get_logger().info("one")
    logs.attach_run_log(second)
    logs.get_logger().info("two")
    assert _file_lines(first) == [("INFO", "one")]
    assert _file_lines(second) == [("INFO", "two")]


def test_detach_stops_file_writes(tmp_path):
    path = tmp_path / "runtime.log"
    logs.attach_run_log(path)
    logs.get_logger().info("in")
    logs.detach_run_log()
    logs.get_logger().info("out")
    assert _file_lines(path) == [("INFO", "in")]


def test_attach_without_setup_configures_console(tmp_path, capsys):
    log = logs.get_logger()
    for h in list(log.handlers):
        log.removeHandler(h)
    path = tmp_path / "runtime.log"
    logs.attach_run_log(path)
    log.info("visible")
    assert capsys.readouterr().out == "visible\n"
    assert _file_lines(path) == [("INFO", "visible")]


def test_file_is_flushed_after_each_record(tmp_path):
    # A crash right after a message must not lose it: read without closing the handler.
    path = tmp_path / "runtime.log"
    logs.attach_run_log(path)
    logs.get_logger().info("step 10")
    assert path.read_text(encoding="utf-8").rstrip().endswith("][ INFO ] step 10")
