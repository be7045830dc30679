"""The one place theta reads a torch file: ``torch.load(weights_only=True)``, errors made one line.

Loading never runs code hidden in a file. A file that would need pickled code is refused and the
blocked item is named; any other damage (truncated zip, text renamed to .pt) is reported as
unreadable, not as an internal error.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

from theta_cli.core.errors import ThetaError


def _blocked_item(err: Exception) -> str | None:
    """The specific part of torch's weights-only refusal (``Unsupported global: GLOBAL io.open``).

    The rest is boilerplate (worded differently across torch versions) that even suggests
    ``weights_only=False``; keep it out of theta's one-line message.
    """
    # "Unsupported operand N" is not a refusal of code: the bytes are simply not a pickle.
    m = re.search(r"unsupported global[^\n]*", str(err), re.IGNORECASE)
    return m.group(0).split(". ")[0].rstrip(". ")[:160] if m else None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    if text and not isinstance(err, (RuntimeError, OSError, ValueError)):
        first = f"{type(err).__name__}: {first}"  # a bare KeyError says only '101'
    return first[:160]


def torch_load(path: Path, kind: str, map_location: str = "cpu", mmap: bool = False) -> Any:
    """Load ``path`` safely; ``kind`` ("checkpoint", "epoch file") words the error messages.

    ``mmap=True`` maps the tensors instead of reading them: shapes can be checked for free.
    torch can only map its zip format; anything else is read normally, so that a legacy file
    loads and a damaged one gets the usual message rather than torch's advice about mmap.
    """
    import torch

    if not path.is_file():
        raise ThetaError(f"{path}: {kind} not found")
    try:
        return torch.load(
            path,
            map_location=map_location,
            weights_only=True,
            mmap=mmap and zipfile.is_zipfile(path),
        )
    except pickle.UnpicklingError as e:
        blocked = _blocked_item(e)
        if blocked is None:  # not a refusal: the bytes are simply not a torch file
            raise ThetaError(f"{path}: not a readable {kind} ({_first_line(e)})") from None
        raise ThetaError(
            f"{path}: refused: the {kind} needs pickled code to load, which theta never "
            f"runs ({blocked})"
        ) from None
    except Exception as e:  # a damaged file fails in many ways (KeyError, IndexError, ...)
        raise ThetaError(f"{path}: not a readable {kind} ({_first_line(e)})") from None
