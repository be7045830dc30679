"""Byte-wise error of one checkpoint (``theta eval-bytes``).

Per point, one of two errors, in metres:
    velocity  ‖v̂ − V‖₂ with v̂ = θ(X_t, t) at each sample's own t (the same measure as acc)
    denoise   rebuild X0, X1 from (X_t, V, t), Euler-integrate X1 from t = 1 to 0 in ``steps``
              steps, and take ‖X̂0 − X0‖₂
Per byte (8 consecutive points), the mean over every tested chunk. Beside it, the same means of
the raw noisy error ‖X1 − X0‖₂ = ‖V‖₂ (what the noisy track is off by, and also the velocity
error of a model that predicts zero), so every figure has its baseline next to it. Because every
byte has the same number of points, a region's mean (head buckle = first Q1 bytes, payload, tail
buckle = last Q2 bytes) is the plain mean of its byte means.

The result is appended to ``log/byte_wise_err.csv`` (``layout.byte_csv_header``: the spec's
columns plus ``mode`` after Q2). Appends are serialised by an advisory lock on
``log/.byte_wise_err.csv.lock``: two eval-bytes on one run must not lose each other's row. That
file is the only thing written for the lock (``core.lock``, an OS lock that dies with its process);
the training lock is not taken, because training never writes this CSV and an evaluation should
be possible while a run trains.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from theta_cli import flow
from theta_cli.artifact import checkpoint
from theta_cli.core import csvlog, layout, lock
from theta_cli.core.device import pick_device
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import BYTE, RunLayout
from theta_cli.data import epochfile
from theta_cli.engine.quickval import per_point_error, quick_val_file

if TYPE_CHECKING:
    import torch

    from theta_cli.core.config import RunConfig

MODES = ("velocity", "denoise")
DEFAULT_BATCH = 256
WORST_SHOWN = 3

Model = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]
#: progress(samples_done, samples_total_known_so_far)
Progress = Callable[[int, int], None]


def check_buckles(k: int, q1: int, q2: int) -> None:
    """``layout.check_buckles`` as a bad-input error naming the options."""
    try:
        layout.check_buckles(k, q1, q2)
    except ValueError as e:
        raise ThetaError(f"--q1 {q1} --q2 {q2}: {e}") from None


@dataclass(frozen=True)
class ByteSummary:
    """The regions of a chunk, from per-byte means (bytes are 1-based in ``worst``)."""

    overall: float
    head: float | None  # None when Q1 = 0
    payload: float
    tail: float | None  # None when Q2 = 0
    worst: tuple[tuple[int, float], ...]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def summarize(byte_means: Sequence[float], q1: int, q2: int) -> ByteSummary:
    n = len(byte_means)
    check_buckles(n * BYTE, q1, q2)
    order = sorted(range(n), key=lambda i: byte_means[i], reverse=True)[:WORST_SHOWN]
    return ByteSummary(
        overall=_mean(byte_means),
        head=_mean(byte_means[:q1]) if q1 else None,
        payload=_mean(byte_means[q1 : n - q2]),
        tail=_mean(byte_means[n - q2 :]) if q2 else None,
        worst=tuple((i + 1, float(byte_means[i])) for i in order),
    )


def point_errors(
    model: Model,
    x_t: torch.Tensor,
    v: torch.Tensor,
    t: torch.Tensor,
    mode: str,
    steps: int = flow.DEFAULT_STEPS,
) -> torch.Tensor:
    """Per-point error ``[B, K]`` in metres for one batch (see the module docstring); ``mode``
    was validated with the request."""
    xy = x_t[..., :2]
    if mode == "velocity":
        return per_point_error(model(xy, t), v)
    x0, x1 = flow.recover_endpoints(xy, v, t)
    return (flow.euler_denoise(model, x1, steps) - x0).norm(dim=-1)


Batch = tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]


def data_files(data: Path) -> list[Path]:
    """An epoch file, or every epoch file of a directory (sorted)."""
    if data.is_dir():
        return epochfile.list_files(data)
    if not data.is_file():
        raise ThetaError(f"{data}: data not found (expected an epoch file or a val directory)")
    return [data]


def iter_batches(
    files: Sequence[Path],
    k: int,
    batch_size: int,
    limit: int | None,
    on_file: Callable[[int], None] | None = None,
) -> Iterator[Batch]:
    """CPU batches over ``files`` in order, stopping after ``limit`` samples.

    Files are loaded one at a time (a val split may be large); ``on_file(n)`` reports how many
    samples each loaded file contributes, so a progress bar can grow its total.
    """
    remaining = limit
    for path in files:
        if remaining is not None and remaining <= 0:
            return
        data, info = epochfile.load(path, expect_k=k)
        n = info.n if remaining is None else min(info.n, remaining)
        if on_file is not None:
            on_file(n)
        yield from epochfile.iter_batches(data, batch_size, n)
        if remaining is not None:
            remaining -= n
        del data


class ByteMeans(NamedTuple):
    means: tuple[float, ...]  # the mode's error per byte
    samples: int
    noisy: tuple[float, ...]  # ‖V‖ per byte: the raw noisy track's error


def byte_means_of(
    model: Model,
    batches: Iterator[Batch],
    k: int,
    mode: str,
    steps: int = flow.DEFAULT_STEPS,
    device: str = "cpu",
    progress: Progress | None = None,
    total: Callable[[], int] | None = None,
) -> ByteMeans:
    """Mean error per byte over every sample of ``batches``, with the noisy baseline."""
    import torch

    on_cuda = device.startswith("cuda")
    point_sum = torch.zeros(k, dtype=torch.float64, device=device)
    noisy_sum = torch.zeros(k, dtype=torch.float64, device=device)
    n = 0
    with torch.inference_mode():
        for x_t, v, t in batches:
            if on_cuda:  # pinned host memory lets the copy overlap with the previous batch
                x_t, v, t = (a.pin_memory().to(device, non_blocking=True) for a in (x_t, v, t))
            err = point_errors(model, x_t, v, t, mode, steps)
            # Sum in float64: a val split has millions of points per position.
            point_sum += err.sum(dim=0, dtype=torch.float64)
            noisy_sum += v.norm(dim=-1).sum(dim=0, dtype=torch.float64)
            n += int(x_t.shape[0])
            if progress is not None:
                progress(n, total() if total is not None else n)
    if n == 0:
        raise ThetaError("no samples to evaluate (the data is empty or --limit is 0)")
    per_byte = (point_sum / n).reshape(k // BYTE, BYTE).mean(dim=1)
    if not bool(torch.isfinite(per_byte).all()):
        raise ThetaError("the model produced non-finite errors (NaN/inf weights or outputs?)")
    noisy = (noisy_sum / n).reshape(k // BYTE, BYTE).mean(dim=1)
    return ByteMeans(
        tuple(float(x) for x in per_byte.cpu()), n, tuple(float(x) for x in noisy.cpu())
    )


@dataclass(frozen=True)
class EvalRequest:
    ckpt: Path
    data: Path | None = None  # None: the run's quick_val set (metrics.quick_val_file)
    limit: int | None = None
    q1: int | None = None  # None: the run config's Q1
    q2: int | None = None
    mode: str = "velocity"
    steps: int = flow.DEFAULT_STEPS
    batch_size: int = DEFAULT_BATCH
    cpu: bool = False


@dataclass(frozen=True)
class EvalResult:
    run: RunLayout
    row: csvlog.ByteRow
    summary: ByteSummary
    noisy: tuple[float, ...]  # per-byte mean of the raw noisy error ‖V‖
    samples: int
    data: Path
    device: str
    chart: Path | None = None


def validate_request(req: EvalRequest) -> None:
    if req.mode not in MODES:
        raise ThetaError(f"--mode {req.mode!r}: expected one of {', '.join(MODES)}")
    if req.steps < 1:
        raise ThetaError(f"--steps {req.steps}: must be >= 1")
    if req.batch_size < 1:
        raise ThetaError(f"--batch-size {req.batch_size}: must be >= 1")
    if req.limit is not None and req.limit < 1:
        raise ThetaError(f"--limit {req.limit}: must be >= 1")


@dataclass(frozen=True)
class EvalJob:
    """What ``prepare`` resolved and checked; nothing has been computed or written yet."""

    req: EvalRequest
    run: RunLayout
    model: torch.nn.Module  # on the CPU; the checkpoint's payload is not kept
    cfg: RunConfig
    q1: int
    q2: int
    data: Path
    files: list[Path]


def prepare(req: EvalRequest) -> EvalJob:
    """Every check of an evaluation, reading only: bad input is refused before minutes of
    evaluation and before anything on disk (the CSV's append lock included) changes."""
    validate_request(req)
    run, _, _ = RunLayout.from_ckpt(req.ckpt)
    # A damaged log is reported (file:line) before minutes of evaluation, not after.
    csvlog.read_byte_rows(run)
    payload = checkpoint.load_checkpoint(req.ckpt)
    cfg = checkpoint.stored_config(payload, req.ckpt)
    csvlog.check_byte_header(run, cfg.K)  # a log of another K would refuse the row at the end
    q1 = cfg.Q1 if req.q1 is None else req.q1
    q2 = cfg.Q2 if req.q2 is None else req.q2
    check_buckles(cfg.K, q1, q2)
    if req.data is not None:
        data = Path(req.data)
    else:
        # The same set the run's acc was measured on: its own cached sample, else quick_val_path.
        found = quick_val_file(run, cfg.quick_val_path)
        if found is None:
            raise ThetaError(
                f"{cfg.quick_val_path}: quick-val file (the run config's quick_val_path) not "
                f"found, nor {run.quick_val_path}; pass --data <val dir or epoch file>"
            )
        data = found
    files = data_files(data)
    from theta_cli.artifact import load

    model = load.model_from_payload(payload, cfg, req.ckpt)
    return EvalJob(req, run, model, cfg, q1, q2, data, files)


def evaluate(
    req: EvalRequest | EvalJob,
    progress_factory: Callable[[], contextlib.AbstractContextManager[Progress]] | None = None,
) -> EvalResult:
    """Evaluate one checkpoint: compute byte means, append the CSV row, draw the bar chart."""
    job = req if isinstance(req, EvalJob) else prepare(req)
    r, cfg, model = job.req, job.cfg, job.model
    device = str(pick_device("cpu" if r.cpu else "auto"))
    model.to(device)

    known = [0]

    def grow(n: int) -> None:
        known[0] += n

    batches = iter_batches(job.files, cfg.K, r.batch_size, r.limit, on_file=grow)
    ctx = progress_factory() if progress_factory is not None else contextlib.nullcontext(None)
    with ctx as progress:
        means, n, noisy = byte_means_of(
            model, batches, cfg.K, r.mode, r.steps, device,
            progress=progress, total=lambda: known[0],
        )
    summary = summarize(means, job.q1, job.q2)
    row = csvlog.ByteRow(r.ckpt.name, job.q1, job.q2, r.mode, summary.head, means)
    record(job.run, row)
    from theta_cli.eval.byte_chart import write_byte_chart

    chart = write_byte_chart(job.run, row)
    return EvalResult(job.run, row, summary, noisy, n, job.data, device, chart)


def record(run: RunLayout, row: csvlog.ByteRow) -> None:
    """Append ``row`` to the run's byte_wise_err.csv under the CSV lock."""
    # Two eval-bytes on one run must not lose each other's row: appends wait for each other.
    with lock.log_append(run.byte_csv):
        csvlog.append_byte_row(run, row)
