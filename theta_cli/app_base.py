"""The Typer subclass every theta command group uses: each command is wrapped by
:func:`theta_cli.errors.guard`, so bad input ends as one line on stderr, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from theta_cli.errors import guard


class ThetaTyper(typer.Typer):
    def __init__(self, **kwargs: Any) -> None:
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
            # Click cuts the default summary at ~45 characters ("Start a new training run
            # in..."); the docstring's whole first line is the summary `theta --help` shows.
            if "short_help" not in opts and func.__doc__:
                opts["short_help"] = func.__doc__.strip().splitlines()[0]
            super(ThetaTyper, self).command(*args, **opts)(guard(func))
            return func

        return decorator
