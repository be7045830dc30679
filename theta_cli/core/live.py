"""The one live line per epoch: epoch, step/total, running loss, lr, samples/s and ETA
(the time the epoch took, once it is done).

It is redrawn only when the trainer calls ``update`` (every ``log_interval`` steps), never by a
background thread, so it costs nothing between updates. When the epoch ends the line stays on
screen and its final text is written to runtime.log (file only: it is already on screen). When
stdout is not a terminal (a pipe, a file, a test runner) there is no live line: the line is
printed as an ordinary log line at most every ``PIPED_EVERY_S`` seconds (so a long epoch still
shows progress, with its ETA) and its final text once at the end.

Once per epoch, after ``TRAINING_ETA_AFTER_S`` seconds of measured steps, a log line gives the
time left for the whole training at the speed measured so far ("training: about 14 min left at
the measured speed"): on a loaded machine that speed, not an idle machine's, is what counts
(``theta demo`` took an hour on one while its "~5 minutes" assumed an idle one).
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from types import TracebackType

from rich.live import Live
from rich.text import Text

from theta_cli.core import logs

#: Without a terminal, the epoch line is printed (as a log line) at most this often, seconds.
PIPED_EVERY_S = 60.0
#: The whole training's time left is logged once per epoch, after this many seconds of steps.
TRAINING_ETA_AFTER_S = 30.0


def _clock() -> float:
    return time.perf_counter()


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # nan / inf before the first interval
        return "--:--"
    return str(timedelta(seconds=int(round(seconds))))


def _minutes(seconds: float) -> str:
    """``about 14 min``, ``about 1 h 20 min``, ``under a minute``."""
    minutes = int(round(seconds / 60.0))
    if minutes < 1:
        return "under a minute"
    if minutes < 90:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"


class EpochLine:
    """Context manager around a Rich Live line for one epoch."""

    def __init__(
        self,
        epoch: int,
        epochs: int,
        total_steps: int,
        batch_size: int,
        start_step: int,
        shown: bool = True,
    ):
        self.epoch = epoch
        self.epochs = epochs
        self.total = total_steps
        self.batch_size = batch_size
        self.start_step = start_step
        self.step = start_step
        self.loss: float | None = None
        self.lr: float | None = None
        self._t0 = _clock()
        self._live: Live | None = None
        self._printed = self._t0  # without a terminal: when the line was last printed
        self._eta_said = False  # the whole training's time left, logged once per epoch
        self.shown = shown  # False on torchrun ranks other than 0: rank 0 prints the line

    def samples_per_s(self) -> float:
        """The epoch's speed so far, as the line shows it (TensorBoard logs the same number)."""
        elapsed = max(_clock() - self._t0, 1e-9)
        return (self.step - self.start_step) / elapsed * self.batch_size

    def text(self) -> str:
        elapsed = max(_clock() - self._t0, 1e-9)
        done = self.step - self.start_step
        rate = done / elapsed
        sps = self.samples_per_s()
        if self.step >= self.total:  # a finished epoch: how long it took beats "ETA 0:00:00"
            timing = f"took {_eta(elapsed)}"
        else:
            timing = f"ETA {_eta((self.total - self.step) / rate if rate > 0 else float('nan'))}"
        loss = "-" if self.loss is None else f"{self.loss:.4f}"
        lr = "-" if self.lr is None else f"{self.lr:.3e}"
        return (
            f"epoch {self.epoch + 1}/{self.epochs}  step {self.step}/{self.total}  "
            f"loss {loss}  lr {lr}  {sps:,.0f} samples/s  {timing}"
        )

    def training_left_s(self) -> float | None:
        """Seconds left for the whole training (this epoch's steps left and every later
        epoch's, taken as long as this one) at this epoch's measured speed; None before any."""
        elapsed = _clock() - self._t0
        done = self.step - self.start_step
        if done <= 0 or elapsed <= 0:
            return None
        left = (self.total - self.step) + max(0, self.epochs - self.epoch - 1) * self.total
        return left * elapsed / done

    def _say_training_eta(self) -> None:
        if self._eta_said or not self.shown or self.step >= self.total:
            return
        if _clock() - self._t0 < TRAINING_ETA_AFTER_S:
            return
        left = self.training_left_s()
        if left is None:
            return
        self._eta_said = True
        logs.get_logger().info(f"training: {_minutes(left)} left at the measured speed")

    def __enter__(self) -> EpochLine:
        con = logs.console
        if not self.shown or not con.is_terminal or con.is_dumb_terminal:
            return self  # a file or pipe gets only the final line, printed once on exit
        self._live = Live(
            Text(self.text()),
            console=logs.console,
            auto_refresh=False,
            transient=False,
            redirect_stdout=False,
            # Warnings go to stderr; written straight to the terminal they would land on the live
            # line's row. When stderr is that terminal too, Rich prints them above the line.
            # Redirected stderr (2>file) is left alone: its lines must stay in the file.
            redirect_stderr=_isatty(sys.stderr),
        )
        self._live.start()
        return self

    def update(self, step: int, loss: float | None, lr: float) -> None:
        self.step = step
        if loss is not None:
            self.loss = loss
        self.lr = lr
        self._say_training_eta()
        if self._live is not None:
            self._live.update(Text(self.text()), refresh=True)
        elif self.shown and step < self.total:
            now = _clock()
            if now - self._printed >= PIPED_EVERY_S:
                self._printed = now
                logs.get_logger().info(self.text())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        final = self.text()
        if not self.shown:
            return
        if self._live is None:
            logs.get_logger().info(final)
            return
        self._live.update(Text(final))
        self._live.stop()  # not transient: the line stays on screen
        self._live = None
        logs.get_logger().info(final, extra={"console": False})
