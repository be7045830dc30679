"""The Typer subclass every theta command group uses: each command is wrapped by
:func:`theta_cli.core.errors.guard`, so bad input ends as one line on stderr, never a traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

from theta_cli.core.errors import EXIT_BAD_INPUT, guard
from theta_cli.infer.stitch import DEFAULT_STITCH

# The table-column options of every command that reads CSV/parquet tracks (the denoise readers):
# `theta denoise` and `theta data pairs`.
LAT_COL = typer.Option(None, "--lat-col", help="Latitude column (CSV/parquet).")
LON_COL = typer.Option(None, "--lon-col", help="Longitude column (CSV/parquet).")
TIME_COL = typer.Option(None, "--time-col", help="Time column (CSV/parquet).")
TRACK_COL = typer.Option(
    None, "--track-col", help="Track id column (CSV/parquet) [default: detected, else one "
    "track per file].", show_default=False,
)

# How theta runs a model on a track, shared by `theta denoise` and `theta bench` (bench scores
# exactly what denoise writes, so the two take the same options).
OUTLIER_PREPASS = typer.Option(
    True, "--outlier-prepass/--no-outlier-prepass", help="Replace gross outliers (multipath "
    "bursts) by an adaptive Kalman smoother's position before the model sees the track.",
)
STITCH = typer.Option(
    DEFAULT_STITCH, "--stitch", help="How the chunks of a long track are denoised together: "
    "independent (each from the noisy input), df (each after the one before, its head held "
    "at that one's denoised end) or bf (all chunks step together, heads from the chunk before "
    "at the same noise level).",
)

#: click's UsageError, reached through typer's public ``BadParameter`` (one of its subclasses):
#: recent typer vendors its own click, and its module path is private.
UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


class OneLineUsageError(UsageError):  # type: ignore[misc,valid-type]
    """A usage error (unknown option, bad value) shown as one line, like every other theta error.

    Click's own form is three lines (usage, hint, error); theta keeps one line on stderr that
    names the option and where to read more.
    """

    exit_code = EXIT_BAD_INPUT

    def show(self, file: IO[str] | None = None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        message = " ".join(self.format_message().split())
        (file or sys.stderr).write(f"theta: error: {message}{where}\n")


def _one_line(err: Any) -> Any:
    # "theta" with no arguments prints the help (NoArgsIsHelpError): not an error to reword.
    if isinstance(err, OneLineUsageError) or type(err).__name__ == "NoArgsIsHelpError":
        return err
    return OneLineUsageError(err.format_message(), err.ctx)


class ThetaGroup(TyperGroup):
    """Group whose parse errors, its own and its subcommands', are one-line errors."""

    def make_context(self, *args: Any, **kwargs: Any) -> typer.Context:
        try:
            return super().make_context(*args, **kwargs)
        except UsageError as err:
            raise _one_line(err) from None

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as err:
            raise _one_line(err) from None


class PlainArgument(TyperArgument):
    """A positional argument shown by its metavar alone, click's way: ``INPUT...`` in the usage
    line and the help, not ``{INPUT}...`` and ``INPUT <list[Path]>`` (a Python type label)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _rich_display_name(self) -> str:
        return self.display_name_raw + ("..." if self.nargs != 1 else "")

    def _usage_display_name(self) -> str:
        name = self._rich_display_name()
        return name if self.required else f"[{name}]"


class ThetaCommand(TyperCommand):
    """A command whose positional arguments are shown plainly (``PlainArgument``). Typer builds
    its arguments itself (no class to pass it), so they take the subclass here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if type(param) is TyperArgument:
                param.__class__ = PlainArgument


class ThetaTyper(typer.Typer):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", ThetaGroup)
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("add_completion", False)
        kwargs.setdefault("pretty_exceptions_enable", False)
        kwargs.setdefault("rich_markup_mode", None)
        super().__init__(**kwargs)

    def command(
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            opts = dict(kwargs)
            opts.setdefault("cls", ThetaCommand)
            # Click cuts the default summary at ~45 characters ("Start a new training run
            # in..."); the docstring's whole first line is the summary `theta --help` shows.
            if "short_help" not in opts and func.__doc__:
                opts["short_help"] = func.__doc__.strip().splitlines()[0]
            super(ThetaTyper, self).command(*args, **opts)(guard(func))
            return func

        return decorator


#: Input formats that are tables, the only ones the column options (``base.LAT_COL``...) name.
TABLE_FORMATS = ("csv", "parquet")
#: Name at most this many files in the warning (a directory may hold hundreds).
_NAMED_FILES = 3


def warn_unused_columns(options: dict[str, str | None], inputs: list[tuple[Path, str]]) -> None:
    """Say that a column option given for GPX/FIT/GeoJSON inputs does nothing there, rather than
    ignoring it silently (a user who passes --lat-col believes it took effect)."""
    names = [p.name for p, fmt in inputs if fmt not in TABLE_FORMATS]
    if not names:
        return
    files = ", ".join(names[:_NAMED_FILES])
    if len(names) > _NAMED_FILES:
        files += f" and {len(names) - _NAMED_FILES} more"
    for option, value in options.items():
        if value is not None:
            from theta_cli.core import logs

            logs.get_logger().warning(
                f"{option}: applies to CSV/parquet inputs only; ignored for {files}"
            )


@contextlib.contextmanager
def progress_bar(label: str, min_total: int = 0) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar on stderr (stdout stays clean), removed when done; yields
    ``update(done, total)``. With ``min_total`` it starts only for a total of at least that
    many (smaller jobs finish before it would draw); without, at once, its total unknown."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from theta_cli.core import logs

    bar: Progress | None = None
    task: Any = None

    def start(total: int | None) -> None:
        nonlocal bar, task
        bar = Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=logs.err_console, transient=True,
        )
        bar.start()
        task = bar.add_task(label, total=total)

    def update(done: int, total: int) -> None:
        if total < min_total:
            return
        if bar is None:
            start(total)
        assert bar is not None
        bar.update(task, completed=done, total=max(total, done))

    if min_total <= 0:
        start(None)
    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()
