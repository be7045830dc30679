"""One print path: stdlib ``logging`` with a Rich console handler and a runtime.log file handler.

Every message goes through the ``theta`` logger. The console handler prints it (warnings and
errors to stderr); the file handler writes ``[ 2026-11-21 13:04:05 ][ INFO ] message`` into the
run's ``log/runtime.log``. Records logged before a run directory exists (config resolution, the
first section header) are buffered and replayed into the file once it is attached, so the file
holds every line that was printed.

Extras on a record:
    ``extra={"console": False}``  file only (e.g. the final text of a live line already on screen)
    ``extra={"file": False}``     console only
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from logging.handlers import MemoryHandler
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleDimensions, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from theta_cli.core.printable import scrub

LOGGER_NAME = "theta"
TIME_FMT = "%Y-%m-%d %H:%M:%S"
FILE_FMT = "[ %(asctime)s ][ %(levelname)s ] %(message)s"


#: The least width of a console that is not a terminal (``SafeConsole.size``).
PIPED_WIDTH = 200


class SafeConsole(Console):
    """A Rich console that shows untrusted text as text.

    - Markup is off by default: a file named ``[bold]ride.gpx`` prints as it is named, in a
      table cell as in a log line. Styled output uses ``Text``/``style=``, never markup.
    - Control characters in anything rendered (strings, ``Text``, table cells, panel titles) are
      shown as escapes (``printable.scrub``). Rich's own control segments (cursor moves of a
      live line) are left alone.
    """

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    @property
    def size(self) -> ConsoleDimensions:
        """Rich's size; but output that is not a terminal (a pipe, a file) is at least
        ``PIPED_WIDTH`` wide unless a width or $COLUMNS is given: a table piped to a file must
        not fold its paths at 80 columns."""
        size = super().size
        if self._width is None and "COLUMNS" not in self._environ and not self.is_terminal:
            return ConsoleDimensions(max(size.width, PIPED_WIDTH), size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    def render_str(self, text: str, **kwargs: Any) -> Text:
        # Before Rich sees it: Rich itself drops some controls (BEL, BS) instead of showing them.
        return super().render_str(scrub(text), **kwargs)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterator[Segment]:
        for seg in super().render(renderable, options):
            if seg.control or not seg.text:
                yield seg
            else:
                yield Segment(scrub(seg.text), seg.style, seg.control)


#: Console for normal output (stdout). Resolves sys.stdout lazily, so test runners can swap it.
console = SafeConsole(soft_wrap=True)
err_console = SafeConsole(stderr=True, soft_wrap=True)

_STYLES = {logging.WARNING: "yellow", logging.ERROR: "bold red", logging.CRITICAL: "bold red"}


class ConsoleHandler(logging.Handler):
    """Print records through Rich, so they render above an active Live line."""

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, "console", True):
            return
        try:
            msg = self.format(record)
            style = _STYLES.get(record.levelno)
            if record.levelno >= logging.WARNING:
                prefix = "warning: " if record.levelno == logging.WARNING else "error: "
                # A fresh console per call: its file must be the *current* sys.stderr.
                SafeConsole(file=sys.stderr, soft_wrap=True).print(prefix + msg, style=style)
            else:
                console.print(msg, style=getattr(record, "style", None))
        except Exception:  # never let logging kill a run
            self.handleError(record)


class _ScrubFormatter(logging.Formatter):
    """Escape control characters: ``cat runtime.log`` must not replay a file name's escapes."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class RunFileHandler(logging.FileHandler):
    """Append to runtime.log, flushing after every record (a crash loses nothing printed)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, mode="a", encoding="utf-8")
        self.setFormatter(_ScrubFormatter(FILE_FMT, datefmt=TIME_FMT))

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "file", True):
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        # runtime.log on a full disk: the console still shows the message; logging's default
        # would print a traceback to stderr.
        pass


def _startup_buffer() -> MemoryHandler:
    """Keeps records until a run log is attached; it never flushes on its own (no target yet,
    and no level triggers a flush), so nothing is lost before runtime.log exists."""
    return MemoryHandler(capacity=10_000, flushLevel=logging.CRITICAL + 1, target=None)


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def setup(verbose: bool = False) -> logging.Logger:
    """(Re)configure the theta logger for one command: console handler plus a start-up buffer."""
    log = get_logger()
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    ch = ConsoleHandler()
    ch.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(ch)
    log.addHandler(_startup_buffer())
    return log


@contextlib.contextmanager
def stdout_to_stderr(active: bool) -> Iterator[None]:
    """With ``--json``, stdout carries the JSON only: the console's lines go to stderr meanwhile."""
    if not active:
        yield
        return
    console.file = sys.stderr
    try:
        yield
    finally:
        console.file = None  # type: ignore[assignment]  # back to the current stdout


def quiet() -> None:
    """Print nothing (torchrun ranks other than 0: rank 0 speaks for the job). Errors that end
    the process are still written to stderr by the CLI guard."""
    get_logger().setLevel(logging.CRITICAL + 1)


def attach_run_log(path: Path) -> None:
    """Start writing runtime.log at ``path`` and replay what was logged before it existed."""
    log = get_logger()
    if not any(isinstance(h, ConsoleHandler) for h in log.handlers):
        setup()
    for h in list(log.handlers):
        if isinstance(h, RunFileHandler):
            log.removeHandler(h)
            h.close()
    fh = RunFileHandler(path)
    for h in list(log.handlers):
        if isinstance(h, MemoryHandler):
            h.setTarget(fh)
            h.flush()  # replay the start-up records into the file
            log.removeHandler(h)
    log.addHandler(fh)


def detach_run_log() -> None:
    log = get_logger()
    for h in list(log.handlers):
        if isinstance(h, (RunFileHandler, MemoryHandler)):
            log.removeHandler(h)
            h.close()
