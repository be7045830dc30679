"""Reading a user-editable text file (config, CSV log, JSON state): UTF-8 or a one-line error.

Every reader of a text file a person may have edited goes through ``read_text``, so a stray byte
is reported as ``<file>: not valid UTF-8 (byte 0xff at position N)``, never as an internal
error.
"""

from __future__ import annotations

import os
from pathlib import Path

from theta_cli.core.errors import ThetaError


def decode(data: bytes, source: str | os.PathLike[str]) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ThetaError(
            f"{source}: not valid UTF-8 (byte 0x{data[e.start]:02x} at position {e.start})"
        ) from None


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's text; FileNotFoundError propagates (callers word "missing" their own way)."""
    return decode(Path(path).read_bytes(), path)
