"""The classic denoisers ``bench`` compares theta with, by name.

Each is a callable ``(tracks, **params) -> list[np.ndarray]``: one [n, 2] ENU estimate per
track, computed from the noisy ``xy`` and ``t`` only (never ``clean``). A call does all of its
work, so timing it from outside gives the method's points per second.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from theta_cli.core.errors import ThetaError
from theta_cli.eval.savgol import savgol_smooth
from theta_cli.eval.trajectory import Track
from theta_cli.smooth.adaptive import adaptive_rts_smooth
from theta_cli.smooth.kalman import robust_rts_smooth, rts_smooth


class Baseline(Protocol):
    def __call__(self, tracks: Sequence[Track], **params: Any) -> list[np.ndarray]: ...


def raw(tracks: Sequence[Track]) -> list[np.ndarray]:
    """The noisy track itself: the error every method must beat."""
    return [tr.xy.copy() for tr in tracks]


BASELINES: dict[str, Baseline] = {
    "raw": raw,
    "rts": rts_smooth,
    "robust_rts": robust_rts_smooth,
    "adaptive_rts": adaptive_rts_smooth,
    "savgol": savgol_smooth,
}


def baseline(name: str) -> Baseline:
    try:
        return BASELINES[name]
    except KeyError:
        raise ThetaError(
            f"baseline: unknown {name!r}, expected one of {', '.join(BASELINES)}"
        ) from None
