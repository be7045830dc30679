"""Untrusted text on the terminal: Rich markup is shown, not rendered; control characters are
shown as escapes, in tables, log lines, error lines and runtime.log alike (issue 18, item 18)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from rich.table import Table

from theta_cli.core import logs
from theta_cli.core.errors import report_error
from theta_cli.core.printable import scrub


def test_scrub_escapes_controls_and_keeps_text() -> None:
    assert scrub("ride\x1b[2J.gpx") == "ride\\x1b[2J.gpx"
    assert scrub("a\tb\nc") == "a\tb\nc"
    assert scrub("bell\x07 del\x7f csi\x9b") == "bell\\x07 del\\x7f csi\\x9b"
    assert scrub("evil\u202egpx.exe") == "evil\\u202egpx.exe"
    assert scrub("Zürich [bold]ride.gpx") == "Zürich [bold]ride.gpx"


def _render(renderable: object, **kwargs: object) -> str:
    buf = io.StringIO()
    con = logs.SafeConsole(file=buf, force_terminal=True, width=200, **kwargs)
    con.print(renderable)
    return buf.getvalue()


def test_a_table_cell_shows_markup_and_escapes_as_text() -> None:
    table = Table(show_header=False)
    table.add_column("file")
    table.add_row("[bold]markup.gpx")
    table.add_row("clear\x1b[2J.gpx")
    out = _render(table)
    assert "[bold]markup.gpx" in out
    assert "\x1b[1m" not in out  # not rendered bold
    assert "clear\\x1b[2J.gpx" in out and "\x1b[2J" not in out


def test_log_lines_warnings_and_error_lines_are_scrubbed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    logs.setup()
    logs.attach_run_log(tmp_path / "runtime.log")
    try:
        logs.get_logger().info("wrote [bold]x\x1b[31m.gpx")
        logs.get_logger().warning("odd \x1b]0;title\x07 name")
        report_error("bad\x1b[2J file")
    finally:
        logs.detach_run_log()
    cap = capsys.readouterr()
    assert "wrote [bold]x\\x1b[31m.gpx" in cap.out
    assert "\x1b" not in cap.out + cap.err
    assert "odd \\x1b]0;title\\x07 name" in cap.err
    assert "theta: error: bad\\x1b[2J file" in cap.err
    text = (tmp_path / "runtime.log").read_text()
    assert "\x1b" not in text and "x\\x1b[31m.gpx" in text
    logging.getLogger("theta").handlers.clear()
