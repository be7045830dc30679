"""What a denoise is asked to do, checked once, and the settings a loaded model makes of it.

    DenoiseOptions   how to run a model, as the user gave it (``theta denoise``, ``theta bench``):
                     Euler steps, batch size, device, max gap, buckles, symmetries; refused on
                     construction, before any file is read or model loaded
    DenoiseRequest   the files (planned ``Job``s), the model reference, the table columns and the
                     options: everything ``engine.denoise_with_model`` needs
    DenoiseSettings  the options made concrete by a loaded model: its K, its buckles unless
                     --q1/--q2 override them, its fix interval; ``DenoiseOptions.settings`` checks
                     what the model brings, so each part is checked once

Every refusal is one line naming the option (or the model), as ``theta denoise`` prints it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from theta_cli import flow
from theta_cli.core.config import FIX_INTERVAL_MAX_S, FIX_INTERVAL_MIN_S
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import BYTE, check_buckles
from theta_cli.infer.outputs import Job
from theta_cli.infer.runner import ENSEMBLES
from theta_cli.infer.segments import default_max_gap
from theta_cli.infer.stitch import DEFAULT_STITCH, STITCHES
from theta_cli.tracks.table import ColumnNames


def check_options(
    steps: int, batch_size: int, max_gap_s: float | None, q1: int | None, q2: int | None,
    symmetries: int, stitch: str = "independent",
) -> None:
    """Refuse run options that cannot denoise, naming the option: the one check of them
    (``DenoiseOptions`` on construction, ``DenoiseSettings.validate``)."""
    if steps < 1:
        raise ThetaError(f"--steps {steps}: must be at least 1")
    if batch_size < 1:
        raise ThetaError(f"--batch-size {batch_size}: must be at least 1")
    if max_gap_s is not None and not (math.isfinite(max_gap_s) and max_gap_s > 0):
        raise ThetaError(f"--max-gap {max_gap_s}: must be a positive number of seconds")
    for name, q in (("--q1", q1), ("--q2", q2)):
        if q is not None and q < 0:
            raise ThetaError(f"{name} {q}: must be >= 0")
    if symmetries not in ENSEMBLES:
        raise ThetaError(
            f"--symmetries {symmetries}: expected one of {', '.join(map(str, ENSEMBLES))}"
        )
    if stitch not in STITCHES:
        raise ThetaError(f"--stitch {stitch}: expected one of {', '.join(STITCHES)}")


def model_steps(cfg: Any) -> int:
    """The Euler steps a model is run at when --steps is not given: its config's
    ``best_steps`` (chosen by benching it), else ``flow.DEFAULT_STEPS``."""
    best = getattr(cfg, "best_steps", None)
    return int(best) if best else flow.DEFAULT_STEPS


@dataclass(frozen=True)
class DenoiseSettings:
    """The model's geometry (K, buckles, fix interval) and how to run it."""

    K: int
    Q1: int
    Q2: int
    fix_interval_s: float
    steps: int = flow.DEFAULT_STEPS
    batch_size: int = 256
    device: str = "cpu"
    max_gap_s: float | None = None  # None: default_max_gap(fix_interval_s)
    symmetries: int = 1  # 8: the test-time ensemble over rotations and reflections (runner)
    stitch: str = DEFAULT_STITCH  # how chunks of one series are denoised together (stitch.py)
    prepass: bool = True  # outliers replaced by adaptive RTS's position first (prepass.py)

    @property
    def gap_s(self) -> float:
        if self.max_gap_s is not None:
            return self.max_gap_s
        return default_max_gap(self.fix_interval_s)

    def validate(self) -> None:
        """Refuse settings that cannot denoise, naming the option: settings made by hand (a
        benchmark, a test); ``DenoiseOptions.settings`` makes them checked."""
        check_options(self.steps, self.batch_size, self.max_gap_s, self.Q1, self.Q2,
                      self.symmetries, self.stitch)  # fmt: skip
        self.check_model()

    def check_model(self) -> None:
        """Refuse what the model brings: its K, the buckles (its own or --q1/--q2) and its fix
        interval, which sizes the grid a track is resampled onto (NaN fails the test too)."""
        if self.K < BYTE or self.K % BYTE:
            raise ThetaError(f"model K={self.K}: must be a positive multiple of {BYTE}")
        try:
            check_buckles(self.K, self.Q1, self.Q2)
        except ValueError as e:
            raise ThetaError(f"--q1/--q2: {e}") from None
        if not FIX_INTERVAL_MIN_S <= self.fix_interval_s <= FIX_INTERVAL_MAX_S:
            raise ThetaError(
                f"model fix interval {self.fix_interval_s!r} s: must be between "
                f"{FIX_INTERVAL_MIN_S:g} and {FIX_INTERVAL_MAX_S:g} s"
            )


@dataclass(frozen=True)
class DenoiseOptions:
    """How to run a model, as asked; None means the model's own buckles, the default max gap
    (``segments.default_max_gap``) and the best device. Checked on construction."""

    steps: int | None = None  # None: the model's best_steps, else flow.DEFAULT_STEPS
    batch_size: int = 256
    device: str | None = None
    max_gap_s: float | None = None
    q1: int | None = None
    q2: int | None = None
    symmetries: int = 1  # 8: the test-time ensemble over rotations and reflections (runner)
    stitch: str = DEFAULT_STITCH
    prepass: bool = True

    def __post_init__(self) -> None:
        steps = 1 if self.steps is None else self.steps  # None: the model's, checked there
        check_options(steps, self.batch_size, self.max_gap_s, self.q1, self.q2, self.symmetries,
                      self.stitch)  # fmt: skip

    def settings(self, loaded: Any, device: str) -> DenoiseSettings:
        """These options for ``loaded`` (an ``artifact.load.LoadedModel``) on ``device`` (already
        picked); refuses what the model brings (``DenoiseSettings.check_model``)."""
        cfg = loaded.config
        settings = DenoiseSettings(
            K=cfg.K,
            Q1=cfg.Q1 if self.q1 is None else self.q1,
            Q2=cfg.Q2 if self.q2 is None else self.q2,
            fix_interval_s=float(loaded.fix_interval_s),
            steps=self.steps if self.steps is not None else model_steps(cfg),
            batch_size=self.batch_size,
            device=device,
            max_gap_s=self.max_gap_s,
            symmetries=self.symmetries,
            stitch=self.stitch,
            prepass=self.prepass,
        )
        settings.check_model()
        return settings


@dataclass(frozen=True)
class DenoiseRequest:
    """What ``theta denoise`` asks for: the planned jobs (``outputs.plan_jobs``), the model
    reference (None: the built-in model), the table columns and the run options."""

    jobs: tuple[Job, ...]
    model: str | None = None
    columns: ColumnNames | None = None
    options: DenoiseOptions = field(default_factory=DenoiseOptions)
    models_dir: Path | None = None  # where a model named by run is looked for (None: default)
    # Several inputs: False reports a bad file and writes the others; True (--stop-on-error)
    # refuses the whole batch on the first bad file, nothing written. One input always stops.
    stop_on_error: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "jobs", tuple(self.jobs))
