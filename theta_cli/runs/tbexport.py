"""`theta tb export`: TensorBoard event files drawn from a run's CSVs, for any run.

A run trained without ``tensorboard: true`` (or before theta had it) has everything TensorBoard
would show in its CSVs; this writes it as event files:

    train_data.csv      checkpoint/<column> at each checkpoint's global step, the same tags and
                        steps as live logging (``engine.tboard.row_scalars``)
    byte_wise_err.csv   eval_bytes/<mode>_q<Q1>_q<Q2>/{mean,worst_byte}: the error over all
                        bytes and at the worst byte, m, at the evaluated checkpoint's step
    bench.csv           bench/<data>/steps<N>/<metric> at the benchmarked checkpoint's step
    log/config.json     the config as text and hparams, at step 0

Where: ``<run>/tb/export/`` by default, holding the run's lock (so it is refused while the run
trains: one writer per run), so ``tensorboard --logdir models`` shows every run; or
``<out>/<run>/`` with ``--out``, which writes nothing in the run and needs no lock. Each export
replaces the previous one's event files there, so exporting twice never doubles a curve.
Rows of a checkpoint with no train_data.csv row (set aside by a resume) have no step: skipped.
"""

from __future__ import annotations

import math
import re
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from theta_cli.core import csvlog, lock, logs
from theta_cli.core.config import load_run_config
from theta_cli.core.layout import RunLayout
from theta_cli.core.metrics import METRIC_NAMES
from theta_cli.engine import tboard
from theta_cli.runs.compare import global_steps

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

log = logs.get_logger()

#: The export's directory under the run's tb/ (the live writer's files sit in tb/ itself).
EXPORT_DIR = "export"
#: bench.csv columns drawn, besides the error metrics (m).
BENCH_EXTRA = ("median_gain_pct", "p95_gain_pct", "points_per_s")
_EVENTS_PREFIX = "events.out.tfevents."
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Exported:
    run: RunLayout
    out: Path
    scalars: int  # values written
    skipped: int  # eval/bench rows of checkpoints with no train_data.csv row


def export_dir(run: RunLayout, out_root: Path | None) -> Path:
    return run.tb_dir / EXPORT_DIR if out_root is None else out_root / run.name


def export_run(run: RunLayout, out_root: Path | None = None) -> Exported:
    """Write the run's event files (see the module doc for where, and the lock)."""
    tboard.require()
    target = export_dir(run, out_root)
    if out_root is not None:
        return _write(run, target)
    with lock.hold_run(run, "theta tb export"):
        return _write(run, target)


def _write(run: RunLayout, target: Path) -> Exported:
    rows = csvlog.read_train_rows(run)
    step_of = dict(zip((r.ckpt_name for r in rows), global_steps(rows), strict=True))
    scalars: list[tuple[str, float, int]] = []
    for row in rows:
        scalars += [(tag, v, step_of[row.ckpt_name]) for tag, v in tboard.row_scalars(row).items()]
    byte_scalars, skipped_b = _byte_scalars(run, step_of)
    bench_scalars, skipped_c = _bench_scalars(run, step_of)
    scalars += byte_scalars + bench_scalars
    config = load_run_config(run.config_path).train_config().model_dump()
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob(_EVENTS_PREFIX + "*"):  # the previous export: replaced, not doubled
        old.unlink()
    writer = tboard.open_writer(target)
    try:
        _emit(writer, config, scalars)
    finally:
        writer.close()
    return Exported(run, target, len(scalars), skipped_b + skipped_c)


def _emit(writer: SummaryWriter, config: dict[str, object], scalars: list[tuple[str, float, int]]
          ) -> None:  # fmt: skip
    tboard.write_config(writer, config, 0)
    for tag, value, step in scalars:
        writer.add_scalar(tag, value, step)


def _tag_part(text: str) -> str:
    """A data set name (often a path) as one piece of a tag."""
    return _UNSAFE.sub("_", Path(text).name or text).strip("_") or "data"


def _byte_scalars(
    run: RunLayout, step_of: dict[str, int]
) -> tuple[list[tuple[str, float, int]], int]:
    """The latest row per (checkpoint, mode, Q1, Q2): a re-evaluation replaces the earlier."""
    latest: dict[tuple[str, str, int, int], csvlog.ByteRow] = {}
    for r in csvlog.read_byte_rows(run):
        latest[(r.ckpt_name, r.mode, r.q1, r.q2)] = r
    out: list[tuple[str, float, int]] = []
    skipped = 0
    for (name, mode, q1, q2), r in latest.items():
        finite = [v for v in r.byte_means if math.isfinite(v)]
        if name not in step_of or not finite:
            skipped += 1
            continue
        base = f"eval_bytes/{_tag_part(mode)}_q{q1}_q{q2}/"
        out.append((base + "mean", math.fsum(finite) / len(finite), step_of[name]))
        out.append((base + "worst_byte", max(finite), step_of[name]))
    return out, skipped


def _bench_scalars(
    run: RunLayout, step_of: dict[str, int]
) -> tuple[list[tuple[str, float, int]], int]:
    """The latest row per (checkpoint, data, Euler steps); non-finite values are left out."""
    latest: dict[tuple[str, str, int], csvlog.BenchRow] = {}
    for r in csvlog.read_bench_rows(run):
        latest[(r.ckpt_name, r.data, r.steps)] = r
    names = (*METRIC_NAMES, *BENCH_EXTRA)
    out: list[tuple[str, float, int]] = []
    skipped = 0
    for (name, data, steps), r in latest.items():
        if name not in step_of:
            skipped += 1
            continue
        values = dict(zip((f.name for f in fields(r)), astuple(r), strict=True))
        base = f"bench/{_tag_part(data)}/steps{steps}/"
        out += [
            (base + m, float(values[m]), step_of[name])
            for m in names
            if math.isfinite(float(values[m]))
        ]
    return out, skipped
