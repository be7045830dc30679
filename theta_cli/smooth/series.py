"""What a smoother reads of a track: its times and noisy positions (``eval.trajectory.Track``
is one; the denoise pre-pass builds its own)."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Series(Protocol):
    """A track in local ENU metres: ``t`` [n] non-decreasing seconds, ``xy`` [n, 2]."""

    @property
    def t(self) -> np.ndarray: ...

    @property
    def xy(self) -> np.ndarray: ...

    def __len__(self) -> int: ...
