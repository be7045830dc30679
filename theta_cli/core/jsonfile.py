"""Parsing a user-editable JSON file: every way it can be bad is one line naming the file.

``json.loads`` recurses once per nested ``[`` or ``{``: a hand-edited or hostile file with
100,000 of them raises RecursionError, and a structure just under Python's limit can still
blow the stack later (pydantic, ``repr`` in an error message). Real theta files are a few
levels deep (a run config is flat, prepare.json nests four), so anything deeper than
``MAX_DEPTH`` is refused here, before any other code walks it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from theta_cli.core.errors import ThetaError

#: Deepest nesting accepted; theta's own files need four levels.
MAX_DEPTH = 64


class TooDeep(ThetaError):
    """JSON nested deeper than MAX_DEPTH (or than Python's recursion limit)."""


def _depth(data: Any) -> int:
    """Nesting depth of a parsed value, walked without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in value if isinstance(v, (list, dict)))
    return deepest


def loads(text: str, source: str | os.PathLike[str]) -> Any:
    """``json.loads(text)``; bad JSON or nesting deeper than MAX_DEPTH raises ThetaError
    naming ``source`` (the file the text came from)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ThetaError(
            f"{source}: not valid JSON: line {e.lineno} col {e.colno}: {e.msg}"
        ) from None
    except RecursionError:
        raise TooDeep(f"{source}: JSON nested too deeply") from None
    if _depth(data) > MAX_DEPTH:
        raise TooDeep(f"{source}: JSON nested too deeply (more than {MAX_DEPTH} levels)")
    return data
