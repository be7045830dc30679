"""The one live line per epoch: epoch, step/total, running loss, lr, samples/s and ETA.

It is redrawn only when the trainer calls ``update`` (every ``log_interval`` steps), never by a
background thread, so it costs nothing between updates. When the epoch ends the line stays on
screen and its final text is written to runtime.log (file only: it is already on screen). When
stdout is not a terminal (a pipe, a file, a test runner) there is no live line: the final text is
printed once, as an ordinary log line.
"""

from __future__ import annotations

import time
from datetime import timedelta
from types import TracebackType

from rich.live import Live
from rich.text import Text

from theta_cli import logs


def _eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # nan / inf before the first interval
        return "--:--"
    return str(timedelta(seconds=int(round(seconds))))


class EpochLine:
    """Context manager around a Rich Live line for one epoch."""

    def __init__(self, epoch: int, epochs: int, total_steps: int, batch_size: int, start_step: int):
        self.epoch = epoch
        self.epochs = epochs
        self.total = total_steps
        self.batch_size = batch_size
        self.start_step = start_step
        self.step = start_step
        self.loss: float | None = None
        self.lr: float | None = None
        self._t0 = time.perf_counter()
        self._live: Live | None = None

    def text(self) -> str:
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        done = self.step - self.start_step
        rate = done / elapsed
        sps = rate * self.batch_size
        eta = (self.total - self.step) / rate if rate > 0 else float("nan")
        loss = "-" if self.loss is None else f"{self.loss:.4f}"
        lr = "-" if self.lr is None else f"{self.lr:.3e}"
        return (
            f"epoch {self.epoch + 1}/{self.epochs}  step {self.step}/{self.total}  "
            f"loss {loss}  lr {lr}  {sps:,.0f} samples/s  ETA {_eta(eta)}"
        )

    def __enter__(self) -> EpochLine:
        con = logs.console
        if not con.is_terminal or con.is_dumb_terminal:
            return self  # a file or pipe gets only the final line, printed once on exit
        self._live = Live(
            Text(self.text()),
            console=logs.console,
            auto_refresh=False,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        return self

    def update(self, step: int, loss: float | None, lr: float) -> None:
        self.step = step
        if loss is not None:
            self.loss = loss
        self.lr = lr
        if self._live is not None:
            self._live.update(Text(self.text()), refresh=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        final = self.text()
        if self._live is None:
            logs.get_logger().info(final)
            return
        self._live.update(Text(final))
        self._live.stop()  # not transient: the line stays on screen
        self._live = None
        logs.get_logger().info(final, extra={"console": False})
