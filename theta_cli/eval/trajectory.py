"""Whole tracks and their trajectory error: the per-point horizontal distance, in metres, between
an estimate and the clean truth, and the summary that ``bench`` and ``denoise`` report.

A :class:`Track` is in a local ENU frame (metres): ``xy`` is what a denoiser sees, ``clean`` is
the truth it is scored against. Every method in ``theta_cli.eval`` maps a list of tracks to a list
of ``[n, 2]`` estimates in the same frame, one point per input point.

Percentiles use numpy's default linear interpolation between order statistics, so the median of
an even count is the midpoint of the two middle values (the convention of ``acc_median``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from theta_cli.core.errors import ThetaError
from theta_cli.core.metrics import METRIC_NAMES, with_metric_fields
from theta_cli.tracks.enu import to_enu


@dataclass(frozen=True, eq=False)  # eq on arrays is ambiguous: tracks compare by identity
class Track:
    """One track in local ENU metres. ``t`` is non-decreasing seconds (float64); ``xy`` the noisy
    positions ``[n, 2]``; ``clean`` the truth in the same frame, or None when there is none;
    ``cls`` the travel class (walk/cycle/drive) when known. Arrays are stored as float64."""

    id: str
    t: np.ndarray
    xy: np.ndarray
    clean: np.ndarray | None = None
    cls: str | None = None

    def __post_init__(self) -> None:
        t = np.asarray(self.t, dtype=np.float64)
        xy = np.asarray(self.xy, dtype=np.float64)
        if t.ndim != 1 or xy.shape != (len(t), 2):
            raise ThetaError(
                f"track {self.id}: t {t.shape} and xy {xy.shape} must be [n] and [n, 2]"
            )
        if not (np.isfinite(t).all() and np.isfinite(xy).all()):
            raise ThetaError(f"track {self.id}: t and xy must be finite")
        # Equal times are allowed (two fixes of one instant); going back in time is not.
        if len(t) > 1 and (np.diff(t) < 0).any():
            raise ThetaError(f"track {self.id}: times must not decrease")
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "xy", xy)
        if self.clean is not None:
            clean = np.asarray(self.clean, dtype=np.float64)
            if clean.shape != xy.shape or not np.isfinite(clean).all():
                raise ThetaError(
                    f"track {self.id}: clean {clean.shape} must be finite and shaped like "
                    f"xy {xy.shape}"
                )
            object.__setattr__(self, "clean", clean)

    def __len__(self) -> int:
        return len(self.t)


def enu_error(est: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Horizontal distance in metres between ENU positions ``[..., 2]`` (both in metres)."""
    est = np.asarray(est, dtype=np.float64)
    clean = np.asarray(clean, dtype=np.float64)
    if est.shape != clean.shape or est.shape[-1:] != (2,):
        raise ThetaError(f"error: estimate {est.shape} and clean {clean.shape} must match [..., 2]")
    d = est - clean
    return np.hypot(d[..., 0], d[..., 1])


def latlon_error(
    est_lat: np.ndarray, est_lon: np.ndarray, clean_lat: np.ndarray, clean_lon: np.ndarray
) -> np.ndarray:
    """Horizontal distance in metres between estimated and clean WGS-84 positions (degrees).

    Each estimate is put in the ENU frame of its own clean point (pymap3d, through
    ``tracks.enu.to_enu``), so the distance is its east/north norm: exact to well under a
    millimetre at the tens-of-metres distances of GNSS error, with no per-track origin needed.
    """
    shapes = {np.shape(a) for a in (est_lat, est_lon, clean_lat, clean_lon)}
    if len(shapes) != 1:
        raise ThetaError(f"error: lat/lon arrays must share one shape, got {sorted(shapes)}")
    enu = to_enu(
        np.asarray(est_lat, dtype=np.float64),
        np.asarray(est_lon, dtype=np.float64),
        np.asarray(clean_lat, dtype=np.float64),
        np.asarray(clean_lon, dtype=np.float64),
    )
    return np.hypot(enu[..., 0], enu[..., 1])


def track_errors(tracks: Sequence[Track], estimates: Sequence[np.ndarray]) -> np.ndarray:
    """Per-point errors of every track's estimate against its clean truth, concatenated in order
    (pooled over points, so a long track weighs as much as its points)."""
    if len(tracks) != len(estimates):
        raise ThetaError(f"error: {len(estimates)} estimates for {len(tracks)} tracks")
    parts = []
    for tr, est in zip(tracks, estimates, strict=True):
        if tr.clean is None:
            raise ThetaError(f"track {tr.id}: no clean truth to score against")
        parts.append(enu_error(est, tr.clean))
    return np.concatenate(parts) if parts else np.empty(0)


def gsdc_score(errors: np.ndarray) -> float:
    """(p50 + p95) / 2 of the per-point errors: the Google Smartphone Decimeter Challenge score,
    so that the median and the tail both count. Pooled over all points (the challenge averages
    it per phone instead)."""
    p50, p95 = np.percentile(_checked(errors), [50.0, 95.0])
    return float((p50 + p95) / 2.0)


@dataclass(frozen=True)
@with_metric_fields(after="count")
class ErrorSummary:
    """The count of per-point errors and their metrics (mean, median, p95, rmse, max, gsdc:
    ``core.metrics``, the fields after ``count``)."""

    count: int

    def as_dict(self) -> dict[str, float | int]:
        return {"count": self.count, **{k: getattr(self, k) for k in METRIC_NAMES}}


def summarize(errors: np.ndarray) -> ErrorSummary:
    """Mean, median, p95, RMSE, max, GSDC score and count of per-point errors (metres)."""
    e = _checked(errors)
    p50, p95 = np.percentile(e, [50.0, 95.0])
    return ErrorSummary(
        count=int(e.size),
        mean=float(e.mean()),
        median=float(p50),
        p95=float(p95),
        rmse=float(np.sqrt(np.mean(e * e))),
        max=float(e.max()),
        gsdc=float((p50 + p95) / 2.0),
    )


Criterion = Callable[[np.ndarray], float]
"""Per-point errors -> a score to minimise."""

CRITERIA: dict[str, Criterion] = {
    "gsdc": gsdc_score,
    "mean": lambda e: float(np.mean(_checked(e))),
    "median": lambda e: float(np.median(_checked(e))),
    "p95": lambda e: float(np.percentile(_checked(e), 95.0)),
    "rmse": lambda e: float(np.sqrt(np.mean(_checked(e) ** 2))),
}


def get_criterion(name_or_fn: str | Criterion) -> Criterion:
    """A criterion by name (one of ``CRITERIA``) or a callable passed through."""
    if callable(name_or_fn):
        return name_or_fn
    try:
        return CRITERIA[name_or_fn]
    except KeyError:
        raise ThetaError(
            f"criterion: unknown {name_or_fn!r}, expected one of {', '.join(CRITERIA)}"
        ) from None


def _checked(errors: np.ndarray) -> np.ndarray:
    e = np.asarray(errors, dtype=np.float64).ravel()
    if e.size == 0:
        raise ThetaError("error summary: no points to summarise")
    # A NaN from a diverging method must be reported as such, not hidden in a percentile.
    if not np.isfinite(e).all():
        raise ThetaError("error summary: non-finite per-point errors")
    return e
