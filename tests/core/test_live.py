"""The live epoch line: one line redrawn in place on a terminal, one plain line otherwise."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from rich.console import Console

from theta_cli.core import logs
from theta_cli.core.live import EpochLine


@pytest.fixture
def log_records() -> Iterator[list[str]]:
    """Run the theta logger with a capturing file-side handler; yields the logged messages."""
    import logging

    seen: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    log = logs.setup()
    grab = Grab()
    log.addHandler(grab)
    yield seen
    log.removeHandler(grab)
    logs.detach_run_log()


def _run_epoch(updates: int) -> None:
    with EpochLine(epoch=0, epochs=3, total_steps=updates, batch_size=8, start_step=0) as line:
        for s in range(1, updates + 1):
            line.update(s, 1.0 / s, 1e-3)


def test_on_a_terminal_one_line_is_redrawn_in_place_and_stays(
    monkeypatch: pytest.MonkeyPatch, log_records: list[str]
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(logs, "console", Console(file=out, force_terminal=True, width=200))
    _run_epoch(updates=5)
    raw = out.getvalue()
    # five redraws, yet the cursor only ever leaves the line once: when the epoch ends
    assert raw.count("\n") == 1, repr(raw)
    assert raw.count("epoch 1/3  step") >= 5 and "\x1b[" in raw  # redrawn with cursor codes
    final = raw.rsplit("\r", 1)[-1] if "\r" in raw else raw
    assert re.search(r"epoch 1/3  step 5/5  loss 0\.2000  lr 1\.000e-03  .* took 0:00:0\d", final)
    # the final text goes to runtime.log (it is already on screen: console=False)
    assert any(m.startswith("epoch 1/3  step 5/5") for m in log_records)


def test_without_a_terminal_the_final_line_is_printed_once(
    monkeypatch: pytest.MonkeyPatch, log_records: list[str]
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(logs, "console", Console(file=out, width=200))
    _run_epoch(updates=5)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("epoch 1/3  step 5/5  loss 0.2000")
    assert "\x1b" not in out.getvalue(), "no control codes in a pipe or a file"


def test_text_shows_eta_while_running_and_time_taken_when_done() -> None:
    line = EpochLine(epoch=1, epochs=4, total_steps=10, batch_size=16, start_step=2)
    assert re.fullmatch(r"epoch 2/4  step 2/10  loss -  lr -  0 samples/s  ETA --:--", line.text())
    line.update(6, 0.5, 2e-4)
    assert re.search(r"step 6/10  loss 0\.5000  lr 2\.000e-04  .*samples/s  ETA \d+:", line.text())
    line.update(10, None, 1e-4)  # no new loss read: the last one stays
    assert re.search(r"step 10/10  loss 0\.5000 .* took \d+:\d\d:\d\d$", line.text())


def test_training_time_left_is_logged_once_per_epoch(
    monkeypatch: pytest.MonkeyPatch, log_records: list[str]
) -> None:
    from theta_cli.core import live

    now = [0.0]
    monkeypatch.setattr(live, "_clock", lambda: now[0])
    monkeypatch.setattr(logs, "console", Console(file=io.StringIO(), width=200))
    with EpochLine(epoch=0, epochs=3, total_steps=10, batch_size=8, start_step=0) as line:
        now[0] = 10.0
        line.update(1, 1.0, 1e-3)  # under TRAINING_ETA_AFTER_S: too early to say
        assert not any(m.startswith("training:") for m in log_records)
        now[0] = 60.0
        line.update(2, 1.0, 1e-3)  # 30 s a step; 8 + 2 x 10 steps left: 14 min
        now[0] = 90.0
        line.update(3, 1.0, 1e-3)
    said = [m for m in log_records if m.startswith("training:")]
    assert said == ["training: about 14 min left at the measured speed"]


def test_training_time_left_wording() -> None:
    from theta_cli.core.live import _minutes

    assert _minutes(20) == "under a minute"
    assert _minutes(14 * 60) == "about 14 min"
    assert _minutes(100 * 60) == "about 1 h 40 min"
