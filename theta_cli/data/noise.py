"""The synthetic GNSS noise model: white jitter + correlated drift + rare multipath jumps.

White jitter alone flatters every denoiser (DOMAIN.md, "Trajectory error"), so the default
model adds a first-order Gauss-Markov (AR(1)) drift and occasional outlier jumps. All noise is
horizontal, in metres east/north, applied at the (jittered) fix times.

``vary_noise`` (opt-in, default 0) gives every agent its own receiver: each of white sigma, drift
sigma, drift tau and outlier rate is scaled by an independent log-uniform factor in
[1/(1+F), 1+F], so a model trained on the pairs sees many noise levels, not one.
"""

from __future__ import annotations

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from theta_cli.data import defaults as D

NOISE_FILE = "noise_model.json"
#: Fixes per block when running the AR(1) recursion in closed form (keeps exp() in range).
_AR_BLOCK = 256
_MAX_DECAY = 300.0
#: The parameters ``vary_noise`` scales per agent, each by its own factor.
VARIED_FIELDS = ("white_sigma", "drift_sigma", "drift_tau", "outlier_rate")
#: Spawn-key word of the per-agent side stream the factors come from ("vary" in ASCII).
_VARY_KEY = 0x76617279


class NoiseModel(BaseModel):
    """Noise added to the clean track, per axis (east, north) unless said otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    white_sigma: float = Field(D.WHITE_SIGMA_M, ge=0.0, description="white jitter std per axis, m")
    drift_sigma: float = Field(
        D.DRIFT_SIGMA_M, ge=0.0, description="AR(1) drift stationary std per axis, m"
    )
    drift_tau: float = Field(D.DRIFT_TAU_S, gt=0.0, description="drift correlation time, seconds")
    outlier_rate: float = Field(
        D.OUTLIER_RATE, ge=0.0, le=1.0, description="chance that a multipath jump starts at a fix"
    )
    outlier_min: float = Field(D.OUTLIER_MIN_M, ge=0.0, description="smallest jump distance, m")
    outlier_max: float = Field(D.OUTLIER_MAX_M, ge=0.0, description="largest jump distance, m")
    outlier_max_fixes: int = Field(
        D.OUTLIER_MAX_FIXES, ge=1, description="a jump lasts 1..this many fixes"
    )
    vary_noise: float = Field(
        0.0, ge=0.0, description="per-agent spread F: white/drift sigma, drift tau and outlier "
        "rate each scaled by a log-uniform factor in [1/(1+F), 1+F]; 0 = one receiver for all",
    )

    @field_validator("outlier_max")
    @classmethod
    def _jump_range(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("outlier_min")
        if low is not None and value < low:
            raise ValueError(f"{value:g} is smaller than outlier_min ({low:g})")
        return value

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict:
        # vary_noise is left out while off, so noise_model.json of a default run keeps the
        # bytes it had before the option existed (and reads back the same either way).
        data = handler(self)
        if self.vary_noise == 0.0:
            data.pop("vary_noise", None)
        return data

    def varied(self, rng: np.random.Generator, spread: float) -> NoiseModel:
        """This model with each of ``VARIED_FIELDS`` scaled by an independent log-uniform
        factor in [1/(1+spread), 1+spread]; ``spread`` 0 returns the model itself, no draw."""
        if not spread >= 0.0:
            raise ValueError(f"spread {spread!r} must be >= 0")
        if spread == 0.0:
            return self
        span = np.log1p(spread)
        factors = np.exp(rng.uniform(-span, span, size=len(VARIED_FIELDS)))
        update: dict[str, float] = {
            name: float(getattr(self, name) * f)
            for name, f in zip(VARIED_FIELDS, factors, strict=True)
        }
        update["outlier_rate"] = min(1.0, update["outlier_rate"])  # it is a probability
        update["vary_noise"] = 0.0  # the result is one agent's receiver: vary it no further
        return self.model_copy(update=update)

    def sample(self, times: np.ndarray, rng: np.random.Generator) -> NoiseDraw:
        """Noise for one agent at fix times ``times`` (seconds, increasing).

        With ``vary_noise`` the agent's parameters come from ``varied`` first, with factors drawn
        from a side stream of ``rng``'s seed, not from ``rng``: the white and drift innovations
        and the outlier coin flips are the ones the model without the option draws, so turning
        it on rescales an agent's noise rather than replacing it (only how many jumps follow
        depends on the scaled rate).
        """
        if self.vary_noise > 0.0:
            return self.varied(side_stream(rng), self.vary_noise).sample(times, rng)
        n = len(times)
        white = rng.normal(0.0, self.white_sigma, size=(n, 2))
        drift = ar1_drift(times, self.drift_sigma, self.drift_tau, rng)
        outlier = np.zeros((n, 2))
        mask = np.zeros(n, dtype=bool)
        starts = np.flatnonzero(rng.random(n) < self.outlier_rate)
        for i in starts:  # rare events: a Python loop is fine
            length = int(rng.integers(1, self.outlier_max_fixes + 1))
            dist = rng.uniform(self.outlier_min, self.outlier_max)
            ang = rng.uniform(0.0, 2.0 * np.pi)
            outlier[i : i + length] = dist * np.array([np.sin(ang), np.cos(ang)])
            mask[i : i + length] = True
        return NoiseDraw(white=white, drift=drift, outlier=outlier, outlier_mask=mask)


class NoiseDraw:
    """The three components of one draw; ``total`` is what the receiver reports."""

    def __init__(
        self, white: np.ndarray, drift: np.ndarray, outlier: np.ndarray, outlier_mask: np.ndarray
    ) -> None:
        self.white = white
        self.drift = drift
        self.outlier = outlier
        self.outlier_mask = outlier_mask

    @property
    def total(self) -> np.ndarray:
        return self.white + self.drift + self.outlier


def side_stream(rng: np.random.Generator) -> np.random.Generator:
    """An independent generator derived from ``rng``'s seed, without drawing from ``rng``.

    Same seed, same side stream. A generator not made from a SeedSequence has no seed to
    branch from; then the draws come from ``rng`` itself (still deterministic).
    """
    seq = getattr(rng.bit_generator, "seed_seq", None)
    if not isinstance(seq, np.random.SeedSequence):
        return rng
    child = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, _VARY_KEY))
    return np.random.default_rng(child)


def ar1_drift(
    times: np.ndarray, sigma: float, tau: float, rng: np.random.Generator
) -> np.ndarray:
    """Stationary Gauss-Markov drift sampled at irregular ``times``: shape (n, 2).

    x_i = phi_i x_{i-1} + sqrt(1 - phi_i^2) sigma eps_i with phi_i = exp(-dt_i / tau), which is
    the exact discretisation of an Ornstein-Uhlenbeck process (so missing fixes and timing
    jitter keep the correlation time right). The linear recursion is solved in closed form per
    block: x_i = P_i (x_prev + sum_j e_j / P_j), P_i = prod of phi since the block start,
    vectorised instead of a Python loop over fixes.
    """
    n = len(times)
    out = np.zeros((n, 2))
    if n == 0 or sigma == 0.0:
        return out
    # Decay per step, capped so a long outage cannot underflow phi to 0 (e^-50 is independence).
    decay = np.minimum(np.diff(times, prepend=times[0]) / tau, 50.0)
    phi = np.exp(-decay)
    innov = rng.normal(0.0, 1.0, size=(n, 2)) * (sigma * np.sqrt(1.0 - phi * phi))[:, None]
    innov[0] = rng.normal(0.0, sigma, size=2)  # start in the stationary distribution
    prev = np.zeros(2)
    i = 0
    while i < n:
        # Blocks end before the accumulated decay passes _MAX_DECAY so 1/P stays finite.
        c = np.cumsum(decay[i : i + _AR_BLOCK])
        end = i + max(1, int(np.searchsorted(c, _MAX_DECAY, side="right")))
        p = np.exp(-(c[: end - i]))[:, None]
        out[i:end] = p * (prev + np.cumsum(innov[i:end] / p, axis=0))
        prev = out[end - 1]
        i = end
    return out
