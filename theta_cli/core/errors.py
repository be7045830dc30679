"""One exception type for every user-facing failure, and the guard that turns it into one line.

Engine code raises :class:`ThetaError` with a message that names the file or field and what is
wrong. The CLI guard prints that message as a single line on stderr (and into the run's
runtime.log when one is attached) and exits with the error's code. No traceback reaches the user.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class ThetaError(Exception):
    """A failure the user can act on. ``str(err)`` is the whole one-line message."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT, quiet: bool = False) -> None:
        super().__init__(message)
        self.code = code
        # quiet: already reported by another process (torchrun's rank 0); exit, print nothing
        self.quiet = quiet


class DiskFull(ThetaError):
    """No space left while writing ``path``; the file there is untouched (atomic writes)."""

    def __init__(self, path: object, note: str = "") -> None:
        super().__init__(f"no space left on device while writing {path}{note}", EXIT_FAILED)
        self.path = path


def _one_line(text: str) -> str:
    from theta_cli.core.printable import scrub

    return scrub(" ".join(str(text).split()))


def report_error(message: str) -> None:
    """Print ``message`` as one line on stderr and record it in runtime.log if one is attached."""
    line = _one_line(message)
    # Record in the file first, without echoing, so the console shows the line exactly once.
    # With no handler anywhere, logging's last-resort handler would print it to stderr a
    # second time, so skip the record then (there is no runtime.log to write either).
    log = logging.getLogger("theta")
    if log.hasHandlers():
        log.error(line, extra={"console": False})
    sys.stderr.write(f"theta: error: {line}\n")
    sys.stderr.flush()


def guard(func: F) -> F:
    """Wrap a CLI command so ThetaError (and stray OS errors) exit cleanly with one line."""
    import typer  # local: keeps this module importable without the CLI stack

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except ThetaError as err:
            if not err.quiet:
                report_error(str(err))
            raise typer.Exit(err.code) from None
        except OSError as err:
            where = f" ({err.filename})" if getattr(err, "filename", None) else ""
            report_error(f"{err.strerror or err}{where}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            report_error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as err:  # a bug, not bad input: still one line unless debugging
            if os.environ.get("THETA_DEBUG"):
                raise
            report_error(
                f"internal error: {type(err).__name__}: {err} "
                "(set THETA_DEBUG=1 to see the traceback)"
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
