"""Ctrl-C during training: the first one asks the loop to stop at the next step boundary (where
the state is consistent and can be saved); a second one raises KeyboardInterrupt at once."""

from __future__ import annotations

import contextlib
import shlex
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from theta_cli.core import logs

log = logs.get_logger()


class Interrupted(Exception):
    """Ctrl-C: the run stopped cleanly; ``ckpt`` is the checkpoint to resume from (if any)."""

    def __init__(self, message: str, ckpt: Path | None) -> None:
        super().__init__(message)
        self.ckpt = ckpt


class SigintDeferral:
    """While entered and ``armed``, SIGINT sets ``requested`` instead of raising (the second one
    raises). Unarmed, it raises at once, like Python's default: nothing to save yet."""

    def __init__(self, armed: bool = True) -> None:
        self.requested = False
        self.armed = armed
        self._installed = False
        self._previous: Any = signal.SIG_DFL

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested or not self.armed:
            raise KeyboardInterrupt
        self.requested = True  # no logging here: a signal handler must not take locks

    @property
    def installed(self) -> bool:
        return self._installed

    def __enter__(self) -> SigintDeferral:
        if threading.current_thread() is threading.main_thread():  # signals need the main thread
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            # None means the old handler was not set from Python; the default is the safe choice
            previous = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
            self._installed = False


def report_interrupt(what: str, ckpt: Path | None) -> NoReturn:
    """Say what stopped and the command that resumes from ``ckpt``; raise ``Interrupted``."""
    if ckpt is None:
        log.warning(f"{what}; no checkpoint to resume from yet")
        raise Interrupted(what, None)
    log.warning(f"{what}; resume from {ckpt.name}")
    log.info(f"resume with: theta resume {shlex.quote(_display_path(ckpt))}")
    raise Interrupted(what, ckpt)


def _display_path(path: Path) -> str:
    """Relative to the working directory when inside it, else absolute."""
    p = Path(path).resolve()
    with contextlib.suppress(ValueError):
        return str(p.relative_to(Path.cwd().resolve()))
    return str(p)
