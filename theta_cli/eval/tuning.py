"""Fair tuning of the classic baselines on VAL tracks: a coarse grid, then one refinement around
its best, minimising a criterion of the pooled per-point errors (default: the GSDC score
(p50 + p95) / 2, so that the median and the tail both count).

Grids (values rounded to 3 significant digits, so the reported parameters are the ones scored):
    rts         q in 1e-3..1e2 m²/s³ (half decades) x r in 1..32 m (octaves)
    robust_rts  the same x gate in 0.9, 0.99, 0.999, 0.9999 (as 1 - p, decades)
    adaptive_rts r in 1..32 m x gate as robust_rts; q is no parameter: the smoother picks it
                per track from ``adaptive.Q_CANDIDATES`` (1e-3..1e2, quarter decades)
    savgol      windows 5..121 SECONDS x order 1..4; the filter runs on an even time grid (1 s,
                or the track's median step when shorter, see ``savgol``), so on 1 Hz tracks a
                window of w seconds is the classic w points, and on sparser or irregular ones
                it still spans w seconds
The refinement evaluates every continuous parameter at the best value and its geometric
half-steps either side (so a best on the grid's edge still gets half a step beyond it), and the
window at the odd geometric midpoints to its grid neighbours with the order at +-1.

The Kalman grids run as parameter batches: each recursion smooths every val track for a slice
of the grid at once (see ``kalman.smooth_padded``), so the Python loop over time steps is paid
once per slice, not once per parameter set.

Tuning tracks and scored tracks must not share an id (an agent): :func:`assert_disjoint`.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from theta_cli.core.errors import ThetaError
from theta_cli.eval.baselines import raw
from theta_cli.eval.savgol import savgol_smooth
from theta_cli.eval.trajectory import Criterion, Track, get_criterion, track_errors
from theta_cli.smooth.adaptive import adaptive_padded
from theta_cli.smooth.kalman import CELL_BUDGET, Padded, gate_threshold, groups, smooth_padded

Q_GRID = tuple(10.0 ** (k / 2) for k in range(-6, 5))  # 1e-3 .. 1e2
R_GRID = tuple(2.0**k for k in range(6))  # 1 .. 32
GATE_TAIL_GRID = (1e-1, 1e-2, 1e-3, 1e-4)  # 1 - gate probability
WINDOW_GRID = (5, 7, 9, 11, 15, 21, 31, 45, 61, 91, 121)  # seconds
ORDER_GRID = (1, 2, 3, 4)

ERROR_BUDGET = 8_000_000
"""Most per-point errors (points x parameter sets) held at once while scoring a grid, 64 MB."""

METHODS = ("raw", "rts", "robust_rts", "adaptive_rts", "savgol")


@dataclass(frozen=True)
class Tuned:
    """The chosen parameters of one method, their criterion score on the tuning tracks, how
    many parameter sets were scored and the seconds the search took."""

    method: str
    params: dict[str, float | int]
    score: float
    criterion: str
    evaluated: int
    seconds: float
    grid: list[tuple[dict[str, float | int], float]] = field(default_factory=list, repr=False)


def tune_all(
    val: Sequence[Track],
    criterion: str | Criterion = "gsdc",
    methods: Sequence[str] = METHODS,
) -> dict[str, Tuned]:
    """Tune every method in ``methods`` on ``val`` (which needs clean truth); "raw" has nothing
    to tune and is scored as is, so a bench can treat all methods alike."""
    tuners: dict[str, Callable[[Sequence[Track], str | Criterion], Tuned]] = {
        "raw": tune_raw,
        "rts": tune_rts,
        "robust_rts": tune_robust_rts,
        "adaptive_rts": tune_adaptive_rts,
        "savgol": tune_savgol,
    }
    unknown = [m for m in methods if m not in tuners]
    if unknown:
        raise ThetaError(f"tuning: unknown methods {unknown}, expected some of {list(tuners)}")
    return {m: tuners[m](val, criterion) for m in methods}


def tune_raw(val: Sequence[Track], criterion: str | Criterion = "gsdc") -> Tuned:
    start = time.perf_counter()
    crit, name = _criterion(criterion)
    score = _score(crit, track_errors(val, raw(_checked(val))))
    return Tuned("raw", {}, score, name, 1, time.perf_counter() - start, [({}, score)])


def tune_rts(val: Sequence[Track], criterion: str | Criterion = "gsdc") -> Tuned:
    """(q, r) of the plain RTS smoother. Its estimate depends almost only on q / r² (the ratio
    sets the gains; r alone acts only through the start's velocity prior), so many grid points
    retrace one ratio: the grid is kept 2-D for the robust search, where r sets the gate."""
    return _tune_kalman("rts", val, criterion, {"q": Q_GRID, "r": R_GRID})


def tune_robust_rts(val: Sequence[Track], criterion: str | Criterion = "gsdc") -> Tuned:
    """(q, r, gate) of the gated RTS smoother; here r matters on its own: it sets the gate."""
    axes = {"q": Q_GRID, "r": R_GRID, "gate_tail": GATE_TAIL_GRID}
    return _tune_kalman("robust_rts", val, criterion, axes)


def tune_adaptive_rts(val: Sequence[Track], criterion: str | Criterion = "gsdc") -> Tuned:
    """(r, gate) of adaptive RTS; q is not tuned but chosen per track by the smoother itself
    (from ``adaptive.Q_CANDIDATES``), so only the noise level and the outlier test are."""
    axes = {"r": R_GRID, "gate_tail": GATE_TAIL_GRID}
    return _tune_kalman("adaptive_rts", val, criterion, axes)


def tune_savgol(val: Sequence[Track], criterion: str | Criterion = "gsdc") -> Tuned:
    start = time.perf_counter()
    crit, name = _criterion(criterion)
    val = _checked(val)
    scored: dict[tuple[int, int], float] = {}

    def run(pairs: Iterable[tuple[int, int]]) -> None:
        for w, o in pairs:
            if (w, o) not in scored and 0 <= o < w:
                scored[(w, o)] = _score(crit, track_errors(val, savgol_smooth(val, w, o)))

    run(itertools.product(WINDOW_GRID, ORDER_GRID))
    w, o = min(scored, key=scored.__getitem__)
    i = WINDOW_GRID.index(w)
    near = [w]
    if i > 0:
        near.append(_odd(math.sqrt(WINDOW_GRID[i - 1] * w)))
    if i + 1 < len(WINDOW_GRID):
        near.append(_odd(math.sqrt(WINDOW_GRID[i + 1] * w)))
    run(itertools.product(near, (o - 1, o, o + 1)))
    (w, o), score = min(scored.items(), key=lambda kv: kv[1])
    grid = [({"window": a, "order": b}, s) for (a, b), s in scored.items()]
    seconds = time.perf_counter() - start
    return Tuned("savgol", {"window": w, "order": o}, score, name, len(scored), seconds, grid)


def assert_disjoint(
    tuned_on: Iterable[Track | str],
    scored: Iterable[Track | str],
    key: Callable[[str], str] | None = None,
) -> None:
    """Raise ThetaError when a track (or id) used for tuning is also scored. ``key`` maps an id
    to what must not be shared, e.g. the agent of a segment id such as ``"agent7/2"``."""
    key = key or (lambda s: s)
    a = {key(x.id if isinstance(x, Track) else x) for x in tuned_on}
    b = {key(x.id if isinstance(x, Track) else x) for x in scored}
    both = sorted(a & b)
    if both:
        shown = ", ".join(both[:5]) + (", ..." if len(both) > 5 else "")
        raise ThetaError(
            f"tuning: {len(both)} ids are both tuned on and scored ({shown}); "
            "tune on val and score on test"
        )


def _tune_kalman(
    method: str,
    val: Sequence[Track],
    criterion: str | Criterion,
    axes: dict[str, Sequence[float]],
) -> Tuned:
    start = time.perf_counter()
    crit, name = _criterion(criterion)
    val = _checked(val)
    names = list(axes)
    scored: dict[tuple[float, ...], float] = {}

    smoother = _adaptive_sets if method == "adaptive_rts" else _kalman_sets

    def run(sets: Iterable[tuple[float, ...]]) -> None:
        todo = sorted({tuple(_sig3(v) for v in s) for s in sets} - scored.keys())
        if todo:
            scores = _kalman_scores(val, np.array(todo), crit, smoother)
            scored.update(zip(todo, scores, strict=True))

    run(itertools.product(*axes.values()))
    best = min(scored, key=scored.__getitem__)
    # Half a (geometric) grid step either side of the best, per axis.
    steps = [math.sqrt(max(g[1] / g[0], g[0] / g[1])) for g in axes.values()]
    run(itertools.product(*[(v / h, v, v * h) for v, h in zip(best, steps, strict=True)]))
    best, score = min(scored.items(), key=lambda kv: kv[1])

    def params(s: tuple[float, ...]) -> dict[str, float | int]:
        p = dict(zip(names, s, strict=True))
        if "gate_tail" in p:
            p["gate"] = 1.0 - p.pop("gate_tail")
        return p

    grid = [(params(s), v) for s, v in scored.items()]
    seconds = time.perf_counter() - start
    return Tuned(method, params(best), score, name, len(scored), seconds, grid)


def _kalman_sets(batch: Padded, sets: np.ndarray) -> np.ndarray:
    """Positions [T, 2, P, B] of (robust) RTS for parameter rows (q, r) or (q, r, gate_tail)."""
    gate = gate_threshold(1.0 - sets[:, 2:3]) if sets.shape[1] == 3 else None
    return smooth_padded(batch, sets[:, 0:1], sets[:, 1:2], gate).pos


def _adaptive_sets(batch: Padded, sets: np.ndarray) -> np.ndarray:
    """Positions [T, 2, P, B] of adaptive RTS for parameter rows (r, gate_tail)."""
    return adaptive_padded(batch, sets[:, 0:1], gate_threshold(1.0 - sets[:, 1:2])).pos


def _kalman_scores(
    val: Sequence[Track],
    sets: np.ndarray,
    crit: Criterion,
    smoother: Callable[[Padded, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Criterion of each parameter set (a row of ``sets``, as ``smoother`` takes them) on all
    ``val``.

    Parameter sets go in blocks whose pooled errors fit ERROR_BUDGET; within a block each
    length group of tracks runs as many sets per recursion as CELL_BUDGET allows, so short
    groups take a whole block at once and the per-step Python cost is paid as few times as
    memory permits.
    """
    batches = []
    for idx in groups([len(tr) for tr in val]):
        sub = [val[i] for i in idx]
        batch = Padded.of(sub)
        clean = np.zeros_like(batch.z)
        for j, tr in enumerate(sub):
            clean[: len(tr), :, j] = tr.clean
        batches.append((batch, clean))
    n_points = sum(len(tr) for tr in val)
    block = max(1, ERROR_BUDGET // n_points)
    out = np.empty(len(sets))
    for lo in range(0, len(sets), block):
        chunk = sets[lo : lo + block]
        pooled = np.empty((len(chunk), n_points))  # [P, points]
        col = 0
        for batch, clean in batches:
            per_run = max(1, CELL_BUDGET // batch.mask.size)  # parameter sets per recursion
            n = int(batch.lengths.sum())
            for at in range(0, len(chunk), per_run):
                run = chunk[at : at + per_run]
                d = smoother(batch, run) - clean[:, :, None]
                e = np.hypot(d[:, 0], d[:, 1])  # [T, P, B]
                pooled[at : at + len(run), col : col + n] = np.moveaxis(e, 1, 0)[:, batch.mask]
            col += n
        out[lo : lo + len(chunk)] = [_score(crit, row) for row in pooled]
    return out


def _score(crit: Criterion, errors: np.ndarray) -> float:
    # A diverging parameter set loses; it must not abort the search.
    return float(crit(errors)) if np.isfinite(errors).all() else math.inf


def _criterion(c: str | Criterion) -> tuple[Criterion, str]:
    return get_criterion(c), c if isinstance(c, str) else getattr(c, "__name__", "custom")


def _checked(val: Sequence[Track]) -> Sequence[Track]:
    if not val or sum(len(tr) for tr in val) == 0:
        raise ThetaError("tuning: no val points to tune on")
    missing = [tr.id for tr in val if tr.clean is None]
    if missing:
        raise ThetaError(f"tuning: val track {missing[0]} has no clean truth")
    return val


def _sig3(x: float) -> float:
    return float(f"{x:.3g}")


def _odd(x: float) -> int:
    n = int(round(x))
    return n if n % 2 else n + 1
